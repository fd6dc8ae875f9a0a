"""Interactions and moderated paths (issue 14): spec, names, equations, worlds, closed forms.

``[[interactions]]`` adds exposure x mediator and mediator x mediator terms to the outcome
equation; ``[[moderation]]`` makes the paths a, b and c depend on a declared confounder.
Checked here: the spec's round trip and every refusal (each naming the key); the names,
dims and coordinates of the new parameters, their priors and the simulator's defaults; the
translator's arrays (NumPy, batched, and PyTensor alike); the design-matrix forms the fitted
model uses against the predictors; the fitted model's likelihood against the equations; the
worlds with a non-linear outcome; and the closed forms of VanderWeele & Vansteelandt (2009)
for an exposure x mediator interaction, per posterior draw to 1e-9, with the simulator's
truth against the population closed form. A small recovery fit is marked slow.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import carepaths
from carepaths import MediationModel, Spec, SpecError
from carepaths.model.fit import spec_hash
from carepaths.simulation import default_params
from carepaths.structural import equations
from carepaths.structural.parameters import (
    PRODUCT_PARAMS,
    ParameterSet,
    parameter_coords,
    parameter_dims,
    product_indices,
    product_terms,
    pytensor_ops,
    structural_arrays,
)
from helpers import mock_fit

#: The shipped specs' hashes before issue 14: a spec without the new keys hashes as before.
SHIPPED_HASHES = {
    "five_mechanisms": "2f7f4101902e7cac0e249e4ec6f95df559004e4f211327b151d19f39c61d664d",
    "visits": "80587e08d3da6f73fdbe3986b9c464912ee0208c9cf696ddde65a4759446434a",
    "single_mediator": "1231888c7103e45f7499bdf8e3074c25eac82d478e15368e92fff0c0617d8789",
}


def _dict(**over) -> dict:
    """A linear-Gaussian spec with stages, a numeric and a categorical confounder."""
    d = {
        "stages": ["crisis", "recovery"],
        "columns": {"person": "id", "wave": "wave", "stage": "stage"},
        "exposure": {"name": "support"},
        "mediators": [
            {"name": "encouragement", "family": "normal"},
            {"name": "discouragement", "family": "normal"},
        ],
        "outcome": {"name": "score", "family": "normal"},
        "confounders": [
            {"name": "severity"},
            {"name": "sex", "kind": "categorical", "levels": ["f", "m"], "reference": "f"},
        ],
        "structure": {"pool_stages": False, "person_effects": "none"},
        "interactions": [{"terms": ["support", "discouragement"]}],
        "moderation": [
            {"by": "severity", "paths": ["a:discouragement", "b:encouragement", "c"]},
            {"by": "sex", "paths": ["a:encouragement", "c"]},
        ],
    }
    d.update(over)
    return d


def _spec(**over) -> Spec:
    return Spec.from_dict(_dict(**over))


def _with_mm(**over) -> Spec:
    return _spec(interactions=[{"terms": ["support", "discouragement"]},
                               {"terms": ["encouragement", "discouragement"]}], **over)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ----------------------------------------------------------------------------- the spec
def test_spec_round_trip_views_and_unchanged_hashes():
    spec = _with_mm()
    assert Spec.from_dict(spec.to_dict()) == spec
    assert Spec.from_toml(spec.to_toml()) == spec
    assert spec.to_dict()["interactions"] == [
        {"terms": ["support", "discouragement"]}, {"terms": ["encouragement", "discouragement"]}]
    assert [i.label for i in spec.exposure_mediator_interactions] == ["support:discouragement"]
    assert [i.label for i in spec.mediator_interactions] == ["encouragement:discouragement"]
    assert spec.moderated_paths("a") == (("discouragement", "severity"), ("encouragement", "sex"))
    assert spec.moderated_paths("c") == ((None, "severity"), (None, "sex"))
    text = spec.describe()
    assert "support x discouragement" in text and "Moderated by severity: a:discouragement" in text
    # a spec without the keys writes none of them, and hashes as before
    for name, digest in SHIPPED_HASHES.items():
        shipped = carepaths.load_spec(name)
        assert "interactions" not in shipped.to_dict() and "moderation" not in shipped.to_dict()
        assert spec_hash(shipped) == digest
    # written in the other order, a term is the same product, named as written
    other = _spec(interactions=[{"terms": ["discouragement", "support"]}])
    assert product_terms(other)["b_xm"][0].label == "discouragement:support"


def _change(d: dict, path: list, value) -> dict:
    d = copy.deepcopy(d)
    holder = d
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return d


BAD = [
    # (key in the message, change, what else the message says)
    ("interactions[0].terms", (["interactions", 0, "terms"], ["support", "discouragment"]),
     "Did you mean 'discouragement'"),
    ("interactions[0].terms", (["interactions", 0, "terms"], ["support", "severity"]), "is moderation"),
    ("interactions[0].terms", (["interactions", 0, "terms"], ["score", "encouragement"]), "the outcome"),
    ("interactions[0].terms", (["interactions", 0, "terms"], ["support", "stage"]), "stage-specific paths"),
    ("interactions[0].terms", (["interactions", 0, "terms"], ["support", "support"]), "with itself"),
    ("interactions[0].terms", (["interactions", 0, "terms"], ["support"]), "must list two names"),
    ("interactions[0].terms", (["interactions", 0, "terms"], "support"), "must list two names"),
    ("interactions[0].terms[1]", (["interactions", 0, "terms"], ["support", " "]), "blank"),
    ("interactions[1]", (["interactions"], [{"terms": ["support", "encouragement"]},
                                           {"terms": ["encouragement", "support"]}]), "List each interaction once"),
    ("interactions[0].term", (["interactions", 0], {"term": ["support", "encouragement"]}), "Did you mean 'terms'"),
    ("interactions[0].terms", (["interactions", 0], {}), "required"),
    ("interactions", (["interactions"], {"terms": ["support", "encouragement"]}), "list of [[interactions]]"),
    ("moderation[0].by", (["moderation", 0, "by"], "severty"), "Did you mean 'severity'"),
    ("moderation[0].by", (["moderation", 0, "by"], "severty"), "measured before the exposure"),
    ("moderation[0].by", (["moderation", 0, "by"], "discouragement"), "measured before the exposure"),
    ("moderation[0].by", (["moderation", 0, "by"], "support"), "the exposure"),
    ("moderation[0].by", (["moderation", 0, "by"], "stage"), "stage-specific paths already do"),
    ("moderation[0].paths[1]", (["moderation", 0, "paths"], ["c", "b:encouragment"]), "Did you mean 'b:encouragement'"),
    ("moderation[0].paths[0]", (["moderation", 0, "paths"], ["d"]), "not a path of the model"),
    ("moderation[0].paths", (["moderation", 0, "paths"], ["c", "c"]), "more than once"),
    ("moderation[0].paths", (["moderation", 0, "paths"], []), "is empty"),
    ("moderation[1].by", (["moderation", 1, "by"], "severity"), "in one [[moderation]] table"),
    ("moderation[0].paths", (["moderation", 0], {"by": "severity"}), "required"),
    ("moderation[0].pathes", (["moderation", 0], {"by": "severity", "pathes": ["c"]}), "Did you mean 'paths'"),
]


@pytest.mark.parametrize(("key", "change", "says"), BAD, ids=[f"{k}:{s}" for k, _, s in BAD])
def test_bad_interactions_and_moderation_are_refused_naming_the_key(key, change, says):
    d = _change(_dict(), *change)
    with pytest.raises(SpecError) as err:
        Spec.from_dict(d)
    assert f"'{key}'" in str(err.value) and says in str(err.value)


def test_priors_of_the_new_terms_exist_only_where_declared():
    from carepaths.prior_rules import prior_names

    assert set(PRODUCT_PARAMS) <= set(prior_names(_with_mm()))
    assert not set(PRODUCT_PARAMS) & set(prior_names(carepaths.load_spec()))
    d = _dict(priors={"b_mm": {"distribution": "Normal", "params": {"mu": 0.0, "sigma": 0.1}}})
    with pytest.raises(SpecError, match=r"'priors.b_mm'.*exists only with a mediator x mediator term"):
        Spec.from_dict(d)
    spec = _with_mm(priors={"b_mm": {"distribution": "Normal", "params": {"mu": 0.0, "sigma": 0.1}}})
    assert Spec.from_dict(spec.to_dict()) == spec


# ----------------------------------------------------------------------------- names
def test_parameter_names_dims_coordinates_and_defaults():
    spec = _with_mm()
    dims = parameter_dims(spec)
    assert list(dims)[-5:] == list(PRODUCT_PARAMS)  # after every existing one
    assert dims["b_xm"] == ("xm_term",) and dims["a_mod"] == ("a_mod_term",)
    coords = parameter_coords(spec)
    assert coords["xm_term"] == ["support:discouragement"]
    assert coords["mm_term"] == ["encouragement:discouragement"]
    assert coords["a_mod_term"] == ["discouragement|severity", "encouragement|sex[m]"]
    assert coords["b_mod_term"] == ["encouragement|severity"]
    assert coords["c_mod_term"] == ["severity", "sex[m]"]  # a categorical moderator: its indicators
    plain = carepaths.load_spec()
    assert not set(PRODUCT_PARAMS) & set(parameter_dims(plain))
    assert not {"xm_term", "mm_term", "a_mod_term", "b_mod_term", "c_mod_term"} & set(parameter_coords(plain))
    truth = default_params(spec)
    for name in PRODUCT_PARAMS:  # exact with the spec's dims, and a real interaction
        assert truth[name].dims == dims[name]
        assert list(truth[name].coords[dims[name][0]].values) == coords[dims[name][0]]
        assert np.all(truth[name].values != 0)
    from carepaths.model.priors import PRIOR_REASONS, default_priors

    for name in PRODUCT_PARAMS:
        assert name in default_priors(spec) and PRIOR_REASONS[name]


# ----------------------------------------------------------------------------- translator
def _random_raw(spec: Spec, batch: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    coords = parameter_coords(spec)
    return {name: rng.normal(size=(*batch, *(len(coords[d]) for d in dims)))
            for name, dims in parameter_dims(spec).items()}


def test_translator_fills_each_term_into_its_full_array_numpy_and_pytensor():
    spec = _with_mm()
    raw = _random_raw(spec, (4,))
    out = structural_arrays(spec, raw)
    names, columns = list(spec.mediator_names), list(spec.confounder_terms)
    K, J = len(names), len(columns)
    expected = {"b_xm": np.zeros((4, K)), "b_mm": np.zeros((4, K, K)), "a_mod": np.zeros((4, K, J)),
                "b_mod": np.zeros((4, K, J)), "c_mod": np.zeros((4, J))}
    d, e = names.index("discouragement"), names.index("encouragement")
    sev, sex = columns.index("severity"), columns.index("sex[m]")
    expected["b_xm"][:, d] = raw["b_xm"][:, 0]
    expected["b_mm"][:, e, d] = raw["b_mm"][:, 0]
    expected["a_mod"][:, d, sev] = raw["a_mod"][:, 0]
    expected["a_mod"][:, e, sex] = raw["a_mod"][:, 1]
    expected["b_mod"][:, e, sev] = raw["b_mod"][:, 0]
    expected["c_mod"][:, sev], expected["c_mod"][:, sex] = raw["c_mod"][:, 0], raw["c_mod"][:, 1]
    for name in PRODUCT_PARAMS:
        np.testing.assert_array_equal(out[name], expected[name], err_msg=name)
    # the PyTensor backend gives the same arrays (one parameter set)
    import pytensor.tensor as pt

    one = {k: v[2] for k, v in raw.items()}
    symbolic = {k: pt.as_tensor_variable(v) for k, v in one.items()}
    graph = structural_arrays(spec, symbolic, pytensor_ops())
    for name in PRODUCT_PARAMS:
        np.testing.assert_array_equal(graph[name].eval(), expected[name][2], err_msg=name)
    # a spec without product terms has none of these arrays
    plain = carepaths.load_spec()
    assert not set(PRODUCT_PARAMS) & set(structural_arrays(plain, _random_raw(plain, (2,))))


# ----------------------------------------------------------------------------- equations
def _params(spec: Spec, seed: int = 1, batch: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
    """Random equations' arrays (batched: draw axis last)."""
    arrays = structural_arrays(spec, _random_raw(spec, (*batch,) if batch else (1,), seed))
    if batch:
        return {k: np.moveaxis(v, 0, -1) for k, v in arrays.items()}
    return {k: v[0] for k, v in arrays.items()}


