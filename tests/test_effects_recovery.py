"""Effects and interventions recover the simulator's true values (slow: one ~2-minute fit).

The default five-mechanism scenario (the support paradox) is simulated with 2,000
persons x 4 waves and fitted with the package defaults. The truth is the simulator's
population effects (computed by the same g-computation code on a large Monte Carlo
population with the true parameters).

Tolerances, and why: the 12 per-stage TE, NDE and NIE and the 16 intervention effects are
strongly correlated (they share parameters), so demanding that every 90% interval covers
would fail by chance for a calibrated posterior (0.9 ** 12 = 0.28 if independent). Each
set must have (i) every posterior mean within 3.5 posterior SDs of the truth, and (ii) no
more 90% intervals missing the truth than the 99th percentile of the binomial count a
calibrated posterior would give (p = 0.10 per interval). The truth's Monte Carlo SE
(about 0.0003) is under 5% of the posterior SDs (about 0.008), so it is ignored; so is
the small difference between the simulator's population and the observed rows the
posterior effects average over. The paradox must be recovered as stated in issue 4:
P(TE_crisis > 0) > 0.9 and P(TE_recovery < 0) > 0.9.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import carepaths
from carepaths import MediationModel
from carepaths.counterfactual.interventions import worked_examples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def paradox():
    spec = carepaths.load_spec()
    sim = carepaths.simulate(spec, 2000, 4, seed=20261126, mc_persons=20_000)
    fit = MediationModel(spec, sim.panel()).fit(draws=1000, tune=1000, chains=2, seed=20261126)
    assert fit.converged, fit.diagnostics()
    return sim, fit


def _check(estimates: np.ndarray, sds: np.ndarray, lower: np.ndarray, upper: np.ndarray, truth: np.ndarray) -> None:
    z = np.abs(estimates - truth) / sds
    assert z.max() < 3.5, f"a posterior mean is {z.max():.1f} posterior SDs from the truth"
    misses = int(np.sum((truth < lower) | (truth > upper)))
    allowed = int(stats.binom.ppf(0.99, len(truth), 0.10))
    assert misses <= allowed, f"{misses} of {len(truth)} 90% intervals miss the truth (allowed {allowed})"


def _interval90(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.quantile(draws, 0.05, axis=0), np.quantile(draws, 0.95, axis=0)


def test_per_stage_effects_cover_the_truth_and_recover_the_paradox(paradox):
    sim, fit = paradox
    eff = fit.effects()
    stages = ["crisis", "recovery", "maintenance"]
    est, sd, lo, hi, truth = [], [], [], [], []
    for name in ("TE", "NDE", "NIE"):
        draws = eff.draws[name].sel(stage=stages).values.reshape(-1, 3)
        low, high = _interval90(draws)
        est.append(draws.mean(0))
        sd.append(draws.std(0, ddof=1))
        lo.append(low)
        hi.append(high)
        truth.append(sim.effects[name].sel(stage=stages).values)
    _check(*(np.concatenate(v) for v in (est, sd, lo, hi, truth)))
    assert eff.probability("TE", "crisis", direction=">") > 0.9
    assert eff.probability("TE", "recovery", direction="<") > 0.9
    # the per-mechanism effects: the crisis effect runs mainly through encouragement
    iie = eff.draws["IIE"].sel(stage="crisis").mean(("chain", "draw"))
    assert str(iie.idxmax("mechanism").values) == "encouragement"


def test_intervention_effects_cover_the_truth(paradox):
    """Every intervention effect within 3.5 posterior SDs; the pooled effects' 90% intervals cover.

    The 15 stage-level intervention effects are far from independent (the family
    psychoeducation, stage and combination rows share the same b paths), so misses come in
    clusters and a binomial count over all of them would not be a valid tolerance. The
    coverage rule is therefore applied to the pre-specified headline numbers, one per
    intervention: the pooled effect of each of the four worked examples (allowed misses:
    the 99th percentile of Binomial(4, 0.10), i.e. 2).
    """
    sim, fit = paradox
    ivs = worked_examples(fit.spec)
    cmp = fit.compare(ivs)
    truth = sim.true_intervention_effects(ivs, mc_persons=20_000)
    z = []
    for (name, stage), row in truth.iterrows():
        draws = cmp.draws["difference"].sel(intervention=name, stage=stage).values.ravel()
        if row["true"] == 0.0:  # family psychoeducation in crisis: exactly 0 in both
            assert np.all(draws == 0.0)
            continue
        z.append(abs(draws.mean() - row["true"]) / draws.std(ddof=1))
    assert max(z) < 3.5, f"an intervention effect is {max(z):.1f} posterior SDs from the truth"
    pooled = truth.xs("pooled", level="stage")
    draws = np.stack([cmp.draws["difference"].sel(intervention=n, stage="pooled").values.ravel() for n in pooled.index], 1)
    low, high = _interval90(draws)
    misses = int(np.sum((pooled["true"].values < low) | (pooled["true"].values > high)))
    assert misses <= int(stats.binom.ppf(0.99, 4, 0.10)), f"{misses} of 4 pooled 90% intervals miss the truth"
