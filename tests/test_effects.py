"""Effects by g-computation: closed-form oracles, exact identities, scales, errors.

Fast tests use fits from mocked sampling (prior draws through ``pymc.testing.mock_sample``):
the identities checked here hold draw by draw whatever the parameter values, so no MCMC is
needed. The statistical oracle on simulated data (coverage of the true effects, the
paradox) is in ``test_effects_recovery.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import carepaths
from carepaths import CarepathsError, Spec
from carepaths.structural import equations
from carepaths.exceptions import IdentificationError
from carepaths.model.fit import Fit
from helpers import mock_fit


def _linear_spec(person_effects: str = "intercepts", **over) -> Spec:
    d = {
        "stages": ["crisis", "recovery", "maintenance"],
        "columns": {"person": "id", "wave": "wave", "stage": "stage"},
        "exposure": {"name": "support"},
        "mediators": [
            {"name": "encouragement", "family": "normal"},
            {"name": "discouragement", "family": "normal"},
        ],
        "outcome": {"name": "score", "family": "normal"},
        "confounders": [{"name": "severity"}],
        "structure": {"pool_stages": True, "person_effects": person_effects},
    }
    d.update(over)
    return Spec.from_dict(d)


def _effects(fit: Fit, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        return fit.effects(**kw)


@pytest.mark.parametrize("population", ["marginal", "conditional"])
@pytest.mark.parametrize("person_effects", ["none", "intercepts", "slopes"])
def test_linear_gaussian_closed_form_per_draw(population, person_effects):
    """Linear-Gaussian model: NIE = sum_k a_k b_k, NDE = c (times the shift), per draw.

    With a linear outcome the mediator noise cancels between worlds (common random
    numbers), so the g-computation must equal the product-of-coefficients closed form to
    floating-point precision (tolerance 1e-9 relative), for every stage and draw. With
    random slopes the closed form becomes sum_k E[(a_k + a_ik)(b_k + b_ik)] over the rows,
    checked with the person slopes the computation used (conditional population only).
    """
    spec = _linear_spec(person_effects)
    fit = mock_fit(spec)
    eff = _effects(fit, population=population)
    p = fit.parameters()
    sd_y = fit.panel.scaling["score"].scale  # effects are in original units of the outcome
    stage_idx = fit.panel.dataset["stage_idx"].values
    a, b, c = p.fixed["a"], p.fixed["b"], p.fixed["c"]  # (sample, mediator, stage)
    te = eff.draws["TE"].values.reshape(p.n_samples, -1)
    nde = eff.draws["NDE"].values.reshape(p.n_samples, -1)
    nie = eff.draws["NIE"].values.reshape(p.n_samples, -1)
    iie = eff.draws["IIE"].values.reshape(p.n_samples, 4, 2)
    if person_effects == "slopes":
        if population == "marginal":
            # new persons' slopes have mean 0 but cov(a_i, b_i) enters: check only the identities
            np.testing.assert_allclose(te, nde + nie, rtol=1e-9, atol=1e-12)
            return
        K = 2
        slopes = p.person["slopes"][:, fit.panel.dataset["person_idx"].values]  # (sample, obs, slope)
        a_row = a[:, :, stage_idx].transpose(0, 2, 1) + slopes[:, :, :K]
        b_row = b[:, :, stage_idx].transpose(0, 2, 1) + slopes[:, :, K : 2 * K]
        c_row = c[:, stage_idx] + slopes[:, :, 2 * K]
        for s in range(3):
            rows = stage_idx == s
            np.testing.assert_allclose(nie[:, s], sd_y * (a_row[:, rows] * b_row[:, rows]).sum(-1).mean(-1), rtol=1e-9)
            np.testing.assert_allclose(nde[:, s], sd_y * c_row[:, rows].mean(-1), rtol=1e-9)
        return
    for s in range(3):
        np.testing.assert_allclose(nie[:, s], sd_y * (a[:, :, s] * b[:, :, s]).sum(axis=1), rtol=1e-9)
        np.testing.assert_allclose(nde[:, s], sd_y * c[:, s], rtol=1e-9)
        np.testing.assert_allclose(te[:, s], sd_y * (c[:, s] + (a[:, :, s] * b[:, :, s]).sum(axis=1)), rtol=1e-9)
        np.testing.assert_allclose(iie[:, s], sd_y * a[:, :, s] * b[:, :, s], rtol=1e-9, atol=1e-12)
    # pooled = stage-mix weighted average of the stages (difference scale, same rows)
    weights = np.bincount(stage_idx, minlength=3) / len(stage_idx)
    np.testing.assert_allclose(te[:, 3], te[:, :3] @ weights, rtol=1e-9)


def test_binary_outcome_identities_on_every_scale():
    """TE = NDE + NIE exactly on the difference scale, TE = NDE x NIE on ratio scales."""
    spec = _linear_spec(outcome={"name": "care_use", "family": "bernoulli"})
    fit = mock_fit(spec)
    diff = _effects(fit)
    d = diff.draws
    np.testing.assert_allclose(d["TE"], d["NDE"] + d["NIE"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(d["NIE"], d["IIE"].sum("mechanism") + d["interdependence"], atol=1e-12)
    for scale in ("risk_ratio", "odds_ratio"):
        r = _effects(fit, scale=scale).draws
        np.testing.assert_allclose(r["TE"], r["NDE"] * r["NIE"], rtol=1e-10)
        assert float(r["TE"].min()) > 0
    # the risk ratio is the ratio of the same worlds the risk difference subtracts
    rr = _effects(fit, scale="risk_ratio").draws
    np.testing.assert_allclose(rr["TE"], d["Y1"] / d["Y0"], rtol=1e-10)
    np.testing.assert_allclose(d["TE"], d["Y1"] - d["Y0"], atol=1e-12)


def test_same_seed_same_numbers_other_seed_other_noise():
    spec = _linear_spec(outcome={"name": "care_use", "family": "bernoulli"})
    fit = mock_fit(spec, draws=20)
    a = _effects(fit, seed=5).draws
    b = _effects(fit, seed=5).draws
    c = _effects(fit, seed=6).draws
    assert a.identical(b)
    assert not np.allclose(a["TE"], c["TE"])  # marginal population: fresh Monte Carlo noise


@pytest.mark.parametrize("population", ["marginal", "conditional"])
def test_threaded_chunks_give_the_serial_numbers(population):
    """Chunks evaluated on threads draw from their own child generators: the numbers are
    those of the serial loop, bit for bit, whatever the number of workers."""
    from carepaths.counterfactual import population as pop

    spec = _linear_spec(outcome={"name": "care_use", "family": "bernoulli"})
    fit = mock_fit(spec, draws=20)
    params = fit.parameters()
    rows = pop.RowData.from_panel(fit.panel)

    def work(chunk):
        return chunk.latents.sum(axis=(0, 1)) + np.asarray(chunk.rows.v).sum(axis=0)

    serial = [r for _, r in pop.map_chunks(
        params, rows, population, np.random.default_rng(4), work, chunk_size=3, workers=1
    )]
    for workers in (2, 3):
        mapped = pop.map_chunks(
            params, rows, population, np.random.default_rng(4), work, chunk_size=3, workers=workers
        )
        assert [d.start for d, _ in mapped] == list(range(0, 20, 3))
        np.testing.assert_array_equal(np.concatenate([r for _, r in mapped]), np.concatenate(serial))
    a = _effects(fit, population=population, seed=2).draws
    pop_max = pop.MAX_WORKERS
    try:  # the effects themselves, serial against threaded
        pop.MAX_WORKERS = 1
        b = _effects(fit, population=population, seed=2).draws
    finally:
        pop.MAX_WORKERS = pop_max
    assert a.identical(b)


def test_single_precision_inverse_link_matches_double():
    """The float32 logit/log links used by g-computation: within 1e-7 absolute and 1e-6
    relative of double precision (rounding eta to float32 moves it by |eta| x 6e-8, so
    exp(eta) by that relative amount: about 2e-6 at |eta| = 30, where p is below 1e-13 and
    the absolute error is nil), exact 0 and 1 in the tails, no overflow warnings."""
    eta = np.concatenate([np.linspace(-30, 30, 10_001), [-1e4, 1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p32 = equations.inverse_link("bernoulli", eta, dtype=np.float32)
        mu32 = equations.inverse_link("negative_binomial", eta[:-2] / 10, dtype=np.float32)
    assert p32.dtype == np.float32 and mu32.dtype == np.float32
    p64 = equations.inverse_link("bernoulli", eta[:-2])
    np.testing.assert_allclose(p32[:-2], p64, rtol=0, atol=1e-7)
    moderate = np.abs(eta[:-2]) <= 8  # |eta| x 6e-8 < 5e-7: relative error below 1e-6
    np.testing.assert_allclose(p32[:-2][moderate], p64[moderate], rtol=1e-6)
    np.testing.assert_allclose(mu32, np.exp(eta[:-2] / 10), rtol=1e-6)
    assert p32[-2] == 0.0 and p32[-1] == 1.0
    assert equations.inverse_link("normal", eta, dtype=np.float32) is eta  # identity: nothing to evaluate


def test_conditional_population_keeps_observed_mediators():
    """x0 = observed exposure: the world Y(x0, M(x0)) uses the observed mediators exactly."""
    spec = _linear_spec(outcome={"name": "care_use", "family": "bernoulli"}, structure={"person_effects": "none"})
    fit = mock_fit(spec, draws=10)
    eff = _effects(fit, population="conditional")
    p = fit.parameters()
    ds = fit.panel.dataset
    for i in (0, 7):
        eta = equations.outcome_predictor(
            p.sample(i), x=ds["X"].values, M=ds["M"].values, C=ds["C"].values, stage_idx=ds["stage_idx"].values
        )
        expected = equations.outcome_mean("bernoulli", eta).mean()
        # g-computation evaluates the inverse logit in single precision (a relative
        # rounding of about 6e-8 per probability); anything beyond 1e-6 is a real error
        assert eff.draws["Y0"].values.reshape(-1, 4)[i, 3] == pytest.approx(expected, rel=1e-6)


def test_summary_table_shape_interval_and_unconverged_warning():
    spec = _linear_spec()
    fit = mock_fit(spec, draws=30)
    assert not fit.converged  # one chain of prior draws
    with pytest.warns(carepaths.ConvergenceWarning, match="NOT converge"):
        eff = fit.effects()
    table = eff.summary()
    assert list(table.index.get_level_values("stage").unique()) == ["crisis", "recovery", "maintenance", "pooled"]
    effects = list(table.loc["crisis"].index)
    # a normal outcome without mediator edges: interdependence is 0 by construction, left out
    assert effects == ["TE", "NDE", "NIE", "IIE[encouragement]", "IIE[discouragement]"]
    assert {"mean", "sd", "lower", "upper", "P(>0)", "warning"} <= set(table.columns)
    assert (table["warning"] == "NOT CONVERGED").all()
    assert table.attrs["interval"] == "95% equal-tailed interval"
    assert (table["lower"] <= table["mean"]).all() and (table["mean"] <= table["upper"]).all()
    draws = eff.draws["TE"].sel(stage="crisis").values.ravel()
    assert table.loc[("crisis", "TE"), "lower"] == pytest.approx(np.quantile(draws, 0.025))
    assert "NOT CONVERGED" in repr(eff)


def test_bad_arguments_raise_clear_errors():
    fit = mock_fit(_linear_spec(), draws=5)
    with pytest.raises(CarepathsError, match="scale must be one of"):
        fit.effects(scale="log")
    with pytest.raises(CarepathsError, match="needs a binary outcome"):
        fit.effects(scale="odds_ratio")
    with pytest.raises(CarepathsError, match="population must be one of"):
        fit.effects(population="everyone")
    with pytest.raises(CarepathsError, match="by must be"):
        fit.effects(by="wave")


def test_unidentified_natural_effects_are_refused_but_the_total_effect_is_reported():
    spec = _linear_spec(unmeasured_confounding=[["encouragement", "score"]])
    fit = mock_fit(spec, draws=5)
    with pytest.raises(IdentificationError, match="encouragement"):
        fit.effects()
    with pytest.raises(IdentificationError, match="encouragement"):
        fit.effects(estimands=["TE", "NIE"])
    te_only = _effects(fit, estimands=["TE"])
    assert set(te_only.draws.data_vars) == {"TE", "Y0", "Y1"}
    assert list(te_only.summary().loc["crisis"].index) == ["TE"]
    with pytest.raises(CarepathsError, match="estimands must be"):
        fit.effects(estimands=["ACME"])


def test_contrast_override_scales_linear_effects():
    """Half an SD gives half the effect of one SD in a linear model (exact)."""
    fit = mock_fit(_linear_spec(), draws=10)
    one = _effects(fit).draws["TE"]
    half = _effects(fit, contrast={"kind": "shift_sd", "size": 0.5}).draws["TE"]
    np.testing.assert_allclose(half, 0.5 * one, rtol=1e-9)
    assert "+ 0.5 SD" in _effects(fit, contrast={"kind": "shift_sd", "size": 0.5}).draws.attrs["contrast"]


def test_batched_equations_equal_one_draw_at_a_time():
    """The batched layout (trailing draw axis) gives the per-draw results."""
    spec = carepaths.load_spec()
    d = spec.to_dict()
    d["mediators"][1] = {"name": "alt_coping", "family": "ordinal", "categories": [1, 2, 3, 4]}
    d["mediators"][2] = {"name": "discouragement", "family": "bernoulli"}
    d["mediator_edges"] = [["encouragement", "attitudes"]]
    spec = Spec.from_dict(d)
    fit = mock_fit(spec, n_persons=20, draws=6)
    p = fit.parameters()
    ds = fit.panel.dataset
    rng = np.random.default_rng(1)
    n, K, B = fit.panel.n_obs, 5, p.n_samples
    latents = rng.logistic(size=(n, K, B))
    batched = {k: np.moveaxis(v, 0, -1) for k, v in p.fixed.items()}
    common = dict(families=[m.family for m in spec.mediators], order=[0, 1, 2, 3, 4],
                  C=ds["C"].values, stage_idx=ds["stage_idx"].values)
    M_b = equations.mediators_from_latents(batched, x=ds["X"].values[:, None], latents=latents, **common)
    for i in range(B):
        M_i = equations.mediators_from_latents(p.sample(i), x=ds["X"].values, latents=latents[..., i], **common)
        np.testing.assert_allclose(M_b[..., i], M_i, rtol=1e-12)
        eta_b = equations.outcome_predictor(batched, x=ds["X"].values[:, None], M=M_b, C=ds["C"].values,
                                            stage_idx=ds["stage_idx"].values)
        eta_i = equations.outcome_predictor(p.sample(i), x=ds["X"].values, M=M_i, C=ds["C"].values,
                                            stage_idx=ds["stage_idx"].values)
        np.testing.assert_allclose(eta_b[..., i], eta_i, rtol=1e-12)


@pytest.mark.parametrize("family", ["normal", "bernoulli", "ordinal"])
def test_abducted_latent_reproduces_the_observed_mediator(family):
    rng = np.random.default_rng(4)
    eta = rng.normal(size=500)
    cuts = np.array([-1.0, 0.2, 1.5, np.nan])
    latent_true = equations.draw_latent(family, rng, (500,), sigma=0.7)
    observed = equations.mediator_from_latent(family, eta, latent_true, cutpoints=cuts)
    latent = equations.latent_from_observed(family, eta, observed, rng, cutpoints=cuts)
    np.testing.assert_array_equal(equations.mediator_from_latent(family, eta, latent, cutpoints=cuts), observed)
    if family != "normal":  # a genuine draw, not the true latent
        assert not np.allclose(latent, latent_true)


def test_outcome_mediator_slopes_split_the_predictor():
    rng = np.random.default_rng(2)
    params = {"beta0": rng.normal(size=3), "c": rng.normal(size=3), "b": rng.normal(size=(2, 3)),
              "delta": rng.normal(size=1)}
    x, C, s = rng.normal(size=50), rng.normal(size=(50, 1)), rng.integers(0, 3, 50)
    M, b_i = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    full = equations.outcome_predictor(params, x=x, M=M, C=C, stage_idx=s, person_slope_b=b_i)
    none = equations.outcome_predictor(params, x=x, M=np.zeros((50, 0)), C=C, stage_idx=s, person_slope_b=b_i)
    slopes = equations.outcome_mediator_slopes(params, stage_idx=s, person_slope_b=b_i)
    np.testing.assert_allclose(full, none + (slopes * M).sum(axis=1), rtol=1e-12)
