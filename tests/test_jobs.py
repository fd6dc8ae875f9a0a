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
   default logit (compared through average risk differences);
4. analysis 1 with the exposure x mediator interaction ``treat:job_seek`` in the outcome
   model (issue 14): ACME and ADE under control and under treatment;
5. the binary mediator ``job_dich`` (probit) with ``treat:job_dich``, and 6. the ordinal
   mediator ``job_disc`` (ordered probit, 4 categories), both with the linear ``depress2``
   outcome and the full covariates;
7. ``medsens`` on analysis 1 (issue 15): the rho at which the ACME is 0 and the R-squared
   products there.

4-7 are printed in R ``mediation``'s vignette "Causal Mediation Analysis Using R" (Imai,
Keele, Tingley & Yamamoto), in the version written for mediation 3.0 that also prints
analyses 1 and 3 exactly as ``jobs.md`` quotes them (source: ``vignettes/mediation-old.Rnw``
of github.com/kosukeimai/mediation; its ``summary()`` output is pasted into the text, so the
numbers are the published ones, 1,000 simulations each). An earlier version of the same
vignette (``inst/doc/mediation.tex``, mediation 2.0) prints other numbers for 4, 5 and 7
(rho = -0.1867 for 7, the "about -0.19" quoted elsewhere) that do not come from this file:
the number medsens prints there is, in its code (``R/medsens.R``), the correlation of the
residuals of the mediator model and of the outcome model without the mediator, which is
-0.2100 on this file; and that version's medsens table does not follow the closed form on
this file, which the 3.0 version's table does to every printed digit. Only the 3.0
version is compared here.

The published names map onto carepaths' effects as ACME = NIE, ADE = NDE, total = TE,
for the contrast treat 0 -> 1, averaged over the 899 observed covariate rows
(``population="marginal"``: no person effects here, so only the mediator noise is
integrated, with the same draw in both exposure worlds, as ``mediate`` does for a normal
mediator). Where the two versions of the natural effects differ (an interaction, a
non-linear link), ACME (treated) = NIE, ACME (control) = NIE (control), ADE (control) =
NDE and ADE (treated) = NDE (treated).

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
* 4-7: see each test's docstring. The rule throughout: against an exact value computed on
  this file (OLS closed forms; for the discrete mediators the exact flat-prior posterior
  mean from ``tests/jobs_reference.py``), 4 combined Monte Carlo standard errors; against
  a published mean, what is known to separate it from ours (computed on this file) plus
  3 combined Monte Carlo standard errors, the published one being the spread of its
  1,000 simulations (its 95% interval / 3.92) over sqrt(1000).
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
from jobs_reference import design

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
# where the two versions differ (carepaths' names -> R mediation's)
VERSIONS = {"NIE (control)": "ACME (control)", "NIE": "ACME (treated)", "NDE": "ADE (control)",
            "NDE (treated)": "ADE (treated)", "TE": "total"}
VERSION_EFFECTS = ("NDE (treated)", "NIE (control)")

FLAT_PRODUCT = Prior("Normal", mu=0.0, sigma=10.0)  # b_xm, the treat x mediator term, as flat as the others
INTERACTION_PRIORS = {**FLAT, "b_xm": FLAT_PRODUCT}

# mediate, 1,000 quasi-Bayesian simulations: mean [95% CI]; vignette "Causal Mediation
# Analysis Using R", mediation 3.0 version (module docstring). "Mediation Effect_0" is the
# ACME (control), "_1" (treated); "Direct Effect_0" the ADE (control).
MEDIATE_INTERACTION = {  # out.3: analysis 1 + treat:job_seek
    "NIE (control)": (-0.01899, -0.045271, 0.003649),
    "NIE": (-0.01203, -0.029640, 0.002195),
    "NDE": (-0.03596, -0.1187, 0.0426),
    "NDE (treated)": (-0.02899, -0.10879, 0.05082),
    "TE": (-0.04799, -0.13495, 0.03154),
}
MEDIATE_JOB_DICH = {  # out.8: probit job_dich, linear depress2 with treat:job_dich
    "NIE (control)": (-0.01823, -0.038944, -0.002616),
    "NIE": (-0.02040, -0.038965, -0.003155),
    "NDE": (-0.02823, -0.10786, 0.05154),
    "NDE (treated)": (-0.03039, -0.11164, 0.04764),
    "TE": (-0.04863, -0.13146, 0.02839),
}
MEDIATE_JOB_DISC = {  # out.9: ordered probit job_disc, linear depress2 (job_disc a factor there)
    "NIE": (-0.01048, -0.03188, 0.01008),
    "NDE": (-0.03311, -0.10759, 0.04848),
    "TE": (-0.04360, -0.12376, 0.03895),
}
# Computed on this file by tests/jobs_reference.py (100,000 draws): the exact flat-prior
# posterior mean of carepaths' estimands (MCSE <= 0.00003), the expectation of mediate's
# procedure for the published model, and the exact posterior's 95% interval width with
# carepaths' Monte Carlo (one latent mediator error per row shared by the worlds).
POSTERIOR_JOB_DICH = {"NIE (control)": -0.017951, "NIE": -0.019952, "NDE": -0.030228,
                      "NDE (treated)": -0.032229, "TE": -0.050180}