def _rows(n: int = 40, seed: int = 3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), rng.normal(size=(n, 2)), rng.integers(0, 2, n), rng.normal(size=(n, 2))


def test_design_matrices_equal_the_predictors():
    spec = _with_mm()
    p = _params(spec)
    x, C, stage, M = _rows()
    products = product_indices(spec)
    design = equations.outcome_design(x=x, M=M, C=C, stage_idx=stage, n_stages=2, products=products)
    coefficients = equations.outcome_coefficients(p, products=products)
    direct = equations.outcome_predictor(p, x=x, M=M, C=C, stage_idx=stage)
    np.testing.assert_allclose(design @ coefficients, direct, rtol=1e-12, atol=1e-12)
    # the terms by hand: b_xm x M_d, b_mm M_e M_d, b_mod sev M_e, c_mod C x
    e, d = 0, 1
    by_hand = (
        p["beta0"][stage] + p["c"][stage] * x + p["b"][e][stage] * M[:, e] + p["b"][d][stage] * M[:, d]
        + C @ p["delta"] + p["b_xm"][d] * x * M[:, d] + p["b_mm"][e, d] * M[:, e] * M[:, d]
        + p["b_mod"][e, 0] * C[:, 0] * M[:, e] + (C @ p["c_mod"]) * x
    )
    np.testing.assert_allclose(direct, by_hand, rtol=1e-12)
    D = equations.mediator_design(x=x, C=C, stage_idx=stage, n_stages=2, moderated=True)
    W = equations.mediator_coefficient_matrix(p, with_moderation=True)
    for k in range(2):
        one = equations.mediator_predictor(p, k, x=x, C=C, stage_idx=stage)
        np.testing.assert_allclose(D @ equations.mediator_coefficients(p, k, with_moderation=True), one, rtol=1e-12)
        np.testing.assert_allclose((D @ W)[:, k], one, rtol=1e-12)
        a_row = p["a"][k][stage] + C @ p["a_mod"][k]  # the moderated path at each row
        np.testing.assert_allclose(one, p["alpha_m"][k][stage] + a_row * x + C @ p["gamma_m"][k], rtol=1e-12)
    np.testing.assert_allclose(
        equations.mediator_predictors(p, x=x, C=C, stage_idx=stage),
        np.column_stack([equations.mediator_predictor(p, k, x=x, C=C, stage_idx=stage) for k in range(2)]),
        rtol=1e-12,
    )


