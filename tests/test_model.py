"""The PyMC model: construction for every family and person-effects option, priors,
convergence reporting, and the exact save/load round-trip."""

from __future__ import annotations

import numpy as np
import pytest

import carepaths
from carepaths.structural.parameters import ParameterSet
from carepaths import ConvergenceWarning, MediationModel, Prior, Spec, SpecError
from carepaths.model.fit import load_fit
from carepaths.model.priors import prior_table
from helpers import mock_fit


def _spec(base: str = "five_mechanisms", **structure) -> Spec:
    d = carepaths.load_spec(base).to_dict()
    d["structure"] = {**d["structure"], **structure}
    return Spec.from_dict(d)


def _model(spec: Spec, n_persons: int = 30, seed: int = 1, **kw) -> MediationModel:
    waves = 3 if spec.columns.person else 1
    sim = carepaths.simulate(spec, n_persons, waves, seed=seed, mc_persons=50)
    return MediationModel(spec, sim.panel(), **kw)


@pytest.mark.parametrize("person_effects", ["none", "intercepts", "slopes"])
def test_model_builds_with_named_dims_and_never_samples(person_effects):
    m = _model(_spec(person_effects=person_effects))
    coords = m.model.coords
    assert tuple(coords["stage"]) == ("crisis", "recovery", "maintenance")
    assert len(coords["mediator"]) == 5 and len(coords["obs"]) == 90
    assert ("person" in coords) == (person_effects != "none")
    names = {v.name for v in m.model.free_RVs}
    assert {"a", "b", "c", "alpha_m", "beta0"} <= names
    assert ("chol_slope" in names) == (person_effects == "slopes")
    # the model's log-density is finite at its initial point
    assert np.isfinite(m.model.compile_logp()(m.model.initial_point()))


def test_families_build(tmp_path):
    d = carepaths.load_spec().to_dict()
    d["mediators"][0] = {"name": "encouragement", "family": "bernoulli"}
    d["mediators"][1] = {"name": "alt_coping", "family": "ordinal", "categories": [1, 2, 3, 4]}
    d["mediator_edges"] = [["encouragement", "attitudes"]]
    spec = Spec.from_dict(d)
    m = _model(spec)
    names = {v.name for v in m.model.free_RVs}
    assert "cutpoints_alt_coping" in names and "d_edge" in names
    # person intercepts integrated out (the default): the likelihoods are log-density terms
    assert {v.name for v in m.model.potentials} >= {"M_encouragement_integrated", "M_alt_coping_integrated",
                                                    "Y_integrated"}
    assert not {v.name for v in m.model.free_RVs} & {"z_v", "z_u"}
    d["structure"] = {**d.get("structure", {}), "person_intercepts": "sampled"}
    sampled = _model(Spec.from_dict(d))
    assert {v.name for v in sampled.model.observed_RVs} >= {"M_encouragement", "M_alt_coping", "Y"}
    assert "z_v" in {v.name for v in sampled.model.free_RVs}
    visits = _model(carepaths.load_spec("visits"))
    assert "phi" in {v.name for v in visits.model.free_RVs}
    single = _model(carepaths.load_spec("single_mediator"), n_persons=60)
    assert "sigma_y" in {v.name for v in single.model.free_RVs}


def test_marginal_normal_loglik_matches_dense_multivariate_normal():
    """The integrated-out person intercept equals the dense N(0, s^2 I + u^2 J) density,
    per mediator, with unbalanced waves (persons grouped by their number of waves)."""
    import pytensor.tensor as pt
    from scipy import stats

    from carepaths.model.build import _compound_symmetric_normal

    rng = np.random.default_rng(0)
    person = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3])
    counts = np.bincount(person)
    resid = rng.normal(size=(9, 2))
    sigma, sd_u = np.array([0.7, 1.3]), np.array([0.4, 0.1])
    sums = np.stack([np.bincount(person, weights=resid[:, j]) for j in range(2)], axis=1)
    value = _compound_symmetric_normal(
        pt.as_tensor(sums), pt.as_tensor((resid**2).sum(axis=0)), pt.as_tensor(sigma), pt.as_tensor(sd_u), counts
    ).eval()
    for j in range(2):
        expected = 0.0
        for i in range(4):
            r = resid[person == i, j]
            cov = sigma[j] ** 2 * np.eye(len(r)) + sd_u[j] ** 2 * np.ones((len(r), len(r)))
            expected += stats.multivariate_normal(np.zeros(len(r)), cov).logpdf(r)
        assert value[j] == pytest.approx(expected, rel=1e-10)