EXPECTED_MEDIATE_JOB_DICH = {"NIE (control)": -0.017794, "NIE": -0.019779, "NDE": -0.030213,
                             "NDE (treated)": -0.032197, "TE": -0.049992}
POSTERIOR_WIDTH_JOB_DICH = {"NIE (control)": 0.0376, "NIE": 0.0372}
POSTERIOR_JOB_DISC = {"NIE": -0.010540, "NDE": -0.040480, "TE": -0.051020}  # job_disc linear (carepaths)
EXPECTED_MEDIATE_JOB_DISC = {"NIE": -0.010292, "NDE": -0.033965, "TE": -0.044257}  # job_disc a factor
POSTERIOR_WIDTH_JOB_DISC = {"NIE": 0.0352}
DISCRETE_REFERENCE_MCSE = 0.00003

# medsens(med.cont, rho.by = 0.05) on analysis 1, same vignette: the rows printed around the
# crossing (rho: ACME, 4 decimals) and the summary lines
MEDSENS_TABLE = {-0.30: 0.0064, -0.25: 0.0028, -0.20: -0.0007, -0.15: -0.0040}
MEDSENS_RHO, MEDSENS_STEP = -0.2, 0.05  # "Rho at which ACME = 0: -0.2", the grid point nearest
MEDSENS_R2STAR, MEDSENS_R2TILDE = 0.04, 0.0261  # R^2_M*R^2_Y* and R^2_M~R^2_Y~ at that rho
RHO_GRID = np.round(np.arange(-0.9, 0.91, 0.01), 2)


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
    draws: object = None  # the effects' xarray Dataset (pooled stage)


def _spec(
    outcome: dict | None = None, confounders: tuple[str, ...] | None = None, mediator: dict | None = None,
    interaction: bool = False,
) -> Spec:
    """The shipped single_mediator spec, with another outcome or mediator, fewer confounders, or
    the exposure x mediator term in the outcome equation."""
    d = copy.deepcopy(carepaths.load_spec("single_mediator").to_dict())
    if outcome is not None:
        d["outcome"] = outcome
    if mediator is not None:
        d["mediators"] = [mediator]
    if interaction:
        d["interactions"] = [{"terms": [d["exposure"]["name"], d["mediators"][0]["name"]]}]
    if confounders is not None:
        d["confounders"] = [c for c in d["confounders"] if c["name"] in confounders]
        assert [c["name"] for c in d["confounders"]] == list(confounders)
    return Spec.from_dict(d)


def _analyse(
    spec: Spec, frame: pd.DataFrame, seed: int, draws: int = DRAWS, priors: dict | None = None,
) -> Analysis:
    import time

    t0 = time.perf_counter()
    panel = Panel.from_frame(frame, spec)
    assert panel.n_obs == 899
    with warnings.catch_warnings():
        warnings.simplefilter("error", carepaths.ConvergenceWarning)
        model = MediationModel(spec, panel, priors=FLAT if priors is None else priors)
        fit = model.fit(draws=draws, tune=TUNE, chains=CHAINS, seed=seed)
        assert fit.converged, fit.convergence_message()
        eff = fit.effects(seed=seed)  # spec contrast: treat 0 -> 1; marginal over the 899 rows
    assert eff.scale == "difference"
    assert list(eff.draws["stage"].values) == ["pooled"]
    pooled = eff.draws.sel(stage="pooled")
    names = ("TE", "NDE", "NIE") + tuple(k for k in VERSION_EFFECTS if k in pooled)
    effects = {k: _summary(pooled[k].values) for k in names}
    seconds = time.perf_counter() - t0
    mediator = spec.mediators[0]
    products = ", ".join(":".join(term.terms) for term in spec.interactions) or "none"
    print(f"\n{spec.outcome.name} <- {mediator.name} ({mediator.family}), {len(spec.confounders)} confounder "
          f"variables, interactions: {products}: {seconds:.0f} s")
    for k, s in effects.items():
        print(f"  {VERSIONS[k] if len(effects) > 3 else NAMES[k]:14s} {s}")
    return Analysis(fit=fit, effects=effects, seconds=seconds, draws=pooled)


def _check_widths(
    effects: dict[str, Summary], published: dict, rel: float = 0.15, names: dict = NAMES, what: str = "published",
) -> None:
    for k, (_, lo, hi) in published.items():
        ours, theirs = effects[k].width, hi - lo
        assert abs(ours / theirs - 1) <= rel, (
            f"{names[k]}: 95% interval width {ours:.4f} vs {what} {theirs:.4f} "
            f"({ours / theirs - 1:+.1%}, allowed +-{rel:.0%})"
        )