def test_predictors_batched_and_pytensor_equal_one_draw_at_a_time():
    import pytensor.tensor as pt

    spec = _with_mm()
    B = 5
    batched = _params(spec, batch=(B,))
    x, C, stage, M = _rows()
    rng = np.random.default_rng(8)
    M_b = rng.normal(size=(*M.shape, B))
    b_i = rng.normal(size=(len(x), 2, B))
    eta_b = equations.outcome_predictor(batched, x=x[:, None], M=M_b, C=C, stage_idx=stage, person_slope_b=b_i)
    med_b = equations.mediator_predictors(batched, x=x[:, None], C=C, stage_idx=stage)
    for i in range(B):
        one = {k: v[..., i] for k, v in batched.items()}
        eta = equations.outcome_predictor(one, x=x, M=M_b[..., i], C=C, stage_idx=stage, person_slope_b=b_i[..., i])
        np.testing.assert_allclose(eta_b[..., i], eta, rtol=1e-12)
        for k in range(2):
            np.testing.assert_allclose(med_b[:, k, i], equations.mediator_predictor(one, k, x=x, C=C, stage_idx=stage),
                                       rtol=1e-12)
        # PyTensor: the same function on tensors
        symbolic = {k: pt.as_tensor_variable(v) for k, v in one.items()}
        X = pt.as_tensor_variable(x)
        graph = equations.outcome_predictor(symbolic, x=X, M=pt.as_tensor_variable(M_b[..., i]), C=C, stage_idx=stage,
                                            person_slope_b=pt.as_tensor_variable(b_i[..., i]))
        np.testing.assert_allclose(graph.eval(), eta, rtol=1e-12)
        graph_m = equations.mediator_predictor(symbolic, 1, x=X, C=C, stage_idx=stage)
        np.testing.assert_allclose(graph_m.eval(), equations.mediator_predictor(one, 1, x=x, C=C, stage_idx=stage),
                                   rtol=1e-12)
        products = product_indices(spec)
        coefficients = equations.outcome_coefficients(symbolic, products=products, concatenate=pt.concatenate)
        design = equations.outcome_design(x=x, M=M_b[..., i], C=C, stage_idx=stage, n_stages=2, products=products)
        np.testing.assert_allclose(
            design @ coefficients.eval(),
            equations.outcome_predictor(one, x=x, M=M_b[..., i], C=C, stage_idx=stage), rtol=1e-12,
        )


