"""Links that users choose: probit as well as logit for binary and ordinal variables.

Every layer is checked against closed forms from ``scipy.stats.norm``: the spec key
(round trip, defaults that change nothing, bad input), the structural equations (inverse
link, latent noise, abduction to a truncated normal), the PyMC log-densities of probit
mediators and outcome and the checks' pointwise log-likelihood, the simulator's and the
g-computation's effects (risk difference, risk ratio and odds ratio) and an intervention,
and (slow) a fit that recovers the paths of a simulated probit panel.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

import carepaths
from carepaths import MediationModel, Panel, Spec, SpecError
from carepaths.checks.loo import outcome_loglik
from carepaths.spec import Mediator, Outcome
from carepaths.structural import equations
from carepaths.structural.parameters import ParameterSet

norm = stats.norm


def _spec_dict(link: str = "probit") -> dict:
    """Binary exposure; a bernoulli, an ordinal and a normal mediator; binary outcome."""
    return {
        "name": "links",
        "exposure": {"name": "x", "kind": "binary", "contrast": {"kind": "values", "low": 0.0, "high": 1.0}},
        "mediators": [
            {"name": "mb", "family": "bernoulli", "link": link},
            {"name": "mo", "family": "ordinal", "categories": [1, 2, 3, 4], "link": link},
            {"name": "mn", "family": "normal"},
        ],
        "outcome": {"name": "y", "family": "bernoulli", "link": link},
        "confounders": [{"name": "age"}],
    }


@pytest.fixture(scope="module")
def probit_spec() -> Spec:
    return Spec.from_dict(_spec_dict())


# ----------------------------------------------------------------------------- spec
def test_spec_round_trip_and_the_default_writes_nothing(probit_spec):
    assert [m.link for m in probit_spec.mediators] == ["probit", "probit", None]
    assert probit_spec.outcome.link == "probit"
    d = probit_spec.to_dict()
    assert d["mediators"][0]["link"] == d["mediators"][1]["link"] == d["outcome"]["link"] == "probit"
    assert "link" not in d["mediators"][2]
    assert Spec.from_dict(d) == probit_spec
    assert Spec.from_toml(probit_spec.to_toml()) == probit_spec
    assert "probit link" in probit_spec.describe()

    # logit, written or not, is the default: the same spec, dict, TOML and hash as before
    from carepaths.model.fit import spec_hash

    written, unwritten = _spec_dict("logit"), _spec_dict("logit")
    for part in (*unwritten["mediators"], unwritten["outcome"]):
        part.pop("link", None)
    a, b = Spec.from_dict(written), Spec.from_dict(unwritten)
    assert a == b and a.to_dict() == b.to_dict() and spec_hash(a) == spec_hash(b)
    assert "link =" not in a.to_toml()
    assert [m.link for m in a.mediators] == ["logit", "logit", None] and a.outcome.link == "logit"
    for name in carepaths.spec.SHIPPED_SPECS:
        assert "link =" not in carepaths.load_spec(name).to_toml()
    # Python construction resolves the default the same way
    assert Mediator("m", family="bernoulli") == Mediator("m", family="bernoulli", link="logit")
    assert Outcome("y", family="normal").link is None


@pytest.mark.parametrize(
    ("where", "value", "match"),
    [
        ("mediators.2", "probit", r"spec key 'mediators\[2\]\.link' applies to bernoulli and ordinal mediators only.*normal mediator has one link \(the identity\)"),
        ("mediators.2", "logit", r"'mediators\[2\]\.link' applies to bernoulli and ordinal"),
        ("mediators.0", "probitt", r"spec key 'mediators\[0\]\.link' has unknown link 'probitt'\. Did you mean 'probit'\?.*logit, probit"),
        ("mediators.1", "Logit", r"'mediators\[1\]\.link' has unknown link 'Logit'\. Did you mean 'logit'\?"),
        ("mediators.0", 1, r"'mediators\[0\]\.link' has unknown link 1\..*Expected one of: logit, probit"),
        ("outcome", "probti", r"spec key 'outcome\.link' has unknown link 'probti'\. Did you mean 'probit'\?"),
        ("outcome", "cloglog", r"'outcome\.link' has unknown link 'cloglog'.*Expected one of: logit, probit"),
    ],
)
def test_bad_links_are_refused_naming_the_key(where, value, match):
    d = _spec_dict()
    part = d["outcome"] if where == "outcome" else d["mediators"][int(where.split(".")[1])]
    part["link"] = value
    with pytest.raises(SpecError, match=match):
        Spec.from_dict(d)


@pytest.mark.parametrize("family", ["normal", "negative_binomial"])
def test_an_outcome_family_without_a_choice_refuses_link(family):
    d = _spec_dict()
    d["outcome"]["family"] = family
    with pytest.raises(SpecError, match=rf"spec key 'outcome\.link' applies to bernoulli outcomes only: a {family} outcome"):
        Spec.from_dict(d)


def test_a_misspelt_link_key_is_suggested_and_files_are_named(tmp_path):
    d = _spec_dict()
    d["mediators"][0]["lnik"] = d["mediators"][0].pop("link")
    with pytest.raises(SpecError, match=r"unknown spec key 'mediators\[0\]\.lnik'\. Did you mean 'link'\?"):
        Spec.from_dict(d)
    path = tmp_path / "bad.toml"
    path.write_text(Spec.from_dict(_spec_dict()).to_toml().replace('link = "probit"', 'link = "probt"', 1))
    with pytest.raises(SpecError, match=r"bad\.toml': spec key 'mediators\[0\]\.link' has unknown link 'probt'"):
        carepaths.load_spec(path)
    with pytest.raises(SpecError, match="link applies to bernoulli and ordinal mediators only"):
        Mediator("m", family="normal", link="probit")
    with pytest.raises(SpecError, match="unknown link 'probt'. Did you mean 'probit'"):
        Outcome("y", family="bernoulli", link="probt")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- equations
ETA = np.concatenate([[-40.0, -9.0, -1e-300, 0.0, 1e-300, 9.0, 40.0], np.linspace(-8, 8, 161)])


def test_inverse_link_and_latent_noise_are_the_normal_cdf_and_quantile():
    np.testing.assert_allclose(equations.inverse_link("bernoulli", ETA, link="probit"), norm.cdf(ETA), rtol=1e-14)
    single = equations.inverse_link("bernoulli", ETA, link="probit", dtype=np.float32)
    assert single.dtype == np.float32
    # single precision: Phi of the rounded predictor, rounded (as the logit path: exp(-eta) in float32)
    np.testing.assert_allclose(single, norm.cdf(ETA.astype(np.float32).astype(float)), rtol=1.2e-7, atol=1e-45)
    np.testing.assert_allclose(single, norm.cdf(ETA), rtol=0, atol=1e-7)
    np.testing.assert_array_equal(equations.outcome_mean("bernoulli", ETA, link="probit"), norm.cdf(ETA))
    # the default and "logit" are the logistic function, as before
    np.testing.assert_array_equal(equations.inverse_link("bernoulli", ETA), equations.inverse_link("bernoulli", ETA, link="logit"))
    np.testing.assert_allclose(equations.inverse_link("bernoulli", ETA), stats.logistic.cdf(ETA), rtol=1e-14)
    u = np.array([1e-300, 1e-10, 0.01, 0.3, 0.5, 0.9, 1 - 1e-12])
    for family in ("bernoulli", "ordinal"):
        np.testing.assert_allclose(equations.latent_from_uniform(family, u, link="probit"), norm.ppf(u), rtol=1e-13)
        np.testing.assert_allclose(equations.latent_from_uniform(family, u), stats.logistic.ppf(u), rtol=1e-10)
    with pytest.raises(ValueError, match="unknown link 'cloglog'"):
        equations.inverse_link("bernoulli", ETA, link="cloglog")


def test_fresh_latent_noise_is_standard_normal_and_mediators_follow():
    rng = np.random.default_rng(1)
    latent = equations.draw_latent("bernoulli", rng, (20_000,), link="probit")
    assert latent.dtype == np.float64
    assert stats.kstest(latent, norm.cdf).pvalue > 0.01
    logistic = equations.draw_latent("ordinal", np.random.default_rng(1), (20_000,))
    assert stats.kstest(logistic, stats.logistic.cdf).pvalue > 0.01
    # P(M = 1) = Phi(eta) and the ordinal categories' probabilities Phi(c_k - eta) - Phi(c_{k-1} - eta)
    eta, cuts = 0.4, np.array([-1.0, 0.3, 1.2])
    n = 200_000
    m = equations.draw_mediator("bernoulli", np.full(n, eta), np.random.default_rng(2).random(n), link="probit")
    assert abs(m.mean() - norm.cdf(eta)) < 4 * np.sqrt(norm.cdf(eta) * norm.sf(eta) / n)
    codes = equations.draw_mediator("ordinal", np.full(n, eta), np.random.default_rng(3).random(n), cutpoints=cuts,
                                    link="probit")
    probs = np.diff(norm.cdf(np.r_[-np.inf, cuts, np.inf] - eta))
    counts = np.bincount(codes.astype(int), minlength=4)
    assert stats.chisquare(counts, probs * n).pvalue > 0.01
    y = equations.draw_outcome("bernoulli", np.full(n, -0.7), np.random.default_rng(4), link="probit")
    assert abs(y.mean() - norm.cdf(-0.7)) < 4 * np.sqrt(norm.cdf(-0.7) * norm.sf(-0.7) / n)


def test_abduction_returns_the_observed_category_exactly():
    rng = np.random.default_rng(5)
    eta = np.r_[ETA, rng.normal(scale=3.0, size=500)]
    for observed in (np.zeros_like(eta), np.ones_like(eta), (rng.random(eta.size) < 0.5).astype(float)):
        latent = equations.latent_from_observed("bernoulli", eta, observed, rng, link="probit")
        assert np.isfinite(latent).all()
        np.testing.assert_array_equal(equations.mediator_from_latent("bernoulli", eta, latent), observed)
    cuts = np.array([-1.0, 0.3, 1.2, np.nan])  # NaN-padded, as the translator pads them
    codes = rng.integers(0, 4, eta.size).astype(float)
    latent = equations.latent_from_observed("ordinal", eta, codes, rng, cutpoints=cuts, link="probit")
    assert np.isfinite(latent).all()
    np.testing.assert_array_equal(equations.mediator_from_latent("ordinal", eta, latent, cutpoints=cuts), codes)
    # batched: (obs, draw) predictors and each draw's own cutpoints (mediator's cut axis first)
    draws = 7
    eta2 = rng.normal(scale=2.0, size=(eta.size, draws))
    cuts2 = np.sort(rng.normal(size=(3, draws)), axis=0)
    latent = equations.latent_from_observed("ordinal", eta2, codes, rng, cutpoints=cuts2, link="probit")
    back = equations.mediator_from_latent("ordinal", eta2, latent, cutpoints=cuts2)
    np.testing.assert_array_equal(back, np.broadcast_to(codes[:, None], back.shape))


@pytest.mark.parametrize(
    ("family", "eta", "observed", "lower", "upper"),
    [
        ("ordinal", 0.7, 1.0, -1.0 - 0.7, 0.3 - 0.7),  # between two cutpoints
        ("ordinal", -0.5, 3.0, 1.2 + 0.5, np.inf),  # the top category
        ("bernoulli", -3.0, 1.0, 3.0, np.inf),  # an unlikely 1: the upper tail
        ("bernoulli", 9.0, 0.0, -np.inf, -9.0),  # a very unlikely 0: far in the lower tail
        ("bernoulli", -12.0, 1.0, 12.0, np.inf),  # beyond where Phi(z) rounds to 1
    ],
)
def test_abducted_latents_are_truncated_standard_normal(family, eta, observed, lower, upper):
    """Kolmogorov-Smirnov against scipy's truncated normal (fixed seed; p > 0.01)."""
    n = 5000
    cuts = np.array([-1.0, 0.3, 1.2]) if family == "ordinal" else None
    latent = equations.latent_from_observed(family, np.full(n, eta), np.full(n, observed), np.random.default_rng(6),
                                            cutpoints=cuts, link="probit")
    assert ((latent > lower) & (latent < upper)).all()
    result = stats.kstest(latent, stats.truncnorm(lower, upper).cdf)
    assert result.pvalue > 0.01, result


