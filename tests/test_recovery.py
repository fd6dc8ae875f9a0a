"""Parameter recovery on simulated data with known truth (slow: each fit takes ~1 minute).

For every family and person-effects option, a panel is simulated with fixed seeds, the
model is fitted, and the stage-specific a, b and c paths are compared with the truth
converted to the model's scale (``Simulation.true_paths_on_model_scale``).

Tolerances, and why: with ~30 path parameters per fit, demanding that *every* 90%
interval covers would fail by chance about 96% of the time even for a perfect model
(0.9 ** 30 = 0.04). So each fit must have (i) every posterior mean within 3 posterior
SDs of the truth (a miss that large has probability 0.3% per parameter), (ii) at least
90% of the means within 2 posterior SDs (95% expected), and (iii) at least 80% of the
90% central intervals covering the truth (90% expected). Fits must converge.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

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


def _fit(spec: Spec, n_persons: int, n_waves: int, seed: int, params=None, draws: int = 500):
    sim = carepaths.simulate(spec, n_persons, n_waves, params=params, seed=seed, mc_persons=200)
    panel = sim.panel()
    with warnings.catch_warnings():
        warnings.simplefilter("error", carepaths.ConvergenceWarning)
        fit = MediationModel(spec, panel).fit(draws=draws, tune=draws, chains=2, seed=seed)
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
    assert np.all(np.abs(z) <= 3), f"a posterior mean is > 3 SD from the truth: z = {np.round(z, 2)}"
    assert np.mean(np.abs(z) <= 2) >= 0.9, f"too many means > 2 SD off: z = {np.round(z, 2)}"
    assert covered.mean() >= 0.8, f"90% intervals cover only {covered.mean():.0%} of the truths"


def test_recovery_default_five_mechanisms_bernoulli():
    spec = carepaths.load_spec("five_mechanisms")
    fit, truth = _fit(spec, 600, 4, seed=101)
    assert fit.converged
    _check_paths(fit, truth)


def test_recovery_normal_outcome():
    fit, truth = _fit(_spec(outcome={"name": "wellbeing", "family": "normal"}), 300, 4, seed=102)
    _check_paths(fit, truth)


def test_recovery_negative_binomial_outcome():
    fit, truth = _fit(_spec(outcome={"name": "visits", "family": "negative_binomial"}), 400, 4, seed=103)
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
    fit, truth = _fit(spec, 600, 4, seed=104)
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
    fit, truth = _fit(spec, 100, 20, seed=105, params=params)
    _check_paths(fit, truth)
    post = fit.posterior["posterior"]
    cov_ab = post["chol_slope_corr"][..., 0, 1] * post["chol_slope_stds"][..., 0] * post["chol_slope_stds"][..., 1]
    lo, hi = (float(q) for q in cov_ab.quantile([0.05, 0.95]))
    true_cov = float(truth["cov_slope"].values[0, 1])
    assert lo <= true_cov <= hi, (lo, true_cov, hi)
