"""Every prior override takes full effect, distribution and every parameter, or is refused.

For every prior name, a model whose spec has that parameter is built twice, with the
default priors and with every prior overridden by a clearly different distribution, and
prior draws of the variables each prior sets are compared with the prior that should
hold, by a Kolmogorov-Smirnov test with fixed seeds: "follows" is p > 0.001, "does not
follow" is p < 1e-6 (1000 draws). The model's own log-density of each variable is
compared with the prior's too. Then the refusals (unknown distribution, parameter, bad
values, priors a name cannot use), the spec's ``[priors]`` table and its round trip, the
merge order and the prior table's source column.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy import stats

import carepaths
from carepaths import MediationModel, Prior, Spec, SpecError
from carepaths.model.priors import _DEFAULTS, SOURCES_ATTR, prior_table, resolve_prior_sources
from carepaths.prior_rules import PRIOR_NAMES, check_prior, prior_names

DRAWS = 1000
FOLLOWS, DIFFERS = 1e-3, 1e-6


# ----------------------------------------------------------------------------- specs
def _rich_spec() -> Spec:
    """Pooled stages, random slopes, a cluster, a confounder, an edge, a normal and an
    ordinal mediator, a normal outcome: every prior name but phi."""
    d = carepaths.load_spec().to_dict()
    d["mediators"] = [
        {"name": "encouragement", "family": "normal"},
        {"name": "alt_coping", "family": "ordinal", "categories": [1, 2, 3, 4]},
    ]
    d["mediator_edges"] = [["encouragement", "alt_coping"]]
    d["outcome"] = {"name": "care_use", "family": "normal"}
    d["columns"]["cluster"] = "clinic"
    d["confounders"] = d["confounders"][:1]
    d["structure"] = {"pool_stages": True, "person_effects": "slopes"}
    return Spec.from_dict(d)


def _count_spec() -> Spec:
    """A negative-binomial outcome (phi), unpooled paths and the within/between split."""
    d = carepaths.load_spec("visits").to_dict()
    d["structure"] = {
        "pool_stages": False, "person_effects": "intercepts", "center_exposure_within_person": True
    }
    return Spec.from_dict(d)


def _products_spec() -> Spec:
    """Every product term (issue 14): exposure x mediator, mediator x mediator, and the
    paths a, b and c moderated by a confounder."""
    d = carepaths.load_spec().to_dict()
    d["mediators"], d["confounders"] = d["mediators"][:2], d["confounders"][:1]
    d.pop("paradox", None)
    d["interactions"] = [{"terms": ["support", "encouragement"]}, {"terms": ["encouragement", "alt_coping"]}]
    d["moderation"] = [{"by": "severity", "paths": ["a:encouragement", "b:alt_coping", "c"]}]
    return Spec.from_dict(d)


SPECS = {"rich": _rich_spec, "count": _count_spec, "products": _products_spec}
PRODUCTS = ("b_xm", "b_mm", "a_mod", "b_mod", "c_mod")

#: per prior name: the clearly different override
OVERRIDES: dict[str, Prior] = {
    "alpha_m": Prior("StudentT", nu=4.0, mu=-2.0, sigma=0.3),
    "a": Prior("Normal", mu=2.0, sigma=0.1),
    "gamma_m": Prior("Laplace", mu=1.5, b=0.2),
    "d": Prior("Normal", mu=-2.0, sigma=0.2),
    "sigma_m": Prior("Gamma", alpha=20.0, beta=10.0),
    "cutpoints": Prior("Logistic", mu=3.0, s=0.4),
    "beta0": Prior("Uniform", lower=2.0, upper=3.0),
    "c": Prior("Normal", mu=-1.5, sigma=0.1),
    "b": Prior("StudentT", nu=3.0, mu=1.0, sigma=0.1),
    "delta": Prior("Normal", mu=1.0, sigma=0.05),
    "sigma_y": Prior("LogNormal", mu=1.0, sigma=0.2),
    "phi": Prior("Exponential", lam=0.1),
    "tau": Prior("HalfNormal", sigma=2.0),
    "sd_u": Prior("InverseGamma", alpha=5.0, beta=8.0),
    "sd_v": Prior("Gamma", alpha=50.0, beta=20.0),
    "sd_slope": Prior("Gamma", alpha=20.0, beta=40.0),
    "lkj_eta": Prior("LKJ", eta=20.0),
    "sd_cluster": Prior("Weibull", alpha=5.0, beta=3.0),
    "b_xm": Prior("Normal", mu=-1.0, sigma=0.1),
    "b_mm": Prior("Laplace", mu=1.0, b=0.1),
    "a_mod": Prior("StudentT", nu=5.0, mu=1.5, sigma=0.2),
    "b_mod": Prior("Normal", mu=2.0, sigma=0.2),
    "c_mod": Prior("Logistic", mu=-2.0, s=0.1),
}

#: per prior name: (spec, model variables the prior sets there)
TARGETS: dict[str, list[tuple[str, list[str]]]] = {
    "alpha_m": [("rich", ["alpha_m"])],
    "a": [("rich", ["mu_a"]), ("count", ["a", "a_between"])],
    "gamma_m": [("rich", ["gamma_m"])],
    "d": [("rich", ["d_edge"])],
    "sigma_m": [("rich", ["sigma_m"])],
    "cutpoints": [("rich", ["cutpoints_alt_coping"])],
    "beta0": [("rich", ["beta0"])],
    "c": [("rich", ["mu_c"]), ("count", ["c", "c_between"])],
    "b": [("rich", ["mu_b"]), ("count", ["b"])],
    "delta": [("rich", ["delta"])],
    "sigma_y": [("rich", ["sigma_y"])],
    "phi": [("count", ["phi"])],
    "tau": [("rich", ["tau_a", "tau_b", "tau_c"])],
    "sd_u": [("rich", ["sd_u"])],
    "sd_v": [("rich", ["sd_v"])],
    "sd_slope": [("rich", ["sd_slope"])],
    "lkj_eta": [("rich", ["corr_slope"])],
    "sd_cluster": [("rich", ["sd_cluster"])],
    **{name: [("products", [name])] for name in PRODUCTS},
}


def _scipy(prior: Prior, n_slopes: int = 0) -> stats.rv_continuous:
    """The scipy twin of a prior (for lkj_eta: the law of one off-diagonal correlation)."""
    p = prior.params
    match prior.distribution:
        case "Normal":
            return stats.norm(p.get("mu", 0.0), p["sigma"])
        case "HalfNormal":
            return stats.halfnorm(scale=p["sigma"])
        case "StudentT":
            return stats.t(p["nu"], p["mu"], p["sigma"])
        case "Laplace":
            return stats.laplace(p["mu"], p["b"])
        case "Logistic":
            return stats.logistic(p["mu"], p["s"])
        case "Uniform":
            return stats.uniform(p["lower"], p["upper"] - p["lower"])
        case "Gamma":
            return stats.gamma(p["alpha"], scale=1 / p["beta"])
        case "InverseGamma":
            return stats.invgamma(p["alpha"], scale=p["beta"])
        case "LogNormal":
            return stats.lognorm(p["sigma"], scale=np.exp(p["mu"]))
        case "Exponential":
            return stats.expon(scale=1 / p["lam"])
        case "Weibull":
            return stats.weibull_min(p["alpha"], scale=p["beta"])
        case "LKJ":
            # an off-diagonal element r of an LKJ(eta) correlation of dimension n:
            # (r + 1) / 2 ~ Beta(eta - 1 + n/2, eta - 1 + n/2)
            shape = p["eta"] - 1 + n_slopes / 2
            return stats.beta(shape, shape, loc=-1, scale=2)
    raise AssertionError(prior)


# ----------------------------------------------------------------------------- draws
def _model(spec: Spec, priors=None) -> MediationModel:
    sim = carepaths.simulate(spec, 20, 2, seed=1, mc_persons=20)
    return MediationModel(spec, sim.panel(), priors=priors)


@pytest.fixture(scope="module")
def models():
    """(spec key, "default" | "override") -> (model, prior draws of its parameters)."""
    import pymc as pm

    out = {}
    for key, make in SPECS.items():
        spec = make()
        for which in ("default", "override"):
            names = set(prior_names(spec))
            m = _model(spec, {n: p for n, p in OVERRIDES.items() if n in names} if which == "override" else None)
            var_names = [v.name for v in m.model.free_RVs] + [v.name for v in m.model.deterministics]
            with m.model, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                draws = pm.sample_prior_predictive(draws=DRAWS, var_names=var_names, random_seed=11)
            out[key, which] = (m, draws["prior"].to_dataset())
    return out


def _values(draws, var: str) -> np.ndarray:
    values = draws[var].values[0]  # (draw, ...)
    if var == "corr_slope":
        return values[:, 0, 1]  # one off-diagonal element: the others are not independent of it
    return values.reshape(-1)


def test_every_prior_name_is_tested_and_has_a_default():
    assert tuple(_DEFAULTS) == PRIOR_NAMES
    assert set(OVERRIDES) == set(TARGETS) == set(PRIOR_NAMES)
    names = {key: prior_names(make()) for key, make in SPECS.items()}
    assert set(names["rich"]) == set(PRIOR_NAMES) - {"phi", *PRODUCTS} and "phi" in names["count"]
    assert set(PRODUCTS) <= set(names["products"]) and not set(PRODUCTS) & {*names["rich"], *names["count"]}
    for name, targets in TARGETS.items():
        assert all(name in names[key] for key, _ in targets), name


@pytest.mark.parametrize("name", PRIOR_NAMES)
def test_every_default_prior_passes_its_own_check(name):
    default = _DEFAULTS[name][0]
    assert check_prior(default.distribution, default.params, name=name) == (default.distribution, default.params)


@pytest.mark.parametrize("name", PRIOR_NAMES)
def test_prior_draws_follow_the_override_and_without_it_the_default(models, name):
    default, override = _DEFAULTS[name][0], OVERRIDES[name]
    for key, variables in TARGETS[name]:
        n_slopes = len(models[key, "default"][0].model.coords.get("slope", ()))
        for var in variables:
            with_default = _values(models[key, "default"][1], var)
            with_override = _values(models[key, "override"][1], var)
            assert models[key, "override"][0].prior_sources[name] == "argument"
            assert stats.kstest(with_default, _scipy(default, n_slopes).cdf).pvalue > FOLLOWS, (key, var)
            assert stats.kstest(with_override, _scipy(override, n_slopes).cdf).pvalue > FOLLOWS, (key, var)
            assert stats.kstest(with_override, _scipy(default, n_slopes).cdf).pvalue < DIFFERS, (key, var)


@pytest.mark.parametrize("name", [n for n in PRIOR_NAMES if n not in ("sd_slope", "lkj_eta")])
def test_the_models_log_density_of_each_variable_is_the_priors(models, name):
    """What the sampler uses, not only what forward draws do (sd_slope and lkj_eta live
    inside the LKJ Cholesky covariance and are checked by their draws)."""
    import pymc as pm

    for which, prior in (("default", _DEFAULTS[name][0]), ("override", OVERRIDES[name])):
        for key, variables in TARGETS[name]:
            m, draws = models[key, which]
            for var in variables:
                value = draws[var].values[0, 0]
                logp = pm.logp(m.model[var], value).eval()
                np.testing.assert_allclose(logp, _scipy(prior).logpdf(value), rtol=1e-5, atol=1e-5, err_msg=f"{key} {var}")


def test_ordinal_cutpoints_default_is_the_tables_prior_with_an_increasing_start(models):
    """Changed on purpose: the cutpoints prior was Normal(linspace(-1, 1), sigma) whatever
    the table said; it is now the table's Normal(0, 1.5) for each cutpoint, ordered, and
    only the start is linspace(-1, 1)."""
    import pymc as pm

    m, _ = models["rich", "default"]
    rv = m.model["cutpoints_alt_coping"]
    value = np.array([-2.0, 0.5, 1.0])
    np.testing.assert_allclose(pm.logp(rv, value).eval(), stats.norm(0, 1.5).logpdf(value), rtol=1e-6)
    start = m.model.initial_point()["cutpoints_alt_coping_ordered__"]
    np.testing.assert_allclose(np.cumsum([start[0], *np.exp(start[1:])]), [-1.0, 0.0, 1.0])


def test_prior_draws_order_the_cutpoints(models):
    """prior_draws gives the model's prior: each draw's cutpoints increasing (PyMC draws
    them unordered)."""
    m, _ = models["rich", "override"]
    draws = m.prior_draws(200, seed=2)
    cuts = np.asarray(draws.fixed["cutpoints"])[:, 1]  # (sample, mediator, cut): the ordinal one
    assert cuts.shape == (200, 3)
    assert np.all(np.diff(cuts, axis=-1) > 0)
    # the sorted draws still follow the override as a whole
    assert stats.kstest(cuts.reshape(-1), _scipy(OVERRIDES["cutpoints"]).cdf).pvalue > FOLLOWS


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda: Prior("Normal", mu=0, sigmaa=5),
         r"Normal takes no parameter 'sigmaa'\. Did you mean 'sigma'\? Normal takes: mu, sigma, tau"),
        (lambda: Prior("Normall", mu=0, sigma=1), r"no distribution 'Normall'\. Did you mean 'Normal'"),
        (lambda: Prior("Normal", mu=0, sigma=float("nan")), r"parameter 'sigma' is nan"),
        (lambda: Prior("Normal", mu=float("inf"), sigma=1), r"parameter 'mu' is inf"),
        (lambda: Prior("Normal", mu=0, sigma="1"), r"parameter 'sigma' must be a number"),
        (lambda: Prior("Normal", mu=0, sigma=-1), r"parameter 'sigma' = -1 must be positive.*sigma > 0"),
        (lambda: Prior("Normal", mu=0, tau=0), r"parameter 'tau' = 0 must be positive"),
        (lambda: Prior("HalfNormal", sigma=0), r"parameter 'sigma' = 0 must be positive"),
        (lambda: Prior("Gamma", alpha=-2, beta=1), r"parameter 'alpha' = -2 must be positive"),
        (lambda: Prior("Gamma", alpha=2, beta=0), r"parameter 'beta' = 0 must be positive"),
        (lambda: Prior("StudentT", nu=0, mu=0, sigma=1), r"parameter 'nu' = 0 must be positive"),
        (lambda: Prior("Exponential", lam=0), r"parameter 'lam' = 0 must be positive"),
        (lambda: Prior("HalfCauchy", beta=-1), r"parameter 'beta' = -1 must be positive"),
        (lambda: Prior("LogNormal", mu=0, sigma=-0.5), r"parameter 'sigma' = -0.5 must be positive"),
        (lambda: Prior("Uniform", lower=1, upper=0), r"lower <= upper"),
        (lambda: Prior("StudentT", mu=0, sigma=1), r"StudentT needs the parameter\(s\) 'nu'"),
        (lambda: Prior("Normal", sigma=1, tau=1), r"Can't pass both tau and sigma"),
        (lambda: Prior("Poisson", mu=1), r"Poisson is a discrete distribution"),
        (lambda: Prior.from_dict({"distribution": "Normal", "params": {"mu": 0, "sigmaa": 5}}),
         r"no parameter 'sigmaa'"),
        (lambda: Prior.from_dict({"distribution": "Normal", "sigma": 1}), r"Unknown: 'sigma'.*under 'params'"),
    ],
)
def test_bad_priors_raise_naming_the_key(make, pattern):
    with pytest.raises(SpecError, match=pattern):
        make()


@pytest.mark.parametrize(
    ("name", "prior", "pattern"),
    [
        ("sigma_m", Prior("Normal", mu=0, sigma=1), r"prior 'sigma_m': Normal\(mu=0, sigma=1\) puts mass on negative"),
        ("tau", Prior("Uniform", lower=-1, upper=1), r"prior 'tau': .* puts mass on negative"),
        ("cutpoints", Prior("HalfNormal", sigma=1), r"prior 'cutpoints': HalfNormal\(sigma=1\) is bounded"),
        ("lkj_eta", Prior("Gamma", alpha=2, beta=1), r"prior 'lkj_eta': .*Prior\('LKJ', eta=\.\.\.\)"),
        ("a", Prior("LKJ", eta=2), r"prior 'a': LKJ is the distribution of a correlation matrix"),
        ("a", {"distribution": "Normal", "params": {"mu": 0, "sigmaa": 1}}, r"prior 'a': Normal takes no parameter 'sigmaa'"),
        ("a", {"distribution": "Normal", "sigma": 1}, r"prior 'a' needs 'distribution'.*Unknown: 'sigma'"),
        ("a", "Normal(0, 1)", r"prior 'a' must be a carepaths.Prior"),
        ("bb", Prior("Normal", mu=0, sigma=1), r"unknown prior name 'bb'\. Did you mean 'b'\?.*Valid prior names"),
        ("phi", Prior("Gamma", alpha=2, beta=1), r"no prior 'phi': it exists only with outcome.family = \"negative_binomial\""),
    ],
)
def test_priors_a_name_cannot_use_are_refused(name, prior, pattern):
    spec = _rich_spec()
    if name == "phi":
        spec = carepaths.load_spec()
    with pytest.raises(SpecError, match=pattern):
        resolve_prior_sources(spec, {name: prior})


def test_lkj_takes_eta_only():
    with pytest.raises(SpecError, match=r"LKJ takes no parameter 'et'\. Did you mean 'eta'\?"):
        Prior("LKJ", et=2)
    with pytest.raises(SpecError, match=r"parameter 'eta' = 0 must be positive"):
        Prior("LKJ", eta=0)


def test_the_model_refuses_before_building():
    spec = carepaths.load_spec("single_mediator")
    sim = carepaths.simulate(spec, 30, 1, seed=1, mc_persons=20)
    with pytest.raises(SpecError, match=r"prior 'sigma_y'"):
        MediationModel(spec, sim.panel(), priors={"sigma_y": Prior("StudentT", nu=3, mu=0, sigma=1)})


# ----------------------------------------------------------------------------- spec [priors]
SPEC_PRIORS = """
[priors.a]
distribution = "Normal"
params = { mu = 0.0, sigma = 0.3 }