@pytest.mark.parametrize("batched", [False, True])
def test_outcome_slopes_depend_on_the_exposure_and_the_row(batched):
    """Without mediator x mediator terms the predictor is linear in the mediators with
    per-row slopes b + b_xm x + C b_mod: the split world_means uses."""
    spec = _spec()  # exposure x mediator and moderated b, no b_mm
    p = _params(spec, batch=(3,) if batched else ())
    x, C, stage, M = _rows()
    if batched:
        x, M = x[:, None], np.repeat(M[..., None], 3, axis=-1)
    full = equations.outcome_predictor(p, x=x, M=M, C=C, stage_idx=stage)
    none = equations.outcome_predictor(p, x=x, M=M[:, :0], C=C, stage_idx=stage)
    slopes = equations.outcome_mediator_slopes(p, stage_idx=stage, x=x, C=C)
    np.testing.assert_allclose(full, none + (slopes * M).sum(axis=1), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="pass x"):
        equations.outcome_mediator_slopes(p, stage_idx=stage, C=C)


# ----------------------------------------------------------------------------- the model
def test_the_fitted_model_creates_the_terms_last_and_its_likelihood_is_the_equations():
    """New variables come after every existing one (the sampler's parameter vector of a spec
    without them is unchanged); the outcome's design form and the mediators' likelihood
    (person intercepts integrated out from sufficient statistics) are the equations."""
    from scipy import stats

    spec = _with_mm(structure={"pool_stages": False, "person_effects": "intercepts"})
    plain = Spec.from_dict({k: v for k, v in spec.to_dict().items() if k not in ("interactions", "moderation")})
    sim = carepaths.simulate(spec, 15, 3, seed=4, mc_persons=20)
    model = MediationModel(spec, sim.panel())
    plain_model = MediationModel(plain, Panel_of(sim.data, plain))
    names = [v.name for v in model.model.free_RVs]
    assert names[: len(plain_model.model.free_RVs)] == [v.name for v in plain_model.model.free_RVs]
    assert names[len(plain_model.model.free_RVs):] == list(PRODUCT_PARAMS)
    # evaluate the model's log-likelihood terms at a random point and compare
    rng = np.random.default_rng(0)
    point = {k: v + 0.3 * rng.normal(size=np.shape(v)) for k, v in model.model.initial_point().items()}
    # the outcome's person intercepts integrated out (analytically for a normal outcome)
    logp = model.model.compile_logp(vars=[model.model["Y_integrated"]], sum=True)(point)
    outs = model.model.replace_rvs_by_values([model.model[n] for n in names])  # each variable from its value
    untransformed = model.model.compile_fn(outs)(point)
    draws = {n: np.asarray(v)[None] for n, v in zip(names, untransformed, strict=True)}
    p = ParameterSet.from_truth(spec, {n: v[0] for n, v in draws.items()} | _fixed(spec, draws)).sample(0)
    ds = model.panel.dataset
    eta = equations.outcome_predictor(p, x=ds["X"].values, M=ds["M"].values, C=ds["C"].values,
                                      stage_idx=ds["stage_idx"].values)
    sigma_y, sd_v = float(draws["sigma_y"][0]), float(draws["sd_v"][0])
    resid, person = ds["Y"].values - eta, ds["person_idx"].values
    expected = sum(stats.multivariate_normal(np.zeros((person == i).sum()), sigma_y**2 * np.eye((person == i).sum())
                                             + sd_v**2).logpdf(resid[person == i]) for i in np.unique(person))
    assert logp == pytest.approx(expected, rel=1e-10)
    # the normal mediators: a person's waves jointly normal, sigma^2 I + sd_u^2 J
    med_logp = model.model.compile_logp(vars=[model.model[f"M_{m}"] for m in spec.mediator_names], sum=True)(point)
    expected_m = 0.0
    person = ds["person_idx"].values
    for k in range(2):
        r = ds["M"].values[:, k] - equations.mediator_predictor(
            p, k, x=ds["X"].values, C=ds["C"].values, stage_idx=ds["stage_idx"].values)
        sigma, sd_u = float(draws["sigma_m"][0][k]), float(draws["sd_u"][0][k])
        for i in np.unique(person):
            ri = r[person == i]
            cov = sigma**2 * np.eye(len(ri)) + sd_u**2 * np.ones((len(ri), len(ri)))
            expected_m += stats.multivariate_normal(np.zeros(len(ri)), cov).logpdf(ri)
    assert med_logp == pytest.approx(expected_m, rel=1e-10)


