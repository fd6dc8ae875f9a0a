"""The four-way decomposition and moderated mediation against known truths (issue 14, "Must show").

1. ``fit.fourway()`` equals VanderWeele's closed forms on every draw for a linear-Gaussian
   single-mediator model with an exposure x mediator interaction, and its four components
   add up to the total effect exactly.
2. A fit to simulated data with a moderated ``a`` and ``b`` path recovers the index of
   moderated mediation: its interval covers the truth and excludes 0. The index also
   equals Hayes' closed form of the same draw's parameters.
3. Bad input is refused with a clear error: a moderator without variance, a four-way
   decomposition that needs ``mediator=`` or is not defined, and ``at=`` values that are
   not a confounder's finite values.

The identities in 1 and 3 hold for any parameter values, so those tests use mocked draws
(prior draws, no MCMC, :func:`helpers.mock_fit`). Every test has a fixed seed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import carepaths
from carepaths import CarepathsError, MediationModel, Panel, Spec
from carepaths.causal.identify import identify
from carepaths.exceptions import DataError, IdentificationError
from helpers import mock_fit

LOW, HIGH = -0.5, 1.5  # the exposure contrast x* -> x in the exposure's units (neither 0 nor 1 apart)


def _quiet(fn, *args, **kwargs):
    """Mocked fits have one chain (never converged): silence that warning, nothing else is tested by it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _xm_spec(**over) -> Spec:
    """One normal mediator, no stages, no person effects, support x encouragement in the outcome."""
    d = {
        "exposure": {"name": "support", "contrast": {"kind": "values", "low": LOW, "high": HIGH}},
        "mediators": [{"name": "encouragement", "family": "normal"}],
        "outcome": {"name": "score", "family": "normal"},
        "confounders": [{"name": "severity"},
                        {"name": "sex", "kind": "categorical", "levels": ["f", "m"], "reference": "f"}],
        "interactions": [{"terms": ["support", "encouragement"]}],
    }
    d.update(over)
    return Spec.from_dict(d)


@pytest.fixture(scope="module")
def xm_fit():
    return mock_fit(_xm_spec(), n_persons=120, draws=40, seed=5)


# ----------------------------------------------------------------------------- 1. closed forms
def _model_parameters(fit) -> dict[str, np.ndarray]:
    """The draw's coefficients in VanderWeele & Vansteelandt's notation (model scale, per sample).

    Mediator  M = b0 + b1 x + b2'C + e         (alpha_m, a, gamma_m; sigma_m the SD of e)
    Outcome   Y = t0 + t1 x + t2 M + t3 x M + t4'C + e   (beta0, c, b, b_xm, delta)
    """
    p = fit.parameters().fixed
    return {"b0": p["alpha_m"][:, 0, 0], "b1": p["a"][:, 0, 0], "b2": p["gamma_m"][:, 0, :],
            "t1": p["c"][:, 0], "t2": p["b"][:, 0, 0], "t3": p["b_xm"][:, 0], "sigma": p["sigma_m"][:, 0]}


def _fourway_draws(fw) -> dict[str, np.ndarray]:
    """Each component's draws as (sample,) (one chain, no stages: the 'pooled' row)."""
    return {name: fw.draws[name].values.reshape(-1) for name in ("CDE", "INT_ref", "INT_med", "PIE", "TE")}


