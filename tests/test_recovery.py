"""Parameter recovery on simulated data with known truth (slow: each fit takes ~1 minute).

For every family and person-effects option, a panel is simulated with fixed seeds, the
model is fitted, and the stage-specific a, b and c paths are compared with the truth
converted to the model's scale (``Simulation.true_paths_on_model_scale``).

Tolerances, and why: with 15-33 path parameters per fit, demanding that *every* 90%
interval covers would fail by chance most of the time even for a perfect model
(0.9 ** 30 = 0.04). So each fit must have (i) every posterior mean within 3.5 posterior
SDs of the truth (probability 0.05% per parameter for a calibrated posterior), (ii) no
more means beyond 2 posterior SDs, and (iii) no more 90% intervals missing the truth,
than the 99th percentile of the binomial count a calibrated posterior would produce
(p = 0.0455 and p = 0.10 per parameter). Every fit must also pass the convergence checks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

import carepaths
from carepaths import MediationModel, Spec

pytestmark = pytest.mark.slow


def _spec(**over) -> Spec:
    base = {
        "stages": ["crisis", "recovery", "maintenance"],
        "columns": {"person": "id", "wave": "wave", "stage": "stage"},
        "exposure": {"name": "support"},
        "mediators": [
            {"name": "encouragement", "family": "normal"},
            {"name": "discouragement", "family": "normal"},
        ],
        "outcome": {"name": "care_use", "family": "bernoulli"},
        "confounders": [{"name": "severity"}],
        "structure": {"pool_stages": False, "person_effects": "intercepts"},
    }
    base.update(over)
    return Spec.from_dict(base)


def _fit(spec: Spec, n_persons: int, n_waves: int, seed: int, params=None, draws: int = 1500):
    sim = carepaths.simulate(spec, n_persons, n_waves, params=params, seed=seed, mc_persons=200)
    panel = sim.panel()
    with warnings.catch_warnings():
        warnings.simplefilter("error", carepaths.ConvergenceWarning)
        fit = MediationModel(spec, panel).fit(draws=draws, tune=1000, chains=2, seed=seed)
    return fit, sim.true_paths_on_model_scale(panel)


def _check_paths(fit, truth, names=("a", "b", "c")) -> None:
    post = fit.posterior["posterior"]
    z, covered = [], []
    for name in names:
        draws = post[name]
        mean, sd = draws.mean(("chain", "draw")), draws.std(("chain", "draw"))
        lo, hi = draws.quantile(0.05, ("chain", "draw")), draws.quantile(0.95, ("chain", "draw"))
        t = truth[name].transpose(*mean.dims)
        z.append(np.ravel(((mean - t) / sd).values))
        covered.append(np.ravel(((lo <= t) & (t <= hi)).values))
    z, covered = np.concatenate(z), np.concatenate(covered)
    n = len(z)
    allowed_2sd = int(stats.binom.ppf(0.99, n, 0.0455))
    allowed_miss = int(stats.binom.ppf(0.99, n, 0.10))
    assert np.all(np.abs(z) <= 3.5), f"a posterior mean is > 3.5 SD from the truth: z = {np.round(z, 2)}"
    assert np.sum(np.abs(z) > 2) <= allowed_2sd, f"> {allowed_2sd} of {n} means beyond 2 SD: z = {np.round(z, 2)}"
    assert np.sum(~covered) <= allowed_miss, f"> {allowed_miss} of {n} 90% intervals miss the truth"


def test_recovery_default_five_mechanisms_bernoulli():
    spec = carepaths.load_spec("five_mechanisms")
    fit, truth = _fit(spec, 400, 4, seed=101)
    assert fit.converged
    _check_paths(fit, truth)


def test_recovery_normal_outcome():
    fit, truth = _fit(_spec(outcome={"name": "wellbeing", "family": "normal"}), 200, 4, seed=102)
    _check_paths(fit, truth)


def test_recovery_negative_binomial_outcome():
    fit, truth = _fit(_spec(outcome={"name": "visits", "family": "negative_binomial"}), 300, 4, seed=103)
    _check_paths(fit, truth)
    phi = fit.posterior["posterior"]["phi"]
    assert abs(float(phi.mean()) - 1.5) <= 3 * float(phi.std())


def test_recovery_binary_and_ordinal_mediators():
    spec = _spec(
        mediators=[
            {"name": "encouragement", "family": "bernoulli"},
            {"name": "discouragement", "family": "ordinal", "categories": [1, 2, 3, 4]},
        ]
    )
    # 2000 draws: with the cutpoints' prior the table's Normal(0, 1.5) (issue 12), 1500 draws
    # at this seed gave max R-hat 1.0107 on sd_u[encouragement] (ESS 468), a chance miss of
    # the 1.01 threshold (sampler seed 105 on the same data passes); 2000 draws give 1.0067
    fit, truth = _fit(spec, 400, 4, seed=104, draws=2000)
    _check_paths(fit, truth)


def test_recovery_random_slopes_and_their_covariance():
    """Correlated person slopes (bmlm-style: many waves, one mediator, no stages).

    The indirect effect gains cov(a_i, b_i); its true value must lie in the 90% interval.
    """
    spec = Spec.from_dict(
        {
            "columns": {"person": "id", "wave": "day"},
            "exposure": {"name": "stress"},
            "mediators": [{"name": "dissatisfaction", "family": "normal"}],
            "outcome": {"name": "conflict", "family": "normal"},
            "structure": {"person_effects": "slopes"},
        }
    )
    corr = np.eye(3)
    corr[0, 1] = corr[1, 0] = 0.5
    params = {"sd_slope": [0.4, 0.4, 0.2], "corr_slope": corr}
    fit, truth = _fit(spec, 80, 15, seed=105, params=params)
    _check_paths(fit, truth)
    cov_ab = fit.parameters().person["cov_slope"][:, 0, 1]  # (sample,): through the one translator
    lo, hi = (float(q) for q in np.quantile(cov_ab, [0.05, 0.95]))
    true_cov = float(truth["cov_slope"].values[0, 1])
    assert lo <= true_cov <= hi, (lo, true_cov, hi)


def test_recovery_within_between_split():
    """Centred exposure: within-person paths a, c and person-mean paths a_between, c_between.

    The simulator's default between-person paths are the stage-average within-person
    ones (no contextual effect); ``true_paths_on_model_scale`` converts both.
    """
    spec = Spec.from_dict(
        {
            "columns": {"person": "id", "wave": "wave"},
            "exposure": {"name": "support"},
            "mediators": [
                {"name": "encouragement", "family": "normal"},
                {"name": "discouragement", "family": "normal"},
            ],
            "outcome": {"name": "wellbeing", "family": "normal"},
            "confounders": [{"name": "severity"}],
            "structure": {"person_effects": "intercepts", "center_exposure_within_person": True},
        }
    )
    fit, truth = _fit(spec, 300, 4, seed=106)
    _check_paths(fit, truth, names=("a", "b", "c", "a_between", "c_between"))