def test_outcome_design_form_equals_the_outcome_equation():
    """The fitted model's outcome predictor, design @ coefficients (plus person effects),
    is the outcome equation, with and without the within/between split."""
    from carepaths.structural import equations
    from carepaths.simulation import default_params

    spec = carepaths.load_spec()
    p = dict(ParameterSet.from_truth(spec, default_params(spec)).sample(0))
    rng = np.random.default_rng(5)
    p["beta0"], p["c_between"] = rng.normal(size=3), 0.37
    n = 60
    x, xb, C, M = rng.normal(size=n), rng.normal(size=n), rng.normal(size=(n, 3)), rng.normal(size=(n, 5))
    stage = rng.integers(0, 3, n)
    for between in (None, xb):
        design = equations.outcome_design(x=x, M=M, C=C, stage_idx=stage, n_stages=3, x_between=between)
        coefficients = equations.outcome_coefficients(p, with_between=between is not None)
        direct = equations.outcome_predictor(p, x=x, M=M, C=C, stage_idx=stage, x_between=between)
        np.testing.assert_allclose(design @ coefficients, direct, rtol=1e-12, atol=1e-12)


def test_mediator_coefficient_matrix_columns_are_each_mediators_coefficients():
    from carepaths.structural import equations
    from carepaths.simulation import default_params

    spec = carepaths.load_spec()
    p = dict(ParameterSet.from_truth(spec, default_params(spec)).sample(0))
    p["a_between"] = np.arange(5.0)
    p["d"] = np.random.default_rng(1).normal(size=(5, 5))
    W = equations.mediator_coefficient_matrix(p, with_edges=True, with_between=True)
    for k in range(5):
        np.testing.assert_array_equal(W[:, k], equations.mediator_coefficients(p, k, with_edges=True, with_between=True))


def test_design_form_equals_the_mediator_equation():
    """The sufficient-statistics path uses D @ W; it must be the same equation."""
    from carepaths.structural import equations
    from carepaths.simulation import default_params

    d = carepaths.load_spec().to_dict()
    d["mediator_edges"] = [["encouragement", "attitudes"]]
    spec = Spec.from_dict(d)
    p = dict(ParameterSet.from_truth(spec, default_params(spec)).sample(0))
    p["alpha_m"] = np.random.default_rng(1).normal(size=p["alpha_m"].shape)
    rng = np.random.default_rng(2)
    n = 50
    x, C, M = rng.normal(size=n), rng.normal(size=(n, 3)), rng.normal(size=(n, 5))
    stage = rng.integers(0, 3, n)
    xb = rng.normal(size=n)
    p["a_between"] = rng.normal(size=5)
    D = equations.mediator_design(x=x, C=C, stage_idx=stage, n_stages=3, M=M, x_between=xb)
    for k in range(5):
        W = equations.mediator_coefficients(p, k, with_edges=True, with_between=True)
        direct = equations.mediator_predictor(p, k, x=x, C=C, stage_idx=stage, M=M, x_between=xb)
        np.testing.assert_allclose(D @ W, direct, rtol=1e-12)


@pytest.mark.parametrize("batched", [False, True])
def test_all_mediator_predictors_at_once_equal_the_mediator_equation(batched):
    """g-computation's one-product form (no mediator edges) is the same equation, one
    draw or a batch of draws (draw axis last), with person intercepts, slopes and the
    within/between split."""
    from carepaths.structural import equations
    from carepaths.simulation import default_params

    spec = carepaths.load_spec()
    rng = np.random.default_rng(3)
    n, K, B = 40, 5, 4
    base = dict(ParameterSet.from_truth(spec, default_params(spec)).sample(0))
    p = {k: np.stack([v + rng.normal(scale=0.1, size=np.shape(v)) for _ in range(B)], axis=-1)
         for k, v in base.items() if k in ("alpha_m", "a", "gamma_m", "d")}
    p["a_between"] = rng.normal(size=(K, B))
    x, xb = rng.normal(size=(n, 1)), rng.normal(size=(n, 1))
    C, stage = rng.normal(size=(n, 3)), rng.integers(0, 3, n)
    u, a_i = rng.normal(size=(n, K, B)), rng.normal(size=(n, K, B))
    if not batched:
        p = {k: v[..., 0] for k, v in p.items()}
        x, xb, u, a_i = x[:, 0], xb[:, 0], u[..., 0], a_i[..., 0]
    together = equations.mediator_predictors(
        p, x=x, C=C, stage_idx=stage, person_intercepts=u, person_slopes=a_i, x_between=xb
    )
    for k in range(K):
        one = equations.mediator_predictor(
            p, k, x=x, C=C, stage_idx=stage, person_intercept=u[:, k], person_slope=a_i[:, k], x_between=xb
        )
        np.testing.assert_allclose(together[:, k], one, rtol=1e-12, atol=1e-12)