# ----------------------------------------------------------------------------- likelihoods
@pytest.fixture(scope="module")
def probit_model(probit_spec):
    sim = carepaths.simulate(probit_spec, n_persons=400, n_waves=1, seed=3, mc_persons=1000)
    panel = Panel.from_frame(sim.data, probit_spec)
    return MediationModel(probit_spec, panel)


def _pointer(pm_model):
    """A function: constrained values by variable name -> the model's point (transformed value variables).

    (``pymc.compute_log_likelihood`` refuses models with initial values, as the ordinal
    cutpoints have, so the tests evaluate the model's own log-density at points like this.)
    """
    import pytensor
    import pytensor.tensor as pt

    forward = {}
    for rv in pm_model.free_RVs:
        transform = pm_model.rvs_to_transforms.get(rv)
        value = pt.tensor(dtype="float64", shape=(None,) * rv.ndim)
        fn = None if transform is None else pytensor.function(
            [value], transform.forward(value, *rv.owner.inputs), on_unused_input="ignore")
        forward[rv.name] = (pm_model.rvs_to_values[rv].name, fn)

    def point(values):
        out = pm_model.initial_point()
        for name, (value_name, fn) in forward.items():
            if name in values:
                v = np.asarray(values[name], dtype=float)
                out[value_name] = v if fn is None else fn(v)
        return out

    return point


