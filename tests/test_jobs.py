"""Agreement with published analyses of the JOBS II trial (``../shared/data/jobs.md``).

Three published analyses of the same 899 persons (a job-search workshop ``treat`` ->
job-search self-efficacy ``job_seek`` -> depressive symptoms ``depress2`` or re-employment
``work1``) are refitted with carepaths and compared, effect by effect:

1. full covariates, linear mediator and outcome: R ``mediation::mediate``, 1,000
   quasi-Bayesian simulations (point values are the means of the simulations);
2. reduced covariates (``econ_hard + sex + age``): brms with default priors, posterior
   medians and 95% equal-tailed intervals, rounded to 3 decimals;
3. binary outcome ``work1`` with a probit link, mediator as in 1: refitted twice, with the
   published probit link (``link = "probit"``, compared directly) and with carepaths'
   default logit (compared through average risk differences).

The published names map onto carepaths' effects as ACME = NIE, ADE = NDE, total = TE,
for the contrast treat 0 -> 1, averaged over the 899 observed covariate rows
(``population="marginal"``: no person effects here, so only the mediator noise is
integrated, with the same draw in both exposure worlds, as ``mediate`` does).

Priors. All three published analyses are flat-prior analyses on the regression
coefficients (``mediate`` simulates from the sampling distribution of the maximum-
likelihood estimates; brms' default prior on coefficients is flat). carepaths' default
priors are weakly informative per SD (``Normal(0, 0.5)`` on a, b, c, the confounder
effects; per unit of a binary exposure on the log-odds scale for a binary outcome), and
with 899 rows they pull the effects towards 0 by measurable amounts (see
``docs/validation.md``: up to 4% for the linear effects, about 10% for the direct and
total effects on ``work1``, whose log-odds coefficient has a standard error of 0.16, not
negligible against the prior's 0.5). Comparing like with like, these tests fit with
``Normal(0, 10)`` on every regression coefficient and intercept (``FLAT``). The largest
posterior SD of any coefficient on the model scale is 0.67 (widowed, 19 persons, on the
log-odds scale of ``work1``) and those of the a, b and c paths are 0.03-0.16, so the
remaining shrinkage, (SD / 10)^2, is under 0.5% for any coefficient and under 0.03% for
the paths. The residual SDs keep their default ``HalfNormal(1)`` on the standardised
scale, where they are 0.95 (``job_seek``) and 0.88 (``depress2``) and well identified by
899 rows (brms' own default is a half-t(3, 0, 2.5)). The default-prior numbers are in
the validation page.

Monte Carlo. 2 chains x 5,000 draws after 1,000 tuning steps: the Monte Carlo error of a
posterior mean (posterior SD / sqrt(ESS), ESS 4,000-9,000) is 0.0004-0.0007 for the
direct and total effects and 0.0002 or less for the indirect effect, a quarter or less of
every tolerance below. The full-covariate analysis takes 2 x 10,000 draws (MCSE 0.0003):
its published ADE and total already sit 0.0019 from the exact values (below), which
leaves 0.0011 of the 0.003 for our Monte Carlo error; at 0.0003 that is over 3 MCSE.
Each fit must pass every convergence check (``fit.converged``; a ``ConvergenceWarning``
is an error here). Seeds are fixed.

Tolerances (each also stated at its assertion):

* Full covariates, means within 0.003 of the published values (the issue's
  requirement). The published values carry their own simulation error, posterior SD /
  sqrt(1000) = 0.0003 (ACME) and 0.0013 (ADE, total), and indeed sit 0.0019 from the
  exact OLS values for ADE and total; with our 0.0003, 0.003 is about 2 combined
  standard errors from the published value. The sharper check is against the exact
  closed-form OLS values (``jobs.md``): with flat coefficient priors and a normal
  likelihood the posterior of each coefficient is centred exactly on OLS (given sigma it
  is normal around OLS, whatever sigma's prior), and the mediator and outcome models
  share no parameters, so E[a b] = E[a] E[b] = the OLS product. The posterior mean must
  therefore equal the closed form up to Monte Carlo error: within 4 MCSE.
* Interval widths within 15% (the issue's requirement). The 2.5% and 97.5% quantiles of
  1,000 simulations have a standard error of about 0.085 SD each, so a published width
  (3.92 SD) has a relative standard error of about 3%; 15% is about 4.5 of those plus ours.
* Reduced covariates, medians within 0.003 of brms: brms' numbers are rounded to 3
  decimals (up to 0.0005 off), and brms' default 4 x 1,000 draws give its medians a
  Monte Carlo error of about 1.25 SD / sqrt(ESS) = 0.001 (ADE, total); ours is 0.0008.
  0.0005 + 2 x sqrt(0.001^2 + 0.0008^2) is about 0.003.
* The binary outcome: see :func:`test_binary_work1_outcome` (logit) and
  :func:`test_binary_work1_probit_outcome` (probit).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import pytest

import carepaths
from carepaths import DataError, MediationModel, Panel, Prior, Spec
from conftest import SHARED_DATA

pytestmark = pytest.mark.slow

JOBS_CSV = SHARED_DATA / "jobs.csv"
DRAWS, TUNE, CHAINS = 5000, 1000, 2
FULL_DRAWS = 10000  # the full-covariate analysis (module docstring: Monte Carlo)

# every regression coefficient and intercept effectively flat (see the module docstring)
FLAT = {
    name: Prior("Normal", mu=0.0, sigma=10.0)
    for name in ("alpha_m", "a", "b", "c", "beta0", "gamma_m", "delta")
}

# work1 is written as labels in the file; a bernoulli outcome must be 0/1 (the Panel
# refuses text and never coerces), so it is mapped here, explicitly and completely
WORK1 = {"psyemp": 1, "psyump": 0}  # 1 = employed

REDUCED = ("econ_hard", "sex", "age")

# published values (jobs.md)
MEDIATE_FULL = {  # mediate, 1,000 quasi-Bayesian simulations: mean [95% CI]
    "NIE": (-0.01375, -0.0318, 0.0033),
    "NDE": (-0.03873, -0.1194, 0.0467),
    "TE": (-0.05247, -0.1343, 0.0315),
}
OLS_FULL = {"NIE": -0.013733, "NDE": -0.036789, "TE": -0.050522}
BRMS_REDUCED = {  # brms default priors: median [95% ETI], rounded to 3 decimals
    "NIE": (-0.015, -0.041, 0.008),
    "NDE": (-0.040, -0.124, 0.046),
    "TE": (-0.055, -0.145, 0.034),
}
BRMS_B = (-0.240, -0.294, -0.185)  # b path, per unit job_seek on depress2
OLS_REDUCED = {"NIE": -0.015745, "NDE": -0.040265, "TE": -0.056009}
MEDIATE_WORK1 = {  # mediate, probit outcome: average over treatment arms, mean [95% CI]
    "NIE": (0.003414, -0.0010, 0.0103),
    "NDE": (0.05526, -0.0065, 0.1139),
    "TE": (0.05867, -0.0038, 0.1171),
}
# The same probit analysis computed on this file (tests/jobs_reference.py, 100,000 draws):
# the exact flat-prior posterior mean of carepaths' estimands (NIE = ACME under treatment,
# NDE = ADE under control, TE), by importance weights on the MLEs' asymptotic normal
# (weights' ESS 92,700; Monte Carlo SE 0.00001 for NIE, 0.0001 for NDE and TE)
POSTERIOR_WORK1_PROBIT = {"NIE": 0.003611, "NDE": 0.056450, "TE": 0.060061}
REFERENCE_MCSE = {"NIE": 0.00001, "NDE": 0.0001, "TE": 0.0001}

NAMES = {"NIE": "ACME", "NDE": "ADE", "TE": "total"}


# ------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Summary:
    """Posterior summary of one effect (pooled over the 899 rows)."""

    mean: float
    median: float
    lower: float
    upper: float
    mcse_mean: float
    mcse_median: float

    @property
    def width(self) -> float:
        return self.upper - self.lower

    def __str__(self) -> str:
        return (
            f"mean {self.mean:.5f} median {self.median:.5f} [{self.lower:.4f}, {self.upper:.4f}] "
            f"width {self.width:.4f} (MCSE of the mean {self.mcse_mean:.5f})"
        )


def _summary(draws: np.ndarray) -> Summary:
    """draws: (chain, draw)."""
    from carepaths.intervals import interval_bounds

    flat = draws.reshape(-1)
    lower, upper = interval_bounds(flat)  # the package's interval: 95% equal-tailed
    return Summary(
        mean=float(flat.mean()), median=float(np.median(flat)), lower=float(lower), upper=float(upper),
        mcse_mean=float(az.mcse(draws)), mcse_median=float(az.mcse(draws, method="median")),
    )


@dataclass
class Analysis:
    fit: object
    effects: dict[str, Summary]
    seconds: float


def _spec(outcome: dict | None = None, confounders: tuple[str, ...] | None = None) -> Spec:
    """The shipped single_mediator spec, with another outcome or fewer confounders."""
    d = copy.deepcopy(carepaths.load_spec("single_mediator").to_dict())
    if outcome is not None:
        d["outcome"] = outcome
    if confounders is not None:
        d["confounders"] = [c for c in d["confounders"] if c["name"] in confounders]
        assert [c["name"] for c in d["confounders"]] == list(confounders)
    return Spec.from_dict(d)


def _analyse(spec: Spec, frame: pd.DataFrame, seed: int, draws: int = DRAWS) -> Analysis:
    import time

    t0 = time.perf_counter()
    panel = Panel.from_frame(frame, spec)
    assert panel.n_obs == 899
    with warnings.catch_warnings():
        warnings.simplefilter("error", carepaths.ConvergenceWarning)
        fit = MediationModel(spec, panel, priors=FLAT).fit(draws=draws, tune=TUNE, chains=CHAINS, seed=seed)
        assert fit.converged, fit.convergence_message()
        eff = fit.effects(seed=seed)  # spec contrast: treat 0 -> 1; marginal over the 899 rows
    assert eff.scale == "difference"
    assert list(eff.draws["stage"].values) == ["pooled"]
    effects = {k: _summary(eff.draws[k].sel(stage="pooled").values) for k in ("TE", "NDE", "NIE")}
    seconds = time.perf_counter() - t0
    print(f"\n{spec.outcome.name} ({len(spec.confounders)} confounder variables): {seconds:.0f} s")
    for k, s in effects.items():
        print(f"  {NAMES[k]:5s} {s}")
    return Analysis(fit=fit, effects=effects, seconds=seconds)


def _check_widths(effects: dict[str, Summary], published: dict, rel: float = 0.15) -> None:
    for k, (_, lo, hi) in published.items():
        ours, theirs = effects[k].width, hi - lo
        assert abs(ours / theirs - 1) <= rel, (
            f"{NAMES[k]}: 95% interval width {ours:.4f} vs published {theirs:.4f} "
            f"({ours / theirs - 1:+.1%}, allowed +-{rel:.0%})"
        )


# ------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def jobs() -> pd.DataFrame:
    if not JOBS_CSV.exists():
        pytest.skip(f"real data not available: {JOBS_CSV} is absent (it ships in ../shared/data only)")
    return pd.read_csv(JOBS_CSV)


@pytest.fixture(scope="module")
def full(jobs) -> Analysis:
    return _analyse(_spec(), jobs, seed=1, draws=FULL_DRAWS)


@pytest.fixture(scope="module")
def reduced(jobs) -> Analysis:
    return _analyse(_spec(confounders=REDUCED), jobs, seed=2)


def _work1_frame(jobs: pd.DataFrame) -> pd.DataFrame:
    unknown = sorted(set(jobs["work1"]) - set(WORK1))
    assert not unknown, f"work1 has labels {unknown} the mapping {WORK1} does not cover"
    return jobs.assign(work1=jobs["work1"].map(WORK1).astype(int))


@pytest.fixture(scope="module")
def binary(jobs) -> Analysis:
    spec = _spec(outcome={"name": "work1", "family": "bernoulli", "description": "1 = employed (psyemp)."})
    return _analyse(spec, _work1_frame(jobs), seed=3)


@pytest.fixture(scope="module")
def binary_probit(jobs) -> Analysis:
    spec = _spec(outcome={"name": "work1", "family": "bernoulli", "link": "probit",
                          "description": "1 = employed (psyemp)."})
    assert spec.outcome.link == "probit"
    return _analyse(spec, _work1_frame(jobs), seed=4)


# --------------------------------------------------------------------------- tests
def test_full_covariates_against_mediate(full):
    """ACME, ADE, total (full covariates) vs mediate: means within 0.003, widths within 15%."""
    for k, (point, _, _) in MEDIATE_FULL.items():
        s = full.effects[k]
        # 0.003: the issue's requirement; the published values' own simulation error is
        # 0.0003 (ACME) / 0.0013 (ADE, total) and ours 0.0003 (module docstring)
        assert abs(s.mean - point) <= 0.003, f"{NAMES[k]}: posterior mean {s.mean:.5f} vs published {point}"
    _check_widths(full.effects, MEDIATE_FULL)


def test_full_covariates_equal_the_closed_form(full):
    """With flat coefficient priors the posterior means are the OLS values up to Monte Carlo error."""
    for k, exact in OLS_FULL.items():
        s = full.effects[k]
        # 4 MCSE: a correct sampler fails this with probability 6e-5 per effect
        assert abs(s.mean - exact) <= 4 * s.mcse_mean, (
            f"{NAMES[k]}: posterior mean {s.mean:.6f} vs closed-form {exact} "
            f"({(s.mean - exact) / s.mcse_mean:+.1f} MCSE)"
        )


def test_reduced_covariates_against_brms(reduced):
    """Reduced covariates vs brms: medians within 0.003, widths within 15%, and the b path."""
    for k, (median, _, _) in BRMS_REDUCED.items():
        s = reduced.effects[k]
        # 0.003 = rounding to 3 decimals (0.0005) + 2 x the combined Monte Carlo error of
        # brms' and our medians (0.001 and 0.0008): module docstring
        assert abs(s.median - median) <= 0.003, f"{NAMES[k]}: posterior median {s.median:.5f} vs brms {median}"
    _check_widths(reduced.effects, BRMS_REDUCED)
    for k, exact in OLS_REDUCED.items():  # and the exact values, as for the full analysis
        s = reduced.effects[k]
        assert abs(s.mean - exact) <= 4 * s.mcse_mean, f"{NAMES[k]}: mean {s.mean:.6f} vs closed-form {exact}"

    # b: the model standardises job_seek and depress2 (Panel), so its b is per SD of
    # job_seek in SDs of depress2; per unit job_seek in depress2 units it is
    # b * sd(depress2) / sd(job_seek)
    panel = reduced.fit.panel
    to_units = panel.scaling["depress2"].scale / panel.scaling["job_seek"].scale
    b = reduced.fit.posterior["posterior"]["b"].sel(mediator="job_seek").squeeze("stage", drop=True)
    s = _summary(b.values * to_units)
    print(f"  b     {s}")
    median, lo, hi = BRMS_B
    # b's posterior SD is 0.028 (MCSE: brms ~0.0006, ours 0.0003): rounding (0.0005) +
    # 2 x sqrt(0.0006^2 + 0.0003^2) < 0.002, inside the 0.003 used for the effects
    assert abs(s.median - median) <= 0.003, f"b: median {s.median:.4f} per unit vs brms {median}"
    assert abs(s.width / (hi - lo) - 1) <= 0.15, f"b: width {s.width:.4f} vs brms {hi - lo:.4f}"


def test_work1_labels_are_refused_until_mapped(jobs):
    """The Panel does not coerce the text labels of work1: the mapping above is needed."""
    spec = _spec(outcome={"name": "work1", "family": "bernoulli"})
    with pytest.raises(DataError, match="holds text labels"):
        Panel.from_frame(jobs, spec)
    mapped = _work1_frame(jobs)
    assert mapped["work1"].sum() == (jobs["work1"] == "psyemp").sum() == 293


def test_binary_work1_outcome(binary):
    """Binary ``work1`` (logit here, probit published): average risk differences agree.

    Why a logit fit can be compared with a probit one. The published ACME, ADE and total
    for ``work1`` are *average risk differences*: predicted probabilities of employment
    under two exposure worlds, averaged over the 899 persons. Logit and probit
    coefficients are on different scales (logit ~ 1.6-1.8 x probit), so coefficients and
    per-person effects are not comparable; but both links fitted to the same 899
    outcomes with the same linear predictor reproduce the observed rates across the
    covariate pattern (the likelihood equations match fitted to observed sums), and the
    two curves differ mainly in the tails, where few persons are here (P(employed) =
    0.33, moderate covariate effects). Averages of fitted probabilities, and hence the
    average risk differences, then agree to a small fraction of their uncertainty.
    Measured on this file by maximum-likelihood plug-in g-computation (mediator noise
    integrated as here): logit vs probit ACME 0.00356 vs 0.00352, ADE 0.05638 vs
    0.05734, total 0.05994 vs 0.06086, i.e. link differences of 0.00004, 0.0010 and
    0.0009, against posterior SDs of 0.003, 0.030 and 0.030.

    Estimand. The published numbers are averages over the two arms: ACME = (ACME(treated)
    + ACME(control)) / 2, ADE likewise. carepaths' NIE is ACME(treated) and its NDE is
    ADE(control) (TE = NDE + NIE per draw). With a non-linear link they differ a little;
    measured (logit plug-in): ACME(treated) - average = 0.00016, ADE(control) - average =
    -0.00016. The total is the same estimand.

    Honest tolerances, as the sum of the systematic parts and 3 x the random ones:

    * ADE and total: link 0.0010 + arm averaging 0.0002 + 3 x sqrt(0.0010^2 + 0.0004^2)
      (published simulation error: posterior SD / sqrt(1000); our MCSE) = 0.0044, so
      0.0045 (0.15 posterior SD);
    * ACME: link 0.00004 + arm averaging 0.00016 + 3 x sqrt(0.00009^2 + 0.00004^2) =
      0.0005 (0.16 posterior SD).

    They are tight enough to catch a wrong contrast, a missing mediator-noise
    integration or a probability computed on the wrong scale, each of which moves these
    effects by far more. Widths within 15% as for the linear analyses: the logit and
    probit posteriors of an average risk difference have practically the same spread.
    """
    tolerance = {"NIE": 0.0005, "NDE": 0.0045, "TE": 0.0045}
    for k, (point, _, _) in MEDIATE_WORK1.items():
        s = binary.effects[k]
        assert abs(s.mean - point) <= tolerance[k], (
            f"{NAMES[k]}: posterior mean {s.mean:.5f} vs published (probit) {point}, "
            f"allowed +-{tolerance[k]}"
        )
    _check_widths(binary.effects, MEDIATE_WORK1)


def test_binary_work1_probit_outcome(binary_probit):
    """Binary ``work1`` with the published probit link: ACME, ADE and total against ``mediate``.

    The same model as the published analysis (probit outcome, linear mediator, full
    covariates, flat coefficient priors), so no link difference is left; what remains, in
    means of the effects (numbers from ``tests/jobs_reference.py`` on this file, 100,000
    draws):

    * the estimand: carepaths' NIE is the ACME under treatment and its NDE the ADE under
      control, where ``mediate`` reports the average over the two arms: +0.00013 (ACME),
      -0.00013 (ADE), 0 (total);
    * the posterior: ``mediate``'s simulations are the mean over the MLEs' asymptotic
      normal, carepaths' over the exact (flat-prior) posterior. Importance weights turn the
      one into the other: they move the ACME by +0.00003, the ADE by +0.00060 and the total
      by +0.00064 (the probit likelihood of 293 employed of 899 is a little skewed);
    * Monte Carlo error: the published means are means of 1,000 simulations, posterior SD
      / sqrt(1000) = 0.000093 (ACME) and 0.00099 (ADE, total); ours (2 x 5,000 draws) is
      about 0.00004 and 0.0004.

    Tolerances, the systematic parts plus 3 x the combined random ones:

    * ACME: 0.00013 + 0.00003 + 3 x sqrt(0.000093^2 + 0.00004^2) = 0.00046, so 0.0005;
    * ADE: |-0.00013 + 0.00060| + 3 x sqrt(0.00099^2 + 0.0004^2) = 0.0037;
    * total: 0.00064 + 3 x 0.00107 = 0.0038.

    (The published means themselves sit 0.00003, 0.00072 and 0.00076 below the expectation
    of ``mediate``'s own procedure on this file, 0.3-0.8 of their Monte Carlo SE.) The
    sharper check is against that exact flat-prior posterior mean of carepaths' own
    estimands, which the posterior must match up to Monte Carlo error: within 4 combined
    Monte Carlo SEs (ours and the reference's), plus 0.0002 for what the reference leaves
    out (the mediator's residual SD is fixed there, and the coefficients' Normal(0, 10)
    priors shrink by under 0.5%). Widths within 15% as for the other analyses.
    """
    tolerance = {"NIE": 0.0005, "NDE": 0.0037, "TE": 0.0038}
    for k, (point, _, _) in MEDIATE_WORK1.items():
        s = binary_probit.effects[k]
        assert abs(s.mean - point) <= tolerance[k], (
            f"{NAMES[k]}: posterior mean {s.mean:.5f} vs published (probit) {point}, allowed +-{tolerance[k]}"
        )
    _check_widths(binary_probit.effects, MEDIATE_WORK1)
    for k, exact in POSTERIOR_WORK1_PROBIT.items():
        s = binary_probit.effects[k]
        allowed = 4 * np.hypot(s.mcse_mean, REFERENCE_MCSE[k]) + 0.0002
        assert abs(s.mean - exact) <= allowed, (
            f"{NAMES[k]}: posterior mean {s.mean:.6f} vs the exact flat-prior posterior mean {exact} "
            f"(allowed +-{allowed:.5f})"
        )
    # the probit coefficients are the logit ones over about 1.6 (docs/model.md): c, per unit
    # of the binary exposure, on the probit scale
    c = binary_probit.fit.posterior["posterior"]["c"].values.mean()
    print(f"  c (probit) {c:.4f}")