def test_prior_override_takes_effect():
    m = _model(_spec(), priors={"b": Prior("Normal", mu=0.0, sigma=0.05)})
    assert m.priors["b"] == Prior("Normal", mu=0.0, sigma=0.05)
    prior = m.sample_prior_predictive(draws=400, seed=3)
    assert float(prior["prior"]["mu_b"].std()) < 0.1  # default sigma 0.5 would give ~0.5
    assert "reason" in m.prior_table().columns


def test_unknown_prior_name_lists_valid_names():
    with pytest.raises(SpecError, match=r"unknown prior name 'bb'.*Did you mean 'b'.*Valid prior names"):
        _model(_spec(), priors={"bb": Prior("Normal", mu=0, sigma=1)})
    with pytest.raises(SpecError, match="no prior 'phi': it exists only with outcome.family"):
        _model(_spec(), priors={"phi": Prior("Gamma", alpha=2, beta=1)})


def test_prior_dict_round_trip():
    p = Prior("StudentT", nu=3.0, mu=0.0, sigma=0.5)
    assert Prior.from_dict(p.to_dict()) == p


@pytest.fixture(scope="module")
def tiny_model():
    # b's default given as an argument: the same model, with one prior whose source is "argument"
    return _model(_spec(person_effects="intercepts"), n_persons=25, priors={"b": Prior("Normal", mu=0.0, sigma=0.5)})


@pytest.fixture(scope="module")
def tiny_fit(tiny_model):
    """A deliberately short fit (tune=20): it cannot converge and must say so."""
    with pytest.warns(ConvergenceWarning, match="DID NOT CONVERGE"):
        return tiny_model.fit(draws=30, tune=20, chains=2, seed=5)


def test_same_seed_gives_the_same_draws(tiny_model, tiny_fit):
    with pytest.warns(ConvergenceWarning):
        again = tiny_model.fit(draws=30, tune=20, chains=2, seed=5)
    for name, var in tiny_fit.posterior["posterior"].data_vars.items():
        np.testing.assert_array_equal(again.posterior["posterior"][name].values, var.values)
    assert tiny_fit.posterior.attrs["compile_seconds"] > 0


def test_forced_non_convergence_warns_and_flags(tiny_fit):
    assert tiny_fit.converged is False
    table = tiny_fit.diagnostics()
    assert list(table.index) == [
        "max R-hat", "min ESS bulk", "min ESS tail", "divergences", "min E-BFMI", "tree depth hits"
    ]
    assert not table.loc["min ESS bulk", "ok"]
    assert "NOT CONVERGED" in repr(tiny_fit)


def test_save_load_round_trip_is_exact(tiny_model, tiny_fit, tmp_path):
    path = tiny_fit.save(tmp_path / "fit.nc")
    with pytest.warns(ConvergenceWarning):
        loaded = load_fit(path)
    assert loaded.spec == tiny_fit.spec
    assert loaded.priors == tiny_fit.priors
    # each prior's source (default / spec / argument) survives save and load
    assert prior_table(loaded)["source"].to_dict() == tiny_model.prior_sources
    assert tiny_model.prior_sources["b"] == "argument" and tiny_model.prior_sources["a"] == "default"
    for name, var in tiny_fit.posterior["posterior"].data_vars.items():
        np.testing.assert_array_equal(loaded.posterior["posterior"][name].values, var.values)
    assert loaded.panel.dataset.equals(tiny_fit.panel.dataset)
    assert loaded.diagnostics().equals(tiny_fit.diagnostics())


def test_load_rejects_unknown_version_and_bad_hash(tiny_fit, tmp_path):
    import xarray as xr

    path = tiny_fit.save(tmp_path / "fit.nc")
    tree = xr.open_datatree(path).load()
    tree.attrs["carepaths_format_version"] = 99
    tree.to_netcdf(tmp_path / "v99.nc")
    with pytest.raises(carepaths.CarepathsError, match="format version 99"):
        load_fit(tmp_path / "v99.nc")
    tree.attrs["carepaths_format_version"] = 1
    tree.attrs["carepaths_spec_hash"] = "0" * 64
    tree.to_netcdf(tmp_path / "hash.nc")
    with pytest.raises(carepaths.CarepathsError, match="does not match its hash"):
        load_fit(tmp_path / "hash.nc")