def _point(model, values):
    """The model's value variables (transformed) at constrained ``values``; the rest at the initial point."""
    return _pointer(model.model)(values)


def test_probit_log_densities_equal_scipy(probit_model):
    """The PyMC log-density of each probit variable at a test point equals scipy's."""
    spec, panel, pm_model = probit_model.spec, probit_model.panel, probit_model.model
    rng = np.random.default_rng(7)
    values = {
        "alpha_m": rng.normal(scale=0.5, size=(3, 1)), "a": rng.normal(scale=0.5, size=(3, 1)),
        "b": rng.normal(scale=0.8, size=(3, 1)), "c": np.array([0.3]), "beta0": np.array([-0.4]),
        "gamma_m": rng.normal(scale=0.3, size=(3, 1)), "delta": np.array([0.2]),
        "cutpoints_mo": np.array([-0.9, 0.1, 1.3]), "sigma_m": np.array([0.8]),
    }
    point = _point(probit_model, values)
    ds = panel.dataset
    p = ParameterSet.from_truth(spec, values).sample(0)
    common = {"x": ds["X"].values, "C": ds["C"].values, "stage_idx": ds["stage_idx"].values}
    M = ds["M"].values
    eta_b = equations.mediator_predictor(p, 0, **common)
    eta_o = equations.mediator_predictor(p, 1, **common)
    eta_y = equations.outcome_predictor(p, M=M, **common)
    assert p["alpha_m"][1, 0] == 0.0  # the ordinal first-stage intercept: carried by the cutpoints

    edges = np.r_[-np.inf, values["cutpoints_mo"], np.inf]
    code = M[:, 1].astype(int)
    expected = {
        "M_mb": np.where(M[:, 0] == 1, norm.logcdf(eta_b), norm.logcdf(-eta_b)),
        "M_mo": np.log(norm.cdf(edges[code + 1] - eta_o) - norm.cdf(edges[code] - eta_o)),
        "Y": np.where(ds["Y"].values == 1, norm.logcdf(eta_y), norm.logcdf(-eta_y)),
    }
    # pm.OrderedProbit evaluates with float32 constants (PyMC's dist_math: pt.sqrt(2.0) and
    # pt.log(0.5)), a relative error of about 4e-8 in every z: within 1e-7 of scipy, not 1e-10
    tolerance = {"M_mb": 1e-10, "M_mo": 1e-7, "Y": 1e-10}
    for name, want in expected.items():
        rv = pm_model[name]
        logp = pm_model.logp(vars=[rv], sum=False, jacobian=False)[0]
        got = pm_model.compile_fn(logp, inputs=pm_model.value_vars, on_unused_input="ignore")(point)
        np.testing.assert_allclose(got, want, rtol=tolerance[name], atol=1e-12, err_msg=name)
        # the checks' pointwise log-likelihood is the model's density
        if name == "Y":
            ours = outcome_loglik("bernoulli", ds["Y"].values.astype(float), eta_y, sigma=np.nan, phi=np.nan,
                                  link="probit")
            np.testing.assert_allclose(ours, got, rtol=1e-12, atol=1e-14)