def _published_mcse(published: tuple[float, float, float]) -> float:
    """Monte Carlo SE of a published mean of 1,000 simulations: their spread (95% interval / 3.92) / sqrt(1000)."""
    _, lo, hi = published
    return (hi - lo) / 3.92 / np.sqrt(1000)


def _check_decomposition(analysis: Analysis) -> None:
    """TE = NDE + NIE = NDE (treated) + NIE (control) on every draw."""
    d = analysis.draws
    te = d["TE"].values
    assert np.allclose(te, d["NDE"].values + d["NIE"].values, rtol=0, atol=1e-12)
    if "NIE (control)" in d:
        assert np.allclose(te, d["NDE (treated)"].values + d["NIE (control)"].values, rtol=0, atol=1e-12)


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


@pytest.fixture(scope="module")
def interaction(jobs) -> Analysis:
    """Analysis 1 with treat:job_seek; 2 x 10,000 draws like analysis 1 (its ADEs' MCSE 0.0003)."""
    spec = _spec(interaction=True)
    assert [term.terms for term in spec.interactions] == [("treat", "job_seek")]
    return _analyse(spec, jobs, seed=5, draws=FULL_DRAWS, priors=INTERACTION_PRIORS)


@pytest.fixture(scope="module")
def binary_mediator(jobs) -> Analysis:
    """Probit job_dich with treat:job_dich, as published (vignette: ``glm(job_dich ~ ...,
    family = binomial(link = "probit"))``, ``lm(depress2 ~ treat + job_dich + treat:job_dich
    + ...)``)."""
    assert set(jobs["job_dich"]) == {0.0, 1.0}
    spec = _spec(mediator={"name": "job_dich", "family": "bernoulli", "link": "probit",
                           "instrument": "job_seek split at the median: 1 = high."}, interaction=True)
    return _analyse(spec, jobs, seed=6, priors=INTERACTION_PRIORS)


# job_disc holds the codes 1.0-4.0 (job_seek in four bands: [1, 2.33], [2.5, 3.33],
# [3.5, 4.33], [4.5, 5]); 24, 138, 438 and 299 persons
JOB_DISC_CATEGORIES = [1, 2, 3, 4]
ORDINAL_DRAWS = 2000  # the ordered-probit likelihood is the slow part: ~4 ms per iteration here


@pytest.fixture(scope="module")
def ordinal_mediator(jobs) -> Analysis:
    """Ordered-probit job_disc, linear outcome, no interaction (vignette: ``polr(job_disc ~
    ..., method = "probit")``). The cutpoints' prior is made as flat as the coefficients'."""
    counts = jobs["job_disc"].value_counts().sort_index()
    assert list(counts.index) == JOB_DISC_CATEGORIES and list(counts) == [24, 138, 438, 299]
    spec = _spec(mediator={"name": "job_disc", "family": "ordinal", "link": "probit",
                           "categories": JOB_DISC_CATEGORIES,
                           "instrument": "job_seek in four ordered bands."})
    priors = {**FLAT, "cutpoints": Prior("Normal", mu=0.0, sigma=10.0)}
    return _analyse(spec, jobs, seed=7, draws=ORDINAL_DRAWS, priors=priors)


@pytest.fixture(scope="module")
def sensitivity(full):
    """``fit.sensitivity()`` of analysis 1 on a 0.01 grid of rho (181 points)."""
    import time

    t0 = time.perf_counter()
    sens = full.fit.sensitivity(rho=RHO_GRID, seed=1)
    print(f"\nsensitivity of analysis 1, {len(RHO_GRID)} values of rho: {time.perf_counter() - t0:.1f} s")
    print(sens.crossings().to_string())
    print(f"  R-squared: mediator {sens.draws.attrs['r2_mediator']:.4f}, outcome {sens.draws.attrs['r2_outcome']:.4f}")
    return sens