@pytest.mark.parametrize("mstar", [None, 1.3], ids=["mstar=mean", "mstar=1.3"])
def test_fourway_equals_vanderweele_closed_forms_per_draw(xm_fit, mstar):
    """VanderWeele (2014, Epidemiology 25:749) / VanderWeele & Vansteelandt (2009): with the
    notation of :func:`_model_parameters`, the contrast x* -> x and the reference m*,

        CDE     = (t1 + t3 m*) (x - x*)
        INT_ref = t3 (E[M(x*)] - m*) (x - x*),   E[M(x*)] = b0 + b1 x* + b2' E[C] + E[e]
        INT_med = t3 b1 (x - x*)^2
        PIE     = (t2 + t3 x*) b1 (x - x*)

    Units: the model works on the standardised scale (``panel.scaling``: model = (value -
    loc) / scale), so x*, x and m* are mapped there with ``to_model``, and the effects come
    back in the outcome's units: a difference on the model scale times ``sd(score)``.

    Which population makes this exact: the mediator's noise enters only INT_ref, through
    E[M(x*)]. In the conditional population each row keeps its own abducted noise
    e_i = M_i - b0 - b1 X_i - b2'C_i, so E[e] is the rows' mean residual under this draw's
    parameters — known exactly — and every component is exact per draw. (In the marginal
    population E[e] is a Monte Carlo mean of fresh noise: see the next test.) CDE, INT_med
    and PIE do not involve the noise at all.

    Tolerance: floating point only (rtol 1e-9, atol 1e-10 on effects of order 0.01-10), and
    CDE + INT_ref + INT_med + PIE = TE to 1e-12 on every draw.
    """
    fit = xm_fit
    fw = _quiet(fit.fourway, mstar=mstar, population="conditional")
    got = _fourway_draws(fw)
    q = _model_parameters(fit)
    panel, ds = fit.panel, fit.panel.dataset
    x_star, x = panel.scaling["support"].to_model(LOW), panel.scaling["support"].to_model(HIGH)
    m_scale = panel.scaling["encouragement"]
    m_star = m_scale.to_model(m_scale.loc if mstar is None else mstar)
    assert fw.draws.attrs["mstar"] == pytest.approx(m_scale.loc if mstar is None else mstar)
    X, M, C = ds["X"].values, ds["M"].values[:, 0], ds["C"].values
    residual_mean = (M[None, :] - q["b0"][:, None] - q["b1"][:, None] * X[None, :] - q["b2"] @ C.T).mean(axis=1)
    E_M_ref = q["b0"] + q["b1"] * x_star + q["b2"] @ C.mean(axis=0) + residual_mean
    d = x - x_star
    sd_y = panel.scaling["score"].scale
    closed = {
        "CDE": (q["t1"] + q["t3"] * m_star) * d,
        "INT_ref": q["t3"] * (E_M_ref - m_star) * d,
        "INT_med": q["t3"] * q["b1"] * d**2,
        "PIE": (q["t2"] + q["t3"] * x_star) * q["b1"] * d,
    }
    for name, value in closed.items():
        np.testing.assert_allclose(got[name], sd_y * value, rtol=1e-9, atol=1e-10, err_msg=name)
    total = got["CDE"] + got["INT_ref"] + got["INT_med"] + got["PIE"]
    np.testing.assert_allclose(total, got["TE"], rtol=0, atol=1e-12)
    # the interaction is real in these draws: both interaction components are far from 0
    assert np.abs(got["INT_med"]).max() > 1e-2 and np.abs(got["INT_ref"]).max() > 1e-3