def test_the_probit_outcome_density_is_exact_in_both_tails():
    """log Phi((2y - 1) eta) and its gradient, far into both tails, in the compiled (Numba) form."""
    import pytensor
    import pytensor.tensor as pt

    from carepaths.model.build import _bernoulli_probit_logp

    y, eta = pt.dvector("y"), pt.dvector("eta")
    logp = _bernoulli_probit_logp(y, eta)
    f = pytensor.function([y, eta], [logp, pytensor.grad(logp.sum(), eta)], mode="NUMBA")
    for value in (0.0, 1.0):
        yv = np.full(ETA.size, value)
        got, grad = f(yv, ETA)
        z = (2 * value - 1) * ETA
        np.testing.assert_allclose(got, norm.logcdf(z), rtol=1e-12, atol=1e-300)
        # d/d eta log Phi(z) = (2y - 1) phi(z) / Phi(z) = (2y - 1) exp(logpdf - logcdf)
        np.testing.assert_allclose(grad, (2 * value - 1) * np.exp(norm.logpdf(z) - norm.logcdf(z)), rtol=1e-9,
                                   atol=1e-300)
        np.testing.assert_allclose(outcome_loglik("bernoulli", yv, ETA, sigma=np.nan, phi=np.nan, link="probit"),
                                   norm.logcdf(z), rtol=1e-13, atol=1e-300)