def Panel_of(frame, spec):  # noqa: N802 - a helper named for what it returns
    return carepaths.Panel.from_frame(frame, spec)


def _fixed(spec: Spec, draws: dict) -> dict:
    """The remaining names of parameter_dims the point does not hold as free variables."""
    return {n: np.zeros(len(parameter_coords(spec).get(d[0], [])) if d else ())
            for n, d in parameter_dims(spec).items() if n not in draws}


# ----------------------------------------------------------------------------- worlds
def test_worlds_with_a_mediator_product_use_the_whole_predictor():
    """With b_mm the outcome is not linear in the mediators: each world is the whole
    predictor at its exposure and mediators; the mechanisms' effects no longer add up, so
    the interdependence remainder is reported."""
    from carepaths.counterfactual import worlds
    from carepaths.counterfactual.effects import interdependence_is_zero

    spec = _with_mm()
    assert not interdependence_is_zero(spec) and interdependence_is_zero(_spec())
    p = _params(spec, batch=(3,))
    x, C, stage, _ = _rows()
    rng = np.random.default_rng(2)
    latents = rng.normal(size=(len(x), 2, 3))
    rows = worlds.Rows(C=C, stage_idx=stage)
    x0, x1 = x[:, None], x[:, None] + 1.0
    out = worlds.world_means(spec, p, rows, x0, x1, latents)
    M0 = equations.mediators_from_latents(p, families=["normal"] * 2, order=[0, 1], x=x0, C=C, stage_idx=stage,
                                          latents=latents)
    M1 = equations.mediators_from_latents(p, families=["normal"] * 2, order=[0, 1], x=x1, C=C, stage_idx=stage,
                                          latents=latents)

    def y(xv, M):
        return equations.outcome_predictor(p, x=xv, M=M, C=C, stage_idx=stage)

    np.testing.assert_allclose(out["x0_m0"], y(x0, M0), rtol=1e-12)
    np.testing.assert_allclose(out["x1_m0"], y(x1, M0), rtol=1e-12)
    np.testing.assert_allclose(out["x1_m1"], y(x1, M1), rtol=1e-12)
    for k in range(2):
        swapped = M0.copy()
        swapped[:, k] = M1[:, k]
        np.testing.assert_allclose(out["swap"][k], y(x1, swapped), rtol=1e-12)
    iie = out["swap"] - out["x1_g0"]
    assert np.abs(out["x1_m1"] - out["x1_m0"] - iie.sum(axis=0)).max() > 1e-3  # interdependence
    # the linear split (no b_mm) gives the whole predictor's worlds too
    lin = _spec()
    p = _params(lin, batch=(3,))
    out = worlds.world_means(lin, p, rows, x0, x1, latents)
    M0 = equations.mediators_from_latents(p, families=["normal"] * 2, order=[0, 1], x=x0, C=C, stage_idx=stage,
                                          latents=latents)
    M1 = equations.mediators_from_latents(p, families=["normal"] * 2, order=[0, 1], x=x1, C=C, stage_idx=stage,
                                          latents=latents)
    for world, (xv, M) in {"x0_m0": (x0, M0), "x1_m0": (x1, M0), "x1_m1": (x1, M1)}.items():
        np.testing.assert_allclose(out[world], equations.outcome_predictor(p, x=xv, M=M, C=C, stage_idx=stage),
                                   rtol=1e-12, err_msg=world)