def test_fourway_marginal_population_noise_enters_only_int_ref(xm_fit):
    """The marginal population (new persons, fresh mediator noise shared across worlds):
    CDE, INT_med and PIE do not involve the noise and equal the closed forms with
    E[M(x*)] = b0 + b1 x* + b2' E[C] exactly (floating point: rtol 1e-9). INT_ref differs
    from its closed form only by t3 (x - x*) ebar, ebar the mean of the n rows' fresh noise
    (normal, SD sigma_m / sqrt(n)): that is Monte Carlo error, so each draw's standardised
    deviation must be below 4.5 (probability of any of 40 draws above: about 3e-4; the seed
    is fixed anyway). TE is still the sum of the four exactly (1e-12).
    """
    fit = xm_fit
    fw = _quiet(fit.fourway, population="marginal", seed=3)
    got = _fourway_draws(fw)
    q = _model_parameters(fit)
    panel, ds = fit.panel, fit.panel.dataset
    x_star, x = panel.scaling["support"].to_model(LOW), panel.scaling["support"].to_model(HIGH)
    m_star = 0.0  # default m*: the observed mean, 0 on the model scale
    C = ds["C"].values
    n, d, sd_y = len(C), x - x_star, panel.scaling["score"].scale
    E_M_ref = q["b0"] + q["b1"] * x_star + q["b2"] @ C.mean(axis=0)
    np.testing.assert_allclose(got["CDE"], sd_y * (q["t1"] + q["t3"] * m_star) * d, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(got["INT_med"], sd_y * q["t3"] * q["b1"] * d**2, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(got["PIE"], sd_y * (q["t2"] + q["t3"] * x_star) * q["b1"] * d, rtol=1e-9, atol=1e-10)
    deviation = got["INT_ref"] - sd_y * q["t3"] * (E_M_ref - m_star) * d
    mc_sd = np.abs(sd_y * q["t3"] * d) * q["sigma"] / np.sqrt(n)
    z = deviation / mc_sd
    assert np.abs(z).max() < 4.5, np.abs(z).max()
    total = got["CDE"] + got["INT_ref"] + got["INT_med"] + got["PIE"]
    np.testing.assert_allclose(total, got["TE"], rtol=0, atol=1e-12)


def test_fourway_with_the_default_shift_contrast_uses_each_rows_own_reference(xm_fit):
    """With the +1 SD shift each row's reference exposure is its own, x*_i = X_i, and
    x - x* = 1 on the model scale; in the conditional population M_i(x*) is the observed
    mediator. Averaging the per-row closed forms over rows:

        CDE = t1 + t3 m*,  INT_ref = t3 (mean M - m*),  INT_med = t3 b1,  PIE = (t2 + t3 mean X) b1

    Tolerance: floating point (rtol 1e-9); the sum is TE to 1e-12.
    """
    fit = xm_fit
    fw = _quiet(fit.fourway, contrast={"kind": "shift_sd", "size": 1.0}, mstar=0.7, population="conditional")
    got = _fourway_draws(fw)
    q = _model_parameters(fit)
    panel, ds = fit.panel, fit.panel.dataset
    m_star = panel.scaling["encouragement"].to_model(0.7)
    X, M = ds["X"].values, ds["M"].values[:, 0]
    sd_y = panel.scaling["score"].scale
    closed = {"CDE": q["t1"] + q["t3"] * m_star, "INT_ref": q["t3"] * (M.mean() - m_star),
              "INT_med": q["t3"] * q["b1"], "PIE": (q["t2"] + q["t3"] * X.mean()) * q["b1"]}
    for name, value in closed.items():
        np.testing.assert_allclose(got[name], sd_y * value, rtol=1e-9, atol=1e-10, err_msg=name)
    total = got["CDE"] + got["INT_ref"] + got["INT_med"] + got["PIE"]
    np.testing.assert_allclose(total, got["TE"], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- 2. moderated mediation
def _moderated_spec() -> Spec:
    return Spec.from_dict({
        "exposure": {"name": "support", "contrast": {"kind": "values", "low": 0.0, "high": 1.0}},
        "mediators": [{"name": "encouragement", "family": "normal"}],
        "outcome": {"name": "score", "family": "normal"},
        "confounders": [{"name": "severity"}],
        "moderation": [{"by": "severity", "paths": ["a:encouragement", "b:encouragement"]}],
    })


W1, W2 = 7.0, 17.0  # severity values (the simulator writes severity = 12 + 5 z, z standard normal)


def test_index_of_moderated_mediation_equals_hayes_closed_form_per_draw():
    """With A(w) = a + a_W w and B(w) = b + b_W w (model scale, w the standardised
    moderator), NIE(w) = B(w) A(w) (x - x*) exactly in the marginal population (the
    mediator's noise cancels from M(x) - M(x*), and there is no exposure x mediator term),
    so the index over two values w1, w2 — the difference quotient per unit of the
    moderator in its own units — is, per draw,

        IMM = sd(Y) (x - x*) [a_W b + a b_W + a_W b_W (z1 + z2)] / sd(severity)

    with z = to_model(w). Tolerance: floating point (rtol 1e-9).
    """
    fit = mock_fit(_moderated_spec(), n_persons=80, draws=30, seed=2)
    eff = _quiet(fit.effects, at={"severity": [W1, W2]})
    imm_table = eff.index_of_moderated_mediation()
    p = fit.parameters().fixed
    a, b = p["a"][:, 0, 0], p["b"][:, 0, 0]
    a_w, b_w = p["a_mod"][:, 0, 0], p["b_mod"][:, 0, 0]  # (sample, mediator, confounder)
    panel = fit.panel
    sw = panel.scaling["severity"]
    z1, z2 = sw.to_model(W1), sw.to_model(W2)
    dx = panel.scaling["support"].to_model(1.0) - panel.scaling["support"].to_model(0.0)
    sd_y = panel.scaling["score"].scale
    closed = sd_y * dx * (a_w * b + a * b_w + a_w * b_w * (z1 + z2)) / sw.scale
    nie = eff.draws["NIE"].values.reshape(-1, 2)  # (sample, at)
    np.testing.assert_allclose((nie[:, 1] - nie[:, 0]) / (W2 - W1), closed, rtol=1e-9, atol=1e-12)
    for k, z in enumerate((z1, z2)):  # each value's NIE
        np.testing.assert_allclose(nie[:, k], sd_y * dx * (a + a_w * z) * (b + b_w * z), rtol=1e-9, atol=1e-12)
    assert imm_table.loc["IMM[NIE]", "mean"] == pytest.approx(closed.mean(), rel=1e-9)


def test_recovery_of_the_index_of_moderated_mediation():
    """Simulated truth (carepaths.simulate, 1,000 rows, seed 11), the generating scale:

        M = alpha + (a + a_W z) x + gamma z + e,   Y = beta0 + c x + (b + b_W z) M + delta z + e,
        z = (severity - 12) / 5,  a = 0.4, b = 0.3, a_W = 0.3, b_W = 0.15

    Setting everyone's severity to w and the exposure 0 -> 1 (its own units), the mediator
    moves by A(w) = a + a_W z(w), and the outcome by B(w) A(w) through it, so the true
    NIE(w) = (a + a_W z)(b + b_W z) in the outcome's units, and the index of moderated
    mediation between w1 = 7 and w2 = 17 (z = -1, +1) is

        IMM = [NIE(17) - NIE(7)] / 10 = [a_W b + a b_W + a_W b_W (z1 + z2)] / 5 = 0.03

    per point of severity. The model is fitted on its standardised scale; the effects
    return in the data's units, so they compare with the truth directly.

    Tolerance: the posterior itself — the 95% interval must cover the truth (posterior SD
    about 0.0035, so the truth is some 8 SDs from 0) and exclude 0; each NIE(w)'s interval
    covers its truth; and NDE(w) is the same at both values on every draw (no c path
    moderated, no exposure x mediator term: floating point, 1e-12).
    """
    spec = _moderated_spec()
    sim = carepaths.simulate(spec, 1000, 1, params={"a_mod": [0.3], "b_mod": [0.15]}, seed=11, mc_persons=200)
    t = sim.params
    a, b = float(t["a"].values.item()), float(t["b"].values.item())
    a_w, b_w = float(t["a_mod"].values.item()), float(t["b_mod"].values.item())
    loc, scale = float(t["confounder_loc"].values.item()), float(t["confounder_scale"].values.item())
    assert (a, b, a_w, b_w, loc, scale) == (0.4, 0.3, 0.3, 0.15, 12.0, 5.0)

    def true_nie(w: float) -> float:
        z = (w - loc) / scale
        return (a + a_w * z) * (b + b_w * z)

    true_imm = (true_nie(W2) - true_nie(W1)) / (W2 - W1)
    assert true_imm == pytest.approx((a_w * b + a * b_w) / scale)  # z1 + z2 = 0 here

    fit = _quiet(MediationModel(spec, sim.panel()).fit, draws=500, tune=500, chains=2, seed=1)
    assert fit.converged, fit.convergence_failures
    eff = fit.effects(at={"severity": [W1, W2]}, seed=0)
    imm = eff.index_of_moderated_mediation().loc["IMM[NIE]"]
    assert imm["lower"] <= true_imm <= imm["upper"], (imm.to_dict(), true_imm)
    assert imm["lower"] > 0, imm.to_dict()  # excludes 0: the moderation is detected
    table = eff.summary()
    for w in (W1, W2):
        row = table.loc[(f"severity={w:g}", "NIE")]
        assert row["lower"] <= true_nie(w) <= row["upper"], (w, row.to_dict(), true_nie(w))
    nde = eff.draws["NDE"].values.reshape(-1, 2)
    np.testing.assert_allclose(nde[:, 0], nde[:, 1], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- 3. bad input
def test_a_moderator_without_variance_is_refused_naming_the_column():
    """A constant numeric moderator (and a near-constant one, and a categorical moderator
    with one level present) cannot be standardised or estimated: Panel.from_frame refuses
    it with a DataError naming the column."""
    spec = _moderated_spec()
    frame = carepaths.simulate(spec, 60, 1, seed=4, mc_persons=50).data
    constant = frame.assign(severity=12.0)
    with pytest.raises(DataError, match=r"column 'severity' is constant \(a numeric confounder"):
        Panel.from_frame(constant, spec)
    near = frame.assign(severity=12.0 + 1e-15 * np.arange(len(frame)))
    with pytest.raises(DataError, match=r"column 'severity' \(a numeric confounder\) is constant within floating"):
        Panel.from_frame(near, spec)
    by_sex = Spec.from_dict({**_moderated_spec().to_dict(),
                             "confounders": [{"name": "severity"},
                                             {"name": "sex", "kind": "categorical", "levels": ["f", "m"],
                                              "reference": "f"}],
                             "moderation": [{"by": "sex", "paths": ["a:encouragement"]}]})
    one_level = carepaths.simulate(by_sex, 60, 1, seed=4, mc_persons=50).data.assign(sex="f")
    with pytest.raises(DataError, match=r"column 'sex': only level 'f' occurs"):
        Panel.from_frame(one_level, by_sex)


@pytest.fixture(scope="module")
def two_mediator_fit():
    spec = _xm_spec(mediators=[{"name": "encouragement", "family": "normal"},
                               {"name": "discouragement", "family": "normal"}],
                    interactions=[{"terms": ["support", "encouragement"]},
                                  {"terms": ["support", "discouragement"]}],
                    moderation=[{"by": "severity", "paths": ["a:encouragement"]}])
    return mock_fit(spec, n_persons=40, draws=4, seed=1)


def test_fourway_needs_one_mediator_and_a_defined_decomposition(two_mediator_fit):
    with pytest.raises(CarepathsError, match="for one mediator; the spec has 2: name one with mediator="):
        _quiet(two_mediator_fit.fourway)
    with pytest.raises(CarepathsError, match="'severity' is not a mediator of the spec"):
        _quiet(two_mediator_fit.fourway, mediator="severity")
    # with separate mechanisms it is defined for each, and adds up
    fw = _quiet(two_mediator_fit.fourway, mediator="discouragement")
    parts = sum(fw.draws[n] for n in ("CDE", "INT_ref", "INT_med", "PIE"))
    np.testing.assert_allclose(parts, fw.draws["TE"], rtol=0, atol=1e-12)
    # a mediator edge encouragement -> discouragement: encouragement confounds
    # discouragement -> score and is affected by support, so the natural indirect effect
    # through discouragement alone is not identified, and its four-way decomposition is
    # refused with that reason. Through encouragement (its descendant included) it is
    # identified, and decomposed: the refusal follows identify(spec)["NIE[<m>]"].
    ordered = _xm_spec(mediators=[{"name": "encouragement", "family": "normal"},
                                  {"name": "discouragement", "family": "normal"}],
                       mediator_edges=[["encouragement", "discouragement"]])
    verdicts = identify(ordered)
    assert not verdicts["NIE[discouragement]"].identified and verdicts["NIE[encouragement]"].identified
    fit = mock_fit(ordered, n_persons=30, draws=4, seed=1)
    with pytest.raises(IdentificationError, match="four-way decomposition through 'discouragement' alone is "
                                                  "not defined for this spec: exposure-induced mediator-outcome "
                                                  "confounding: encouragement is affected by support") as err:
        _quiet(fit.fourway, mediator="discouragement")
    assert isinstance(err.value, CarepathsError)
    fw = _quiet(fit.fourway, mediator="encouragement")
    parts = sum(fw.draws[n] for n in ("CDE", "INT_ref", "INT_med", "PIE"))
    np.testing.assert_allclose(parts, fw.draws["TE"], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ({"support": [0.0, 1.0]}, "'support' is not a confounder of the spec"),
        ({"encouragement": [0.0, 1.0]}, "'encouragement' is not a confounder of the spec"),
        ({"severity": [5.0, float("nan")]}, r"at\['severity'\]: the values of a numeric moderator must be finite"),
        ({"severity": [float("-inf"), 5.0]}, r"at\['severity'\]: the values of a numeric moderator must be finite"),
    ],
    ids=["exposure", "mediator", "nan", "-inf"],
)
def test_effects_at_refuses_a_non_confounder_and_non_finite_values(two_mediator_fit, at, message):
    with pytest.raises(CarepathsError, match=message):
        _quiet(two_mediator_fit.effects, at=at)