def test_a_logit_model_keeps_its_likelihoods():
    """The default link builds the logit graph as before: PyMC's Bernoulli, OrderedLogistic, the one-pass Op."""
    from pytensor.graph.traversal import ancestors

    from carepaths.model._logit import LogSigmoidWithDerivative

    def ops(link: str) -> str:
        spec = Spec.from_dict(_spec_dict(link))
        sim = carepaths.simulate(spec, n_persons=50, n_waves=1, seed=3, mc_persons=200)
        model = MediationModel(spec, Panel.from_frame(sim.data, spec)).model
        assert [v.name for v in model.free_RVs] == ["alpha_m", "a", "b", "c", "beta0", "gamma_m", "delta",
                                                    "sigma_m", "cutpoints_mo"]
        assert [v.name for v in model.deterministics] == []  # compute_p=False: no per-row probabilities stored
        nodes = [v.owner for v in ancestors([model.logp(), *model.deterministics]) if v.owner is not None]
        return " ".join({f"{type(n.op).__name__}:{n.op}".lower() for n in nodes})

    logit, probit = ops("logit"), ops("probit")
    assert LogSigmoidWithDerivative.__name__.lower() in logit and "sigmoid" in logit and "erfc" not in logit
    assert LogSigmoidWithDerivative.__name__.lower() not in probit and "erfcx" in probit


# ----------------------------------------------------------------------------- effects
def _one_mediator_spec() -> Spec:
    return Spec.from_dict({
        "exposure": {"name": "x", "kind": "binary", "contrast": {"kind": "values", "low": 0.0, "high": 1.0}},
        "mediators": [{"name": "m", "family": "bernoulli", "link": "probit"}],
        "outcome": {"name": "y", "family": "bernoulli", "link": "probit"},
    })