@pytest.mark.parametrize(
    ("spec_name", "person_effects"),
    [
        ("five_mechanisms", "none"), ("five_mechanisms", "intercepts"), ("five_mechanisms", "slopes"),
        ("visits", "none"), ("visits", "intercepts"), ("visits", "slopes"),
        ("single_mediator", "none"),
    ],
)
def test_save_load_round_trip_every_shipped_spec_and_person_option(spec_name, person_effects, tmp_path):
    spec = _spec(spec_name, person_effects=person_effects)
    fit = mock_fit(spec, n_persons=30, draws=40, seed=1)
    assert not fit.converged  # prior draws in one chain: R-hat is undefined
    with pytest.warns(ConvergenceWarning):  # the loaded fit says so again
        loaded = load_fit(fit.save(tmp_path / "fit.nc"))
    assert loaded.spec == spec and loaded.priors == fit.priors
    original = fit.posterior["posterior"]
    assert set(loaded.posterior["posterior"].data_vars) == set(original.data_vars)
    for name, var in original.data_vars.items():
        np.testing.assert_array_equal(loaded.posterior["posterior"][name].values, var.values)
    assert loaded.panel.dataset.equals(fit.panel.dataset)
    assert loaded.panel.frame.equals(fit.panel.frame)


def test_cluster_intercepts_build():
    d = carepaths.load_spec().to_dict()
    d["columns"]["cluster"] = "clinic"
    spec = Spec.from_dict(d)
    m = _model(spec, n_persons=40)
    assert "z_cluster" in {v.name for v in m.model.free_RVs}
    assert len(m.model.coords["cluster"]) == len(np.unique(m.panel.dataset["cluster_idx"].values))


@pytest.mark.parametrize("person_effects", ["intercepts", "slopes"])
def test_within_between_split_builds(person_effects):
    spec = _spec(person_effects=person_effects, center_exposure_within_person=True)
    m = _model(spec)
    names = {v.name for v in m.model.free_RVs}
    assert {"a_between", "c_between"} <= names
    np.testing.assert_allclose(m.model["X"].get_value(), m.panel.dataset["X_within"].values)
    assert np.isfinite(m.model.compile_logp()(m.model.initial_point()))


def test_sampler_pymc_really_runs_pymc_nuts():
    """PyMC 6.4's pm.sample picks nutpie by default; sampler="pymc" must ask for PyMC's NUTS.

    PyMC's NUTS records ``reached_max_treedepth`` and per-draw ``perf_counter_diff``;
    nutpie records ``maxdepth_reached`` instead, so the sample stats show which ran.
    """
    import warnings

    spec = _spec("single_mediator")
    m = _model(spec, n_persons=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = m.fit(draws=30, tune=30, chains=1, seed=3, sampler="pymc")
    stats = fit.posterior["sample_stats"]
    assert "reached_max_treedepth" in stats and "perf_counter_diff" in stats
    assert "maxdepth_reached" not in stats


def test_outcome_bernoulli_log_density_equals_pymcs():
    """The outcome's one-softplus Bernoulli log-density is PyMC's Bernoulli(logit_p), and
    the outcome is drawn as a Bernoulli (prior predictive)."""
    import pymc as pm

    from carepaths.model.build import _bernoulli_logit, _bernoulli_logit_logp

    eta = np.linspace(-40, 40, 401)
    moderate = np.abs(eta) <= 15  # beyond, PyMC's form rounds log(1 - p) to 0 or -inf
    for y in (0.0, 1.0):
        ours = _bernoulli_logit_logp(np.full_like(eta, y), eta).eval()
        exact = -np.logaddexp(0.0, -(2 * y - 1) * eta)
        np.testing.assert_allclose(ours, exact, rtol=1e-12)
        pymcs = pm.logp(pm.Bernoulli.dist(logit_p=eta), np.full_like(eta, y)).eval()
        # (PyMC rounds at about 1e-10 relative where log p is near 0; ours matches exact above)
        np.testing.assert_allclose(ours[moderate], pymcs[moderate], rtol=1e-8)
    draws = pm.draw(_bernoulli_logit(np.array([-3.0, 0.0, 3.0]), size=(4000, 3)), random_seed=1)
    # binomial SE of a mean of 4000 draws is at most 0.008; 4 SE
    np.testing.assert_allclose(draws.mean(axis=0), 1 / (1 + np.exp(-np.array([-3.0, 0.0, 3.0]))), atol=0.032)