# ----------------------------------------------------------------------------- closed forms
@pytest.fixture(scope="module", params=["none", "intercepts"])
def mm_fit(request):
    """Mocked draws of a linear-Gaussian model with every kind of product term."""
    spec = _with_mm(structure={"pool_stages": False, "person_effects": request.param})
    return mock_fit(spec, n_persons=50, draws=12)


def _closed_forms(fit, *, mm: bool) -> dict[str, np.ndarray]:
    """VanderWeele & Vansteelandt (2009), per draw and row, for the contrast x -> x + 1 SD.

    With M_k = alpha_k + A_k x + ..., A_k = a_k[s] + C a_mod[k] (the moderated a path), and
    Y = ... + (c[s] + C c_mod) x + sum_k theta_k(x) M_k + sum_(j,k) b_mm[j,k] M_j M_k with
    theta_k(x) = b_k[s] + b_xm[k] x + C b_mod[k]: the shift is 1 on the model scale, the
    mediators share their noise across worlds, and the conditional population keeps the
    observed mediators at the observed exposure (M(x0) = M_obs), so per row

        NDE (control) = c + C c_mod + sum_k b_xm[k] M_k(x0)
        NIE (treated) = sum_k theta_k(x1) A_k + MM
        NDE (treated) = c + C c_mod + sum_k b_xm[k] M_k(x1),  M_k(x1) = M_k(x0) + A_k
        NIE (control) = sum_k theta_k(x0) A_k + MM
        MM = sum_(j,k) b_mm[j,k] (A_j M_k(x0) + A_k M_j(x0) + A_j A_k)

    (VanderWeele & Vansteelandt's NDE = (t1 + t3 E[M | x0, c]) (x1 - x0) and
    NIE = (t2 + t3 x1) b1 (x1 - x0), with the row's own mediator for its expectation).
    Returned averaged per stage, then over all rows, in the outcome's original units.
    """
    p = fit.parameters().fixed  # (sample, ...)
    ds = fit.panel.dataset
    X, M0, C, s = ds["X"].values, ds["M"].values, ds["C"].values, ds["stage_idx"].values
    x1 = X + 1.0
    A = p["a"][:, :, s].transpose(0, 2, 1) + np.einsum("oj,nkj->nok", C, p["a_mod"])  # (sample, obs, K)
    theta_extra = np.einsum("oj,nkj->nok", C, p["b_mod"])
    b = p["b"][:, :, s].transpose(0, 2, 1) + theta_extra

    def theta(x):
        return b + p["b_xm"][:, None, :] * x[None, :, None]

    direct = p["c"][:, s] + np.einsum("oj,nj->no", C, p["c_mod"])
    M1 = M0[None] + A
    mmt = np.zeros_like(direct)
    if mm:
        K = M0.shape[1]
        for j in range(K):
            for k in range(K):
                w = p["b_mm"][:, j, k][:, None]
                mmt += w * (A[..., j] * M0[None, :, k] + A[..., k] * M0[None, :, j] + A[..., j] * A[..., k])
    rows = {
        "NDE": direct + (p["b_xm"][:, None, :] * M0[None]).sum(-1),
        "NIE": (theta(x1) * A).sum(-1) + mmt,
        "NDE (treated)": direct + (p["b_xm"][:, None, :] * M1).sum(-1),
        "NIE (control)": (theta(X) * A).sum(-1) + mmt,
    }
    sd_y = fit.panel.scaling["score"].scale
    groups = [s == g for g in range(2)] + [np.ones(len(s), dtype=bool)]
    return {name: sd_y * np.stack([v[:, g].mean(-1) for g in groups], axis=-1) for name, v in rows.items()}


def _effect_draws(fit, **kw) -> dict[str, np.ndarray]:
    eff = _quiet(fit.effects, **kw)
    n = fit.parameters().n_samples
    return {name: eff.draws[name].values.reshape(n, -1) for name in ("TE", "NDE", "NIE", "NDE (treated)",
                                                                      "NIE (control)")}