def _closed_form(p) -> dict[str, float]:
    """E[Y(x, M(x'))] = sum_m P(M = m | x') Phi(beta0 + c x + b m): the effects on three scales."""
    alpha, a, b, c, beta0 = (float(np.ravel(p[k])[0]) for k in ("alpha_m", "a", "b", "c", "beta0"))

    def world(x: float, x_m: float) -> float:
        pm1 = norm.cdf(alpha + a * x_m)
        return pm1 * norm.cdf(beta0 + c * x + b) + (1 - pm1) * norm.cdf(beta0 + c * x)

    y00, y10, y11, y01 = world(0, 0), world(1, 0), world(1, 1), world(0, 1)
    out = {}
    for scale, f in (("difference", None), ("risk_ratio", lambda q: q), ("odds_ratio", lambda q: q / (1 - q))):
        contrast = (lambda a, b: a - b) if f is None else (lambda a, b, f=f: f(a) / f(b))
        out[scale] = {"TE": contrast(y11, y00), "NDE": contrast(y10, y00), "NIE": contrast(y11, y10),
                      "NDE (treated)": contrast(y11, y01), "NIE (control)": contrast(y01, y00)}
    return out


def test_simulated_truth_and_g_computation_equal_the_closed_form():
    """Simulator truth, posterior-style effects on three scales and an intervention, by the probit equations."""
    spec = _one_mediator_spec()
    params = {"a": [[0.9]], "b": [[0.8]], "c": [0.4], "beta0": [-0.3], "alpha_m": [[-0.2]]}
    sim = carepaths.simulate(spec, n_persons=1000, n_waves=1, params=params, seed=8, mc_persons=40_000)
    truth = sim.truth.sample(0)
    exact = _closed_form(truth)
    for name in ("TE", "NDE", "NIE"):  # the simulator: 4 Monte Carlo SEs
        got, se = float(sim.effects[name].sel(stage="pooled")), float(sim.effects[f"{name}_mc_se"].sel(stage="pooled"))
        assert abs(got - exact["difference"][name]) < 4 * se + 1e-12, (name, got, exact["difference"][name], se)

    # g-computation (what fit.effects runs) on 200 copies of the true parameters
    from carepaths.counterfactual.effects import compute_effects

    B = 200
    fixed = {k: np.repeat(v, B, axis=0) for k, v in sim.truth.fixed.items()}
    copies = ParameterSet(spec=spec, chains=1, draws=B, fixed=fixed, source="truth")
    panel = sim.panel()
    for scale, want in exact.items():
        eff = compute_effects(copies, panel, scale=scale, seed=1)
        for name, value in want.items():
            draws = eff.draws[name].values.reshape(-1)
            se = draws.std(ddof=1) / np.sqrt(B)
            assert abs(draws.mean() - value) < 4 * se + 1e-6, (scale, name, draws.mean(), value, se)

    # the conditional population abducts each row's latent noise from its observed mediator
    # (a truncated standard normal): at the observed exposure the mediators are the data
    from carepaths.counterfactual.population import RowData, map_chunks

    rows = RowData.from_panel(panel)

    def at_observed(chunk):
        return equations.mediators_from_latents(
            chunk.params, families=["bernoulli"], order=[0], x=rows.x[:, None], C=chunk.rows.C,
            stage_idx=chunk.rows.stage_idx, latents=chunk.latents,
        )

    for _, M in map_chunks(copies, rows, "conditional", np.random.default_rng(3), at_observed):
        np.testing.assert_array_equal(M, np.broadcast_to(rows.M[..., None], M.shape))

    # an intervention (do M = 1 for everyone) against status quo, through the probit outcome
    iv = carepaths.Intervention(name="all m", target="m", set=1)
    table = sim.true_intervention_effects([iv], mc_persons=40_000, seed=9)
    got, se = table.loc[("all m", "pooled"), ["true", "mc_se"]]
    alpha, a, b, c, beta0 = (float(np.ravel(truth[k])[0]) for k in ("alpha_m", "a", "b", "c", "beta0"))

    def gain(x: float) -> float:  # E[Y(x, 1)] - E[Y(x, M(x))]
        return norm.sf(alpha + a * x) * (norm.cdf(beta0 + c * x + b) - norm.cdf(beta0 + c * x))

    # no confounders and alpha_x = 0: P(x = 1) = 1/2 (a symmetric person effect on the
    # logit of x); the simulated share of x = 1 has SD 0.0025 (40,000 persons) and
    # |gain(1) - gain(0)| < 0.1, so it moves the truth by < 0.0003
    assert float(sim.params["alpha_x"].values[0]) == 0.0
    assert abs(got - 0.5 * (gain(0.0) + gain(1.0))) < 4 * se + 3e-4, (got, se)