[priors.sd_u]
distribution = "HalfStudentT"
params = { nu = 3, sigma = 0.4 }
"""


def _with_priors(text: str, base: str = "five_mechanisms") -> str:
    return carepaths.load_spec(base).to_toml() + text


def test_spec_priors_round_trip_exactly(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text(_with_priors(SPEC_PRIORS), encoding="utf-8")
    spec = carepaths.load_spec(path)
    assert spec.priors == {
        "a": ("Normal", {"mu": 0.0, "sigma": 0.3}),
        "sd_u": ("HalfStudentT", {"nu": 3.0, "sigma": 0.4}),
    }
    assert Spec.from_dict(spec.to_dict()) == spec
    assert Spec.from_toml(spec.to_toml()) == spec
    assert Spec.from_toml(spec.to_toml()).to_toml() == spec.to_toml()
    assert spec.to_dict()["priors"]["a"] == {"distribution": "Normal", "params": {"mu": 0.0, "sigma": 0.3}}
    assert hash(spec) == hash(Spec.from_toml(spec.to_toml()))
    assert "Priors set in the spec: a ~ Normal(mu=0, sigma=0.3)" in spec.describe()
    # a spec without priors writes no [priors] table, so its dict (and hash) are as before
    assert "priors" not in carepaths.load_spec().to_dict()


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('[priors.bb]\ndistribution = "Normal"\n',
         r"spec key 'priors.bb': unknown prior name 'bb'\. Did you mean 'b'\?.*Valid prior names for this spec: alpha_m, a,"),
        ('[priors.phi]\ndistribution = "Gamma"\nparams = { alpha = 2.0, beta = 1.0 }\n',
         r"spec key 'priors.phi': this spec's model has no prior 'phi'.*negative_binomial"),
        ('[priors.sd_slope]\ndistribution = "HalfNormal"\nparams = { sigma = 1.0 }\n',
         r"spec key 'priors.sd_slope'.*person_effects = \"slopes\""),
        ('[priors.a]\ndistribution = "Normal"\nparams = { mu = 0, sigmaa = 5 }\n',
         r"spec key 'priors.a': Normal takes no parameter 'sigmaa'\. Did you mean 'sigma'\?"),
        ('[priors.a]\ndistribution = "Normall"\n', r"spec key 'priors.a': PyMC has no distribution 'Normall'"),
        ('[priors.a]\ndistribution = "Normal"\nparams = { sigma = -1 }\n',
         r"spec key 'priors.a': parameter 'sigma' = -1 must be positive"),
        ('[priors.a]\ndistribution = "Normal"\nparams = { sigma = "1" }\n',
         r"spec key 'priors.a': parameter 'sigma' must be a number"),
        ('[priors.a]\ndistribution = "Normal"\nparams = { sigma = nan }\n', r"spec key 'priors.a': parameter 'sigma' is nan"),
        ('[priors.a]\ndistribution = "Normal"\nparam = { sigma = 1 }\n',
         r"unknown spec key 'priors.a.param'\. Did you mean 'params'\?"),
        ('[priors.a]\nparams = { sigma = 1 }\n', r"spec key 'priors.a.distribution' is required"),
        ('[priors]\na = "Normal"\n', r"spec key 'priors.a' must be a table"),
        ('[priors.sigma_m]\ndistribution = "Normal"\n', r"spec key 'priors.sigma_m': .*puts mass on negative"),
    ],
)
def test_bad_spec_priors_fail_at_load_spec(tmp_path, text, pattern):
    path = tmp_path / "bad.toml"
    path.write_text(_with_priors(text), encoding="utf-8")
    with pytest.raises(SpecError, match=pattern):
        carepaths.load_spec(path)


def test_tau_is_no_prior_where_no_path_is_pooled():
    """pool_stages with shared paths pools nothing: a tau prior there would have no
    effect, so it is refused rather than silently ignored."""
    d = carepaths.load_spec().to_dict()
    d["structure"]["stage_specific_paths"] = False
    d["priors"] = {"tau": {"distribution": "HalfNormal", "params": {"sigma": 1.0}}}
    with pytest.raises(SpecError, match=r"no prior 'tau'.*stage_specific_paths = true"):
        Spec.from_dict(d)


# ----------------------------------------------------------------------------- merge, table
def test_argument_beats_spec_beats_default_and_the_table_says_so(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text(_with_priors(SPEC_PRIORS), encoding="utf-8")
    spec = carepaths.load_spec(path)
    m = _model(spec, {"sd_u": Prior("HalfNormal", sigma=0.2), "c": {"distribution": "Normal", "params": {"sigma": 0.2}}})
    assert m.priors["a"] == Prior("Normal", mu=0.0, sigma=0.3)
    assert m.priors["sd_u"] == Prior("HalfNormal", sigma=0.2)
    assert m.priors["c"] == Prior("Normal", sigma=0.2)
    assert m.priors["b"] == _DEFAULTS["b"][0]
    table = m.prior_table()
    assert list(table.columns) == ["prior", "source", "reason"]
    assert table.loc["a", "source"] == "spec" and table.loc["a", "prior"] == "Normal(mu=0, sigma=0.3)"
    assert table.loc["sd_u", "source"] == "argument" and table.loc["sd_u", "prior"] == "HalfNormal(sigma=0.2)"
    assert table.loc["c", "source"] == "argument"
    assert table.loc["b", "source"] == "default" and table.loc["b", "reason"] == _DEFAULTS["b"][1]
    assert (table.loc[["a", "sd_u", "c"], "reason"] == "").all()
    # the spec's priors reach the model with no argument: what `carepaths fit --spec` does
    plain = MediationModel(spec, m.panel)
    assert plain.priors["sd_u"] == Prior("HalfStudentT", nu=3.0, sigma=0.4)
    assert plain.prior_sources["sd_u"] == plain.prior_sources["a"] == "spec"


def test_a_saved_fit_keeps_its_priors_and_their_sources(tmp_path):
    """Sources ride in the posterior's attributes (what MediationModel.fit writes), which
    Fit.save and load_fit keep; a fit without them shows sources inferred from the spec
    and the defaults."""
    from helpers import mock_fit

    from carepaths.model.fit import load_fit

    d = carepaths.load_spec("single_mediator").to_dict()
    d["priors"] = {"b": {"distribution": "Normal", "params": {"mu": 0.0, "sigma": 0.2}}}
    spec = Spec.from_dict(d)
    fit = mock_fit(spec, n_persons=30, draws=20)
    inferred = prior_table(fit)
    assert inferred.loc["b", "source"] == "spec" and inferred.loc["c", "source"] == "default"
    sources = {**dict.fromkeys(fit.priors, "default"), "b": "spec", "c": "argument"}
    fit.posterior.attrs[SOURCES_ATTR] = json.dumps(sources)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = load_fit(fit.save(tmp_path / "fit.nc"))
    assert loaded.priors == fit.priors and loaded.spec.priors == spec.priors
    table = prior_table(loaded)
    assert table["source"].to_dict() == sources
    assert table.loc["b", "prior"] == "Normal(mu=0, sigma=0.2)"