def _ols(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return coef, y - X @ coef


@dataclass(frozen=True)
class ClosedForms:
    """Analysis 1 by OLS on this file (numpy only): the interaction's effects and IKY's rho."""

    interaction: dict[str, float]
    rho: float  # IKY's rho~: corr of the mediator's and the total-effect regression's residuals
    gamma_sigma_ratio: float  # the same as gamma sigma_2 / sigma_1
    r2_mediator: float
    r2_outcome: float
    acme_curve: object  # rho -> ACME(rho), IKY's closed form with medsens' residual SDs


@pytest.fixture(scope="module")
def closed_forms(jobs) -> ClosedForms:
    n = len(jobs)
    C = design(jobs).to_numpy()
    t, m, y = (jobs[c].to_numpy(float) for c in ("treat", "job_seek", "depress2"))
    one = np.ones(n)
    X_m = np.column_stack([one, t, C])
    beta_m, e_m = _ols(X_m, m)
    # VanderWeele & Vansteelandt (2009): with Y = t0 + t1 T + t2 M + t3 T M + ... and
    # M = b0 + b1 T + ..., ACME(t) = b1 (t2 + t3 t) and ADE(t) = t1 + t3 E[M(t)], averaged
    # over the 899 rows
    theta, _ = _ols(np.column_stack([one, t, m, t * m, C]), y)
    b1, (t1, t2, t3) = beta_m[1], theta[1:4]
    mean_m = {arm: float(np.mean(X_m @ beta_m + (arm - t) * b1)) for arm in (0, 1)}
    acme = {arm: b1 * (t2 + t3 * arm) for arm in (0, 1)}
    ade = {arm: t1 + t3 * mean_m[arm] for arm in (0, 1)}
    interaction = {"NIE (control)": acme[0], "NIE": acme[1], "NDE": ade[0], "NDE (treated)": ade[1],
                   "TE": ade[0] + acme[1]}
    assert abs(interaction["TE"] - (ade[1] + acme[0])) < 1e-12
    # IKY (2010): with e_1 the residual of the total-effect regression (y on T and C) and e_2
    # the mediator's, ACME(rho) = b1 sigma_1 / sigma_2 (rho~ - rho sqrt((1 - rho~^2) / (1 - rho^2))),
    # rho~ = corr(e_1, e_2) = gamma sigma_2 / sigma_1
    _, e_1 = _ols(X_m, y)
    gamma, e_y = _ols(np.column_stack([one, t, m, C]), y)
    rho = float(np.corrcoef(e_1, e_m)[0, 1])
    ratio = float(gamma[2] * e_m.std() / e_1.std())
    sd_1 = np.sqrt(e_1 @ e_1 / (n - X_m.shape[1]))  # lm's sigma, as medsens uses
    sd_2 = np.sqrt(e_m @ e_m / (n - X_m.shape[1]))

    def acme_curve(r: float) -> float:
        return float(b1 * sd_1 / sd_2 * (rho - r * np.sqrt((1 - rho**2) / (1 - r**2))))

    def r2(resid: np.ndarray, v: np.ndarray) -> float:
        return float(1 - resid @ resid / np.sum((v - v.mean()) ** 2))

    return ClosedForms(interaction=interaction, rho=rho, gamma_sigma_ratio=ratio, r2_mediator=r2(e_m, m),
                       r2_outcome=r2(e_y, y), acme_curve=acme_curve)


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


# ------------------------------------------------- issue 14: interaction, discrete mediators
def test_interaction_equals_the_closed_form(interaction, closed_forms):
    """treat:job_seek: both versions of ACME and ADE equal the OLS closed form up to Monte Carlo error.

    With flat coefficient priors and normal likelihoods the posterior of each model's
    coefficients is centred exactly on OLS, and the two models share no parameter, so the
    posterior means of ACME(t) = b1 (t2 + t3 t) and ADE(t) = t1 + t3 E[M(t)] (VanderWeele &
    Vansteelandt 2009, averaged over the rows) are these functions of the OLS estimates.
    carepaths' g-computation draws the mediator's noise, which averages to 0. Within 4 MCSE,
    as for analysis 1 (a correct sampler fails this with probability 6e-5 per effect), and
    TE = NDE + NIE = NDE (treated) + NIE (control) on every draw.
    """
    assert set(interaction.effects) == set(VERSIONS)
    for k, exact in closed_forms.interaction.items():
        s = interaction.effects[k]
        assert abs(s.mean - exact) <= 4 * s.mcse_mean, (
            f"{VERSIONS[k]}: posterior mean {s.mean:.6f} vs closed form {exact:.6f} "
            f"({(s.mean - exact) / s.mcse_mean:+.1f} MCSE)"
        )
    _check_decomposition(interaction)


def test_interaction_against_mediate(interaction):
    """treat:job_seek against the vignette's ``mediate``: means within 3 combined MCSE, widths 15%.

    Published: 1,000 quasi-Bayesian simulations (the vignette's call says ``boot = TRUE``,
    its output "Quasi-Bayesian Confidence Intervals"; either way a mean of 1,000 draws).
    With a normal mediator ``mediate`` shares the mediator's error between the two worlds,
    as carepaths does, and the outcome is linear, so the expectation of its procedure is the
    closed form and nothing systematic separates the published means from ours: the
    tolerance is 3 x sqrt(published MCSE^2 + ours^2), published MCSE = spread / sqrt(1000)
    = 0.0004 (ACME (control)), 0.0003 (ACME (treated)), 0.0013 (ADEs, total); ours (2 x
    10,000 draws) 0.0001-0.0003: 0.0012, 0.0008 and 0.0040. The published ADEs and total
    sit 0.0030-0.0035 from the closed form on this file, 2.3-2.7 of their own MCSE (one
    deviation: the three share the draws of the direct path); the ACMEs 0.0003-0.0005.
    Widths within 15% as for analysis 1.
    """
    for k, published in MEDIATE_INTERACTION.items():
        s = interaction.effects[k]
        allowed = 3 * np.hypot(_published_mcse(published), s.mcse_mean)
        assert abs(s.mean - published[0]) <= allowed, (
            f"{VERSIONS[k]}: posterior mean {s.mean:.5f} vs published {published[0]} (allowed +-{allowed:.4f})"
        )
    _check_widths(interaction.effects, MEDIATE_INTERACTION, names=VERSIONS)


def _check_against_reference(analysis: Analysis, reference: dict[str, float], names: dict) -> None:
    for k, exact in reference.items():
        s = analysis.effects[k]
        allowed = 4 * np.hypot(s.mcse_mean, DISCRETE_REFERENCE_MCSE)
        assert abs(s.mean - exact) <= allowed, (
            f"{names[k]}: posterior mean {s.mean:.6f} vs the exact flat-prior posterior mean {exact} "
            f"(allowed +-{allowed:.5f}, {(s.mean - exact) / s.mcse_mean:+.1f} MCSE)"
        )


def _check_against_published(analysis: Analysis, published: dict, shift: dict[str, float], names: dict) -> None:
    for k, (point, lo, hi) in published.items():
        s = analysis.effects[k]
        expected = point + shift[k]
        allowed = 3 * np.sqrt(_published_mcse((point, lo, hi)) ** 2 + s.mcse_mean**2 + DISCRETE_REFERENCE_MCSE**2)
        assert abs(s.mean - expected) <= allowed, (
            f"{names[k]}: posterior mean {s.mean:.5f} vs published {point} {shift[k]:+.5f} (what separates the "
            f"two, computed on this file) = {expected:.5f}, allowed +-{allowed:.4f}"
        )


def test_binary_mediator_equals_the_exact_posterior(binary_mediator):
    """job_dich (probit) with treat:job_dich: the exact flat-prior posterior means, within 4 MCSE.

    Reference (``tests/jobs_reference.py job_dich``, 100,000 draws): the outcome is linear,
    so every effect is bilinear in the outcome's coefficients (c, b, k = treat:job_dich) and
    the row means of P(M = 1 | t); the two posteriors are independent and the outcome's is
    centred on OLS exactly, and the probit mediator's posterior is reached by importance
    weights on its MLE's asymptotic normal (ESS 97,000). Reference MCSE under 0.00003; 4 x
    sqrt(ours^2 + 0.00003^2), as for the OLS checks. And TE = NDE + NIE = NDE (treated) +
    NIE (control) on every draw.
    """
    assert set(binary_mediator.effects) == set(VERSIONS)
    _check_against_reference(binary_mediator, POSTERIOR_JOB_DICH, VERSIONS)
    _check_decomposition(binary_mediator)


def test_binary_mediator_against_mediate(binary_mediator):
    """job_dich with treat:job_dich against the vignette: ACME and ADE under control and treatment.

    Same model as published: probit mediator (the published probit link, nothing to convert),
    linear outcome with ``treat:job_dich``, full covariates. (The vignette's mediator call
    reads ``data = job``, the package's other, older JOBS data frame; its outcome model is
    fitted to ``jobs``. Its numbers agree with this file within their Monte Carlo error, as
    tested here, so the typo did not reach the printed run, or did not matter.)

    What separates a published mean from ours, computed on this file: ``mediate``
    averages over the MLE's asymptotic normal, carepaths over the exact posterior, which
    moves the ACMEs by -0.00016/-0.00017, the ADEs by -0.00002/-0.00003 and the total by
    -0.00019 (the probit likelihood of a 62% split is a little skewed). The published mean
    is shifted by that, and the tolerance is 3 x sqrt(published MCSE^2 + ours^2 +
    reference's^2): 0.001 (ACMEs), 0.004 (ADEs, total). The published ADEs and total sit
    1.1-1.5 of their MCSE from the expectation of ``mediate``'s procedure on this file.

    Widths. ``mediate`` (4.x) draws a binary mediator independently in the two worlds
    (``rbinom`` for M(1) and for M(0)), which on this file widens the ACMEs' intervals by
    13-17% (0.0415 vs 0.0366 with expected mediators); carepaths shares one latent error
    per row between the worlds. The published ACME widths (0.0363, 0.0358) are those without
    that noise (the version that printed them did not add it), so ours are checked against
    the exact posterior's width with carepaths' own Monte Carlo (reference: 0.0376, 0.0372)
    within 10% (the 2.5% and 97.5% quantiles of ours, ESS a few thousand, have a relative
    SE of about 1.5%); the ADEs and total against the published widths within 15%.
    """
    shift = {k: POSTERIOR_JOB_DICH[k] - EXPECTED_MEDIATE_JOB_DICH[k] for k in MEDIATE_JOB_DICH}
    _check_against_published(binary_mediator, MEDIATE_JOB_DICH, shift, VERSIONS)
    direct = {k: v for k, v in MEDIATE_JOB_DICH.items() if not k.startswith("NIE")}
    _check_widths(binary_mediator.effects, direct, names=VERSIONS)
    _check_widths(binary_mediator.effects, {k: (None, 0.0, w) for k, w in POSTERIOR_WIDTH_JOB_DICH.items()},
                  rel=0.10, names=VERSIONS, what="the exact posterior's")


def test_ordinal_mediator_equals_the_exact_posterior(ordinal_mediator):
    """job_disc (ordered probit) with its code linear in the outcome: the exact posterior means, 4 MCSE.

    carepaths' model: the ordinal mediator enters the outcome as its 0..3 code, so ACME =
    b E[M(1) - M(0)], ADE = c (no interaction; the two versions are equal and not reported
    separately), TE = ADE + ACME. Reference (``tests/jobs_reference.py job_disc``, 100,000
    draws): OLS for the outcome (exact posterior mean) and the ordered probit's posterior,
    flat on the coefficients and on the cutpoints, by importance weights on its MLE's
    asymptotic normal (ESS 94,000). The fit's cutpoints get Normal(0, 10) like the
    coefficients (their default is Normal(0, 1.5)). 2 x 2,000 draws only (the ordered-probit
    likelihood makes this the slowest fit): MCSE about 0.00015 (ACME) and 0.0007 (ADE,
    total); 4 x sqrt(ours^2 + 0.00003^2).
    """
    assert set(ordinal_mediator.effects) == {"TE", "NDE", "NIE"}
    _check_against_reference(ordinal_mediator, POSTERIOR_JOB_DISC, NAMES)
    _check_decomposition(ordinal_mediator)


def test_ordinal_mediator_against_mediate(ordinal_mediator):
    """job_disc against the vignette: a different outcome model there, accounted for on this file.

    The published outcome model is ``lm(depress2 ~ treat + job_disc + ...)`` with
    ``job_disc`` a factor (``polr`` needs its response to be one), i.e. three dummies, where
    carepaths enters an ordinal mediator linearly as its code and cannot express dummies.
    The numbers show it: on this file the expectation of ``mediate``'s procedure is ADE
    -0.03397 and total -0.04426 with the factor (published -0.03311 and -0.04360, 0.7 and
    0.5 of their MCSE off) and -0.04048 and -0.05081 with the linear code (5.9 and 5.5).

    So the published mean is shifted by (exact posterior mean of carepaths' model) minus
    (expectation of ``mediate``'s procedure for the published model), both computed on this
    file by ``tests/jobs_reference.py``: ACME -0.00025 (``mediate`` draws the coefficients
    but fixes the cutpoints at their estimates, which moves its expected ACME by +0.0002
    on this file), ADE -0.00652 and total -0.00676 (the coding). Tolerance 3 x sqrt(published MCSE^2
    + ours^2 + reference's^2): 0.0011 (ACME), 0.0043-0.0045 (ADE, total).

    Widths. The published ACME interval (width 0.0420) includes ``mediate``'s independent
    multinomial draws of the mediator in the two worlds: its procedure on this file gives
    0.0421 with them and 0.0342 without. carepaths shares one latent error per row between
    the worlds, so its ACME width is checked against the exact posterior's with carepaths'
    Monte Carlo (reference 0.0352) within 10%; ADE and total against the published widths
    within 15% (the coding changes their spread by under 1% on this file).
    """
    shift = {k: POSTERIOR_JOB_DISC[k] - EXPECTED_MEDIATE_JOB_DISC[k] for k in MEDIATE_JOB_DISC}
    _check_against_published(ordinal_mediator, MEDIATE_JOB_DISC, shift, NAMES)
    _check_widths(ordinal_mediator.effects, {k: v for k, v in MEDIATE_JOB_DISC.items() if k != "NIE"})
    _check_widths(ordinal_mediator.effects, {"NIE": (None, 0.0, POSTERIOR_WIDTH_JOB_DISC["NIE"])}, rel=0.10,
                  what="the exact posterior's")


# ------------------------------------------------------------------ issue 15: medsens
def _nie_curve(sens) -> tuple[np.ndarray, np.ndarray]:
    """NIE draws (sample, rho) and their posterior means on the grid."""
    nie = sens.draws["NIE"].sel(stage="pooled").transpose("chain", "draw", "rho").values
    return nie, nie.reshape(-1, nie.shape[-1]).mean(axis=0)


def _crossing_mcse(sens, rho0: float) -> float:
    """Monte Carlo SE of the rho at which the NIE's posterior mean is 0: MCSE of the mean / |slope| there."""
    nie, mean = _nie_curve(sens)
    j = int(np.argmin(np.abs(RHO_GRID - rho0)))
    slope = (mean[j + 1] - mean[j - 1]) / (RHO_GRID[j + 1] - RHO_GRID[j - 1])
    return float(az.mcse(nie[:, :, j])) / abs(slope)


def test_sensitivity_crossing_against_medsens(sensitivity, closed_forms):
    """Analysis 1's sensitivity to mediator-outcome confounding: where the ACME is 0, and the curve.

    Imai, Keele & Yamamoto (2010): in the linear model ACME(rho) = b1 sigma_1 / sigma_2
    (rho~ - rho sqrt((1 - rho~^2) / (1 - rho^2))), which is 0 at rho = rho~ = corr(e_1,
    e_2) = gamma sigma_2 / sigma_1 (e_1, sigma_1: residuals of the total-effect regression;
    e_2, sigma_2: the mediator's). OLS on this file: rho~ = -0.2100. carepaths' NIE(rho) =
    a (b - kappa) with kappa = rho sigma_Y / (sigma_M sqrt(1 - rho^2)) on every draw is the
    same curve (docs/sensitivity.md), and ``crossings()`` interpolates its posterior mean
    linearly on the 0.01 grid. Checks and tolerances:

    * rho at ACME = 0 against the closed form: 4 x its Monte Carlo SE (MCSE of the mean
      curve there / its slope, about 0.0003) + 0.0002 for posterior vs plug-in (E[a
      sigma_Y / sigma_M] vs the OLS ratio, within 0.1%, moves rho~ by under 0.0002; the
      interpolation error on a 0.01 grid is under 1e-5);
    * against the published "Rho at which ACME = 0: -0.2": medsens prints the point of its
      0.05 grid where |ACME| is smallest, so the crossing lies within half a step, 0.025;
    * against the published table, read more finely: interpolating its rows rho = -0.25
      (ACME 0.0028) and -0.20 (-0.0007) linearly gives -0.2100, within +-0.0007 for their
      rounding to 4 decimals (computed here from the extremes) and 0.00014 for the
      interpolation over 0.05 (the closed form's curvature, computed here); plus 4 of our
      Monte Carlo SEs: 0.0018 in all;
    * the curve itself at the published rows -0.30, -0.25, -0.20, -0.15 (0.0064, 0.0028,
      -0.0007, -0.0040): within 0.00005 (rounding) + 4 MCSE + 0.00002 (posterior vs plug-in,
      0.1% of the confounding term); and against the closed form at the same rho;
    * R*_M^2 R*_Y^2 = rho^2 at the crossing (IKY: the product of the residual variances'
      shares), against rho~^2 = 0.0441 within what the crossing's tolerance allows, and
      against the published 0.04 (= (-0.2)^2 at medsens' grid point) within what half its
      step allows ((0.2 + 0.025)^2 - 0.04).
    """
    assert abs(closed_forms.rho - closed_forms.gamma_sigma_ratio) < 1e-12  # the two forms of rho~
    crossing = sensitivity.crossings().loc["NIE"]
    rho0 = float(crossing["rho_mean_zero"])
    mcse = _crossing_mcse(sensitivity, rho0)
    print(f"  rho at NIE = 0: {rho0:.4f} (MCSE {mcse:.5f}); closed form {closed_forms.rho:.4f}")
    allowed = 4 * mcse + 0.0002
    assert abs(rho0 - closed_forms.rho) <= allowed, (
        f"rho at ACME = 0: {rho0:.4f} vs IKY's closed form {closed_forms.rho:.4f} (allowed +-{allowed:.4f})"
    )
    assert abs(rho0 - MEDSENS_RHO) <= MEDSENS_STEP / 2, f"rho at ACME = 0: {rho0:.4f} vs published {MEDSENS_RHO}"

    def interpolate(lo: float, hi: float, f_lo: float, f_hi: float) -> float:
        return lo - f_lo * (hi - lo) / (f_hi - f_lo)

    lo, hi = -0.25, -0.20
    table = interpolate(lo, hi, MEDSENS_TABLE[lo], MEDSENS_TABLE[hi])
    rounded = [interpolate(lo, hi, MEDSENS_TABLE[lo] + u, MEDSENS_TABLE[hi] + v)
               for u in (-5e-5, 5e-5) for v in (-5e-5, 5e-5)]
    curvature = abs(interpolate(lo, hi, closed_forms.acme_curve(lo), closed_forms.acme_curve(hi)) - closed_forms.rho)
    allowed = max(abs(r - table) for r in rounded) + curvature + 4 * mcse
    assert abs(rho0 - table) <= allowed, (
        f"rho at ACME = 0: {rho0:.4f} vs {table:.4f} interpolated from the published table (allowed +-{allowed:.4f})"
    )

    nie, mean = _nie_curve(sensitivity)
    for rho, published in MEDSENS_TABLE.items():
        j = int(np.flatnonzero(np.isclose(RHO_GRID, rho))[0])
        mc = float(az.mcse(nie[:, :, j]))
        exact = closed_forms.acme_curve(rho)
        print(f"  ACME at rho = {rho:+.2f}: {mean[j]:.5f} (MCSE {mc:.5f}); published {published}, "
              f"closed form {exact:.5f}")
        assert abs(mean[j] - published) <= 5e-5 + 4 * mc + 2e-5, (
            f"ACME at rho = {rho}: posterior mean {mean[j]:.5f} vs published {published}"
        )
        assert abs(mean[j] - exact) <= 4 * mc + 2e-5, f"ACME at rho = {rho}: {mean[j]:.6f} vs closed form {exact:.6f}"

    assert crossing["R2star_product"] == pytest.approx(rho0**2, rel=1e-12)
    tol = 4 * mcse + 0.0002
    assert abs(crossing["R2star_product"] - closed_forms.rho**2) <= 2 * abs(closed_forms.rho) * tol + tol**2
    # the published 0.04 is (-0.2)^2 at medsens' grid point: within what half its step allows
    half_step = (abs(MEDSENS_RHO) + MEDSENS_STEP / 2) ** 2 - MEDSENS_R2STAR
    assert abs(crossing["R2star_product"] - MEDSENS_R2STAR) <= half_step


def test_sensitivity_r_squared_against_medsens(sensitivity, closed_forms):
    """R~_M^2 R~_Y^2 = rho^2 (1 - R_M^2)(1 - R_Y^2) against medsens.

    IKY (2010) and ``medsens`` use the coefficient of determination of each fitted model:
    ``summary(model.m)$r.squared`` and ``summary(model.y)$r.squared`` (outcome model with
    the mediator), i.e. the OLS R-squared, 0.1243 and 0.2537 on this file; medsens prints
    R~ product 0.0261 at its rho = -0.2 (0.04 x (1 - 0.1243) x (1 - 0.2537) = 0.02614).

    Tolerances: the R-squared within 0.005 of OLS (what an honest posterior estimate of the
    same quantity may differ by: using sigma^2 with n - p instead of n degrees of freedom
    moves them by 0.003 and 0.005); the R~ product at rho = -0.2 within 0.00005 (rounding)
    + 0.04 x (0.005 + 0.005) x 0.9 = 0.0004; at the crossing, against the closed form
    rho~^2 (1 - R_M^2)(1 - R_Y^2) = 0.0288, within that plus the crossing's own tolerance.

    carepaths' R-squared is that of the fitted model at the posterior mean of its fixed
    part (``sensitivity._r_squared``); with flat priors that is the OLS fit. (An earlier
    version averaged each draw's own R-squared, Gelman-style, which counts the 24
    coefficients' estimation noise as explained variance: 0.141 and 0.263 here, and the
    R~ product 3.4% low. This test caught it.)
    """
    attrs = sensitivity.draws.attrs
    r2m, r2y = attrs["r2_mediator"], attrs["r2_outcome"]
    at_grid = MEDSENS_RHO**2 * (1 - r2m) * (1 - r2y)
    allowed = 5e-5 + MEDSENS_RHO**2 * 0.010 * 0.9
    assert abs(at_grid - MEDSENS_R2TILDE) <= allowed, (
        f"R~_M^2 R~_Y^2 at rho = {MEDSENS_RHO}: {at_grid:.5f} (R-squared {r2m:.4f}, {r2y:.4f}) vs published "
        f"{MEDSENS_R2TILDE} (OLS R-squared {closed_forms.r2_mediator:.4f}, {closed_forms.r2_outcome:.4f}: "
        f"{MEDSENS_RHO**2 * (1 - closed_forms.r2_mediator) * (1 - closed_forms.r2_outcome):.5f}); "
        f"allowed +-{allowed:.5f}"
    )
    assert abs(r2m - closed_forms.r2_mediator) <= 0.005, f"R_M^2 {r2m:.4f} vs OLS {closed_forms.r2_mediator:.4f}"
    assert abs(r2y - closed_forms.r2_outcome) <= 0.005, f"R_Y^2 {r2y:.4f} vs OLS {closed_forms.r2_outcome:.4f}"
    crossing = sensitivity.crossings().loc["NIE"]
    rho0 = float(crossing["rho_mean_zero"])
    tol = 4 * _crossing_mcse(sensitivity, rho0) + 0.0002
    shares = (1 - closed_forms.r2_mediator) * (1 - closed_forms.r2_outcome)
    exact = closed_forms.rho**2 * shares
    allowed = 2 * abs(closed_forms.rho) * tol * shares + closed_forms.rho**2 * 0.010 * 0.9
    assert abs(crossing["R2tilde_product"] - exact) <= allowed, (
        f"R~ product at the crossing {crossing['R2tilde_product']:.5f} vs closed form {exact:.5f}"
    )