# ----------------------------------------------------------------------------- recovery
@pytest.mark.slow
def test_a_probit_fit_recovers_its_paths_and_effects():
    """Simulate probit mediators and outcome, fit, and find the true paths and effects.

    2,500 rows, 2 chains x 1,000 draws. Each true path (model scale) must lie within 3.5
    posterior SDs of its posterior mean, and each pooled effect within 3.5 posterior SDs
    plus 3 Monte Carlo SEs of the truth: a correct model misses one of these 10 checks with
    probability about 0.5%. Then the checks' pointwise log-likelihood of the outcome is the
    model's own density on posterior draws.
    """
    spec = Spec.from_dict(_spec_dict())
    sim = carepaths.simulate(spec, n_persons=2500, n_waves=1, seed=21, mc_persons=20_000)
    panel = Panel.from_frame(sim.data, spec)
    model = MediationModel(spec, panel)
    with warnings.catch_warnings():
        warnings.simplefilter("error", carepaths.ConvergenceWarning)
        fit = model.fit(draws=1000, tune=1000, chains=2, seed=21)
    assert fit.converged
    post = fit.posterior["posterior"].to_dataset()
    true = sim.true_paths_on_model_scale(panel)
    misses = []
    for name in ("a", "b", "c"):
        got = post[name].values.reshape(2000, -1)
        want = np.asarray(true[name].values).reshape(-1)
        z = (got.mean(axis=0) - want) / got.std(axis=0)
        print(name, got.mean(axis=0).round(3), want.round(3), z.round(2))
        misses += [f"{name}[{i}]: z = {v:.2f}" for i, v in enumerate(z) if abs(v) > 3.5]
    effects = fit.effects(seed=21)
    for name in ("TE", "NDE", "NIE"):
        draws = effects.draws[name].sel(stage="pooled").values.reshape(-1)
        t, se = float(sim.effects[name].sel(stage="pooled")), float(sim.effects[f"{name}_mc_se"].sel(stage="pooled"))
        print(name, draws.mean().round(4), round(t, 4))
        if abs(draws.mean() - t) > 3.5 * draws.std() + 3 * se:
            misses.append(f"{name}: {draws.mean():.4f} vs {t:.4f}")
    assert not misses, misses

    # the checks' pointwise log-likelihood of the probit outcome is the model's, on posterior draws
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.CarepathsWarning)
        thin = fit.check(seed=4, draws=20)
    kept = np.unique(np.linspace(0, 999, 20).round().astype(int))  # as draws=20 thins
    ours = thin.loo_data["log_likelihood"].to_dataset()["y"].values  # (chain, draw, obs)
    pm_model = model.model
    logp_y = pm_model.compile_fn(pm_model.logp(vars=[pm_model["Y"]], sum=False, jacobian=False)[0],
                                 inputs=pm_model.value_vars, on_unused_input="ignore")
    point = _pointer(pm_model)
    names = [rv.name for rv in pm_model.free_RVs]
    for chain in range(2):
        for i, draw in enumerate(kept):
            values = {n: post[n].values[chain, draw] for n in names}
            np.testing.assert_allclose(ours[chain, i], logp_y(point(values)), rtol=1e-9, atol=1e-12)