def test_closed_forms_with_exposure_mediator_and_moderation_terms_per_draw(mm_fit):
    """Both versions of the natural effects equal the closed forms on every draw, to
    1e-9; TE = NDE (control) + NIE (treated) = NDE (treated) + NIE (control) exactly."""
    got = _effect_draws(mm_fit, population="conditional")
    closed = _closed_forms(mm_fit, mm=True)
    for name, expected in closed.items():
        np.testing.assert_allclose(got[name], expected, rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(got["TE"], got["NDE"] + got["NIE"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["TE"], got["NDE (treated)"] + got["NIE (control)"], rtol=1e-12, atol=1e-12)
    # the interaction is real: the two versions differ
    assert np.abs(got["NDE"] - got["NDE (treated)"]).max() > 1e-3


def test_marginal_population_indirect_effect_is_exact_without_mediator_products():
    """New persons: the mediators' noise cancels from M(x1) - M(x0), so NIE (treated) =
    sum_k theta_k(x1) A_k exactly on every draw, whatever the noise; TE = NDE + NIE."""
    fit = mock_fit(_spec(structure={"pool_stages": False, "person_effects": "intercepts"}), n_persons=40, draws=8)
    got = _effect_draws(fit, population="marginal")
    closed = _closed_forms(fit, mm=False)
    for name in ("NIE", "NIE (control)"):
        np.testing.assert_allclose(got[name], closed[name], rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(got["TE"], got["NDE"] + got["NIE"], rtol=1e-12, atol=1e-12)


def test_simulated_truth_equals_the_population_closed_form():
    """The simulator's true effects (Monte Carlo over new persons) against the closed form
    over its population, for everyone set from 0 to 1 on the exposure's own scale.

    The simulator draws a numeric confounder standardised (mean 0, variance 1) and a
    category uniformly over its levels, independently of the stage, so per stage (no
    person effects) with W the confounder columns, E[W] = (0, 1/2) and
    E[W W'] = diag(1, 1/2):

        NDE = c[s] + c_mod E[W] + sum_k b_xm[k] (alpha[k, s] + gamma[k] E[W])
        NIE = sum_k E[(b[k, s] + b_xm[k] + b_mod[k] W) (a[k, s] + a_mod[k] W)]
            + sum_(j,k) b_mm[j, k] E[A_j mu_k + A_k mu_j + A_j A_k],  mu_k = alpha[k, s] + gamma[k] W
    """
    spec = _with_mm(columns={"stage": "stage"}, structure={"pool_stages": False, "person_effects": "none"},
                    exposure={"name": "support", "contrast": {"kind": "values", "low": 0.0, "high": 1.0}})
    overrides = {"a": np.array([[0.4, 0.1], [0.2, 0.6]]), "b": np.array([[0.3, -0.2], [-0.4, 0.5]]),
                 "c": np.array([0.1, -0.3]), "alpha_m": np.array([[0.2, -0.1], [0.3, 0.0]])}
    sim = carepaths.simulate(spec, 50, 1, params=overrides, seed=3, mc_persons=40_000)
    t = sim.truth.sample(0)
    EW, EWW = np.array([0.0, 0.5]), np.diag([1.0, 0.5])
    for s, stage in enumerate(spec.stages):
        alpha, a, b, c = t["alpha_m"][:, s], t["a"][:, s], t["b"][:, s], t["c"][s]
        mu0 = alpha + t["gamma_m"] @ EW  # E[M(0)]
        nde = c + t["c_mod"] @ EW + t["b_xm"] @ mu0
        nie = 0.0
        for k in range(2):
            bk, ak, bm, am = b[k] + t["b_xm"][k], a[k], t["b_mod"][k], t["a_mod"][k]
            nie += bk * ak + bk * am @ EW + ak * bm @ EW + bm @ EWW @ am
        for j in range(2):
            for k in range(2):
                w = t["b_mm"][j, k]
                if w == 0:
                    continue
                # E[A_j mu_k] with A = a + a_mod W, mu = alpha + gamma W
                def cross(q, r):
                    return (a[q] * alpha[r] + a[q] * t["gamma_m"][r] @ EW + alpha[r] * t["a_mod"][q] @ EW
                            + t["a_mod"][q] @ EWW @ t["gamma_m"][r])
                AA = a[j] * a[k] + (a[j] * t["a_mod"][k] + a[k] * t["a_mod"][j]) @ EW + t["a_mod"][j] @ EWW @ t["a_mod"][k]
                nie += w * (cross(j, k) + cross(k, j) + AA)
        truth = sim.effects.sel(stage=stage)
        for name, value in (("NDE", nde), ("NIE", nie), ("TE", nde + nie)):
            se = float(truth[f"{name}_mc_se"])
            assert abs(float(truth[name]) - value) < 4.5 * se + 1e-4, (stage, name, float(truth[name]), value, se)


def test_true_paths_on_the_model_scale_are_the_same_equations():
    """Simulation.true_paths_on_model_scale: the generating equations rewritten on the
    panel's standardised, centred scale, exactly (the intercepts and confounder terms
    absorb the rest)."""
    spec = _spec(
        mediators=[{"name": "encouragement", "family": "normal"}, {"name": "discouragement", "family": "normal"},
                   {"name": "binary", "family": "bernoulli"}],  # a binary mediator: not centred
        interactions=[{"terms": ["support", "discouragement"]}, {"terms": ["encouragement", "discouragement"]},
                      {"terms": ["binary", "support"]}, {"terms": ["binary", "encouragement"]}],
        moderation=[{"by": "severity", "paths": ["a:discouragement", "b:encouragement", "c"]},
                    {"by": "sex", "paths": ["a:encouragement", "b:binary", "c"]}],
    )
    sim = carepaths.simulate(spec, 60, 3, seed=2, mc_persons=50)
    panel = sim.panel()
    truth = sim.true_paths_on_model_scale(panel)
    ds, frame, t = panel.dataset, sim.data, sim.truth.sample(0)
    stage = ds["stage_idx"].values
    C_gen = np.column_stack([(frame["severity"].values - 12.0) / 5.0, (frame["sex"] == "m").astype(float)])
    M_gen = frame[list(spec.mediator_names)].to_numpy(float)
    assert set(panel.scaling) >= {"support", "encouragement", "score"} and "binary" not in panel.scaling
    model = dict(t, a=truth["a"].values, b=truth["b"].values, c=truth["c"].values)
    for name, items in product_terms(spec).items():
        full = np.zeros_like(t[name])
        for term, value in zip(items, truth[name].values, strict=True):
            full[term.index] = value
        model[name] = full
    # what is left over must be stage intercepts plus linear confounder terms
    Z = np.column_stack([np.eye(2)[stage], ds["C"].values])

    def leftover(generating, on_model, sd):
        r = generating / sd - on_model
        coef, *_ = np.linalg.lstsq(Z, r, rcond=None)
        return np.abs(r - Z @ coef).max()

    y_gen = equations.outcome_predictor(t, x=frame["support"].values, M=M_gen, C=C_gen, stage_idx=stage)
    y_mod = equations.outcome_predictor(model, x=ds["X"].values, M=ds["M"].values, C=ds["C"].values, stage_idx=stage)
    assert leftover(y_gen, y_mod, panel.scaling["score"].scale) < 1e-10
    for k, m in enumerate(spec.mediator_names):
        m_gen = equations.mediator_predictor(t, k, x=frame["support"].values, C=C_gen, stage_idx=stage)
        m_mod = equations.mediator_predictor(model, k, x=ds["X"].values, C=ds["C"].values, stage_idx=stage)
        assert leftover(m_gen, m_mod, panel.unit_sd(m)) < 1e-10


def test_summary_names_every_term_on_both_scales(tmp_path):
    fit = mock_fit(_with_mm(), n_persons=30, draws=10)
    table = _quiet(fit.summary)
    loaded = _quiet(carepaths.load_fit, fit.save(tmp_path / "fit.nc"))  # the terms survive save and load
    assert loaded.spec == fit.spec and _quiet(loaded.summary).equals(table)
    rows = table.index.get_level_values("parameter")
    for label in ("b_xm[support:discouragement]", "b_mm[encouragement:discouragement]",
                  "a_mod[discouragement|severity]", "a_mod[encouragement|sex[m]]", "b_mod[encouragement|severity]",
                  "c_mod[severity]", "c_mod[sex[m]]"):
        assert label in rows, label
    assert table.loc[("a_mod[discouragement|severity]", "original"), "description"] == "support x severity -> discouragement"
    # original = standardised / path_scale(first, child, times=second)
    panel = fit.panel
    factor = panel.path_scale("support", "score", times="discouragement")
    std = table.loc[("b_xm[support:discouragement]", "standardised"), "mean"]
    assert table.loc[("b_xm[support:discouragement]", "original"), "mean"] == pytest.approx(std / factor, rel=1e-10)


# ----------------------------------------------------------------------------- recovery
@pytest.mark.slow
def test_recovery_of_an_exposure_mediator_term_and_a_moderated_path():
    """A small fit on simulated data recovers b_xm and a_mod (within 3 posterior SDs of the
    truth on the model's scale), as well as the paths they modify."""
    spec = Spec.from_dict({
        "exposure": {"name": "support"},
        "mediators": [{"name": "discouragement", "family": "normal"}],
        "outcome": {"name": "score", "family": "normal"},
        "confounders": [{"name": "severity"}],
        "interactions": [{"terms": ["support", "discouragement"]}],
        "moderation": [{"by": "severity", "paths": ["a:discouragement"]}],
    })
    sim = carepaths.simulate(spec, 1500, 1, params={"b_xm": [0.3], "a_mod": [0.3]}, seed=7, mc_persons=200)
    panel = sim.panel()
    fit = _quiet(MediationModel(spec, panel).fit, draws=500, tune=500, chains=2, seed=1)
    truth = sim.true_paths_on_model_scale(panel)
    post = fit.posterior["posterior"]
    for name in ("b_xm", "a_mod", "a", "b", "c"):
        draws = post[name].values.reshape(-1, *post[name].shape[2:])
        mean, sd = draws.mean(axis=0).ravel(), draws.std(axis=0).ravel()
        true = np.asarray(truth[name].values).ravel()
        assert np.all(np.abs(mean - true) < 3 * sd), (name, mean, true, sd)


def test_product_terms_add_no_edges_and_change_no_verdict():
    """The graph is nonparametric: interactions and moderation change the equations, not
    the arrows, so identification is that of the same spec without them."""
    from carepaths.causal.graph import CausalGraph
    from carepaths.causal.identify import identify

    spec = _with_mm()
    plain = Spec.from_dict({k: v for k, v in spec.to_dict().items() if k not in ("interactions", "moderation")})
    assert set(CausalGraph.from_spec(spec).dag.edges) == set(CausalGraph.from_spec(plain).dag.edges)
    assert identify(spec).table().equals(identify(plain).table())
    confounded = _with_mm(unmeasured_confounding=[["discouragement", "score"]])
    assert not identify(confounded)["NDE"].identified  # the same refusals as without terms
