"""The one translator from a parameter set to the arrays the structural equations take.

A *parameter set* is a posterior draw, a prior draw or the simulator's truth. All three
use the same names, the model's own (:func:`parameter_dims` lists them for a spec), and
all three reach the equations (:mod:`carepaths.structural.equations`) through
:func:`structural_arrays`, for NumPy arrays and PyTensor tensors alike. The PyMC build,
the population sampler, the simulator and the predictive checks never rewrite a rule:

* an ordinal mediator's intercept in the first stage is 0 (its cutpoints carry the level);
* a path shared across stages (``structure.stage_specific_paths = false``) is one number
  per mediator, repeated over the stage axis;
* the mediator edges ``d_edge`` (one per ``mediator_edges`` pair) fill the (mediator,
  parent) matrix ``d``, zero elsewhere;
* ``sigma_m`` exists for normal mediators only and ``cutpoints_<m>`` for each ordinal
  mediator; the equations take them padded with NaN over every mediator;
* the random slopes are ordered ``a:<m>`` for every mediator, ``b:<m>`` for every
  mediator, then ``c`` (:func:`split_slopes`), with covariance
  ``cov_slope = sd_slope sd_slope' * corr_slope`` (:func:`slope_covariance`);
* the product terms of ``[[interactions]]`` and ``[[moderation]]`` (:func:`product_terms`),
  one parameter element per declared term, fill full arrays, zero elsewhere: ``b_xm``
  (mediator), ``b_mm`` (mediator, mediator), ``a_mod`` and ``b_mod`` (mediator,
  confounder), ``c_mod`` (confounder). A spec without them has none of these arrays, so
  its equations are evaluated exactly as before.

:class:`ParameterSet` holds translated draws with a leading sample axis and hands chunks
of them to the batched equations (draw axis last).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from carepaths.spec import Spec

__all__ = [
    "ParameterSet",
    "parameter_dims",
    "parameter_coords",
    "structural_arrays",
    "person_arrays",
    "quadrature_intercepts",
    "split_slopes",
    "slope_covariance",
    "slope_names",
    "person_mode",
    "integrated_mediators",
    "product_terms",
    "product_indices",
    "ProductTerm",
    "PRODUCT_PARAMS",
    "NUMPY",
]

#: The product-term parameters, in the order they are created (after every other one):
#: exposure x mediator and mediator x mediator terms of the outcome (``[[interactions]]``),
#: and the paths a, b and c moderated by a confounder (``[[moderation]]``).
PRODUCT_PARAMS = ("b_xm", "b_mm", "a_mod", "b_mod", "c_mod")


# ----------------------------------------------------------------------------- registry
def person_mode(spec: Spec) -> str:
    """The model's person effects: ``"none"``, ``"intercepts"`` or ``"slopes"``."""
    return spec.structure.person_effects if spec.columns.person else "none"


def integrated_mediators(spec: Spec) -> tuple[int, ...]:
    """Mediators whose person intercepts the model integrates out (normal ones, intercepts mode)."""
    if person_mode(spec) != "intercepts":
        return ()
    return tuple(k for k, m in enumerate(spec.mediators) if m.family == "normal")


def quadrature_intercepts(spec: Spec) -> tuple[bool, tuple[int, ...]]:
    """Which person intercepts the model integrates out numerically (or, for a normal
    outcome, analytically): ``(outcome, binary and ordinal mediators)``.

    With ``person_effects = "intercepts"`` and ``person_intercepts = "integrated"`` (the
    default): the outcome's and every binary or ordinal mediator's
    (:mod:`carepaths.structural.person_integrals`). Otherwise none: they are sampled, one
    parameter per person (random-slopes mode samples every person effect).
    """
    if not spec.integrates_person_intercepts:
        return False, ()
    return True, tuple(k for k, m in enumerate(spec.mediators) if m.family != "normal")


def slope_names(spec: Spec) -> list[str]:
    """Labels of the random slopes, in their order: ``a:<m>``..., ``b:<m>``..., ``c``."""
    names = list(spec.mediator_names)
    return [f"a:{m}" for m in names] + [f"b:{m}" for m in names] + ["c"]


@dataclass(frozen=True)
class ProductTerm:
    """One declared product term: a parameter element and where it acts.

    Attributes
    ----------
    name : str
        Its parameter (:data:`PRODUCT_PARAMS`).
    label : str
        Its coordinate: ``"support:discouragement"`` (``b_xm``, ``b_mm``: the terms as the
        spec writes them), ``"discouragement|severity"`` (``a_mod``, ``b_mod``: the path's
        mediator and the moderator's design column), ``"severity"`` (``c_mod``); a
        categorical moderator's columns read ``"prior_care[yes]"``.
    first, second : str
        The two variables of the product as the panel names them (a moderator by its design
        column): exposure and mediator, two mediators, exposure and moderator (``a_mod``,
        ``c_mod``) or mediator and moderator (``b_mod``).
    child : str
        The variable whose equation holds the term: the mediator (``a_mod``) or the outcome.
    index : tuple of int
        Its place in the equations' full array: ``(k,)`` in ``b_xm``, ``(j, k)`` in ``b_mm``
        (``M_j M_k``), ``(k, j)`` in ``a_mod`` and ``b_mod`` (mediator, confounder column),
        ``(j,)`` in ``c_mod``.
    """

    name: str
    label: str
    first: str
    second: str
    child: str
    index: tuple[int, ...]


def product_terms(spec: Spec) -> dict[str, tuple[ProductTerm, ...]]:
    """The spec's product terms by parameter, each in spec order; a parameter without terms is left out."""
    x, y = spec.exposure.name, spec.outcome.name
    names = list(spec.mediator_names)
    columns = list(spec.confounder_terms)
    by_name = {c.name: c for c in spec.confounders}
    out: dict[str, list[ProductTerm]] = {name: [] for name in PRODUCT_PARAMS}
    for inter in spec.exposure_mediator_interactions:
        m = next(t for t in inter.terms if t != x)
        out["b_xm"].append(ProductTerm("b_xm", inter.label, *inter.terms, y, (names.index(m),)))
    for inter in spec.mediator_interactions:
        first, second = inter.terms
        out["b_mm"].append(ProductTerm("b_mm", inter.label, first, second, y,
                                       (names.index(first), names.index(second))))
    for kind in ("a", "b", "c"):
        for mediator, moderator in spec.moderated_paths(kind):
            for column in by_name[moderator].terms:
                j = columns.index(column)
                if kind == "a":
                    term = ProductTerm("a_mod", f"{mediator}|{column}", x, column, mediator,
                                       (names.index(mediator), j))
                elif kind == "b":
                    term = ProductTerm("b_mod", f"{mediator}|{column}", mediator, column, y,
                                       (names.index(mediator), j))
                else:
                    term = ProductTerm("c_mod", column, x, column, y, (j,))
                out[f"{kind}_mod"].append(term)
    return {name: tuple(terms) for name, terms in out.items() if terms}


def product_indices(spec: Spec) -> dict[str, tuple[tuple[int, ...], ...]]:
    """Each declared product term's index in its full array, by parameter: what the design
    matrices of :mod:`carepaths.structural.equations` take as ``products``."""
    return {name: tuple(t.index for t in terms) for name, terms in product_terms(spec).items()}


def parameter_dims(spec: Spec) -> dict[str, tuple[str, ...]]:
    """Every population-level parameter the spec's model has, with its dims.

    These are the names of a parameter set everywhere: the PyMC model's variables, the
    simulator's truth (:func:`carepaths.simulation.default_params`) and the rows of
    ``fit.summary()``. Stage-pooling hyperparameters (``mu_*``, ``tau_*``) and the
    standardised person effects (``z_*``) are the PyMC model's own and not listed.
    """
    staged = spec.structure.stage_specific_paths
    mode = person_mode(spec)
    dims: dict[str, tuple[str, ...]] = {
        "alpha_m": ("mediator", "stage"),
        "a": ("mediator", "stage") if staged else ("mediator",),
        "b": ("mediator", "stage") if staged else ("mediator",),
        "c": ("stage",) if staged else (),
        "beta0": ("stage",),
    }
    if spec.confounders:
        dims["gamma_m"] = ("mediator", "confounder")
        dims["delta"] = ("confounder",)
    if spec.mediator_edges:
        dims["d_edge"] = ("edge",)
    if any(m.family == "normal" for m in spec.mediators):
        dims["sigma_m"] = ("mediator_normal",)
    for m in spec.mediators:
        if m.family == "ordinal":
            dims[f"cutpoints_{m.name}"] = (f"cut_{m.name}",)
    if spec.outcome.family == "normal":
        dims["sigma_y"] = ()
    if spec.outcome.family == "negative_binomial":
        dims["phi"] = ()
    if spec.structure.center_exposure_within_person:
        dims["a_between"] = ("mediator",)
        dims["c_between"] = ()
    if mode != "none":
        dims["sd_u"] = ("mediator",)
        dims["sd_v"] = ()
    if mode == "slopes":
        dims["sd_slope"] = ("slope",)
        dims["corr_slope"] = ("slope", "slope_other")
    if spec.columns.cluster is not None:
        dims["sd_cluster"] = ()
    for name in product_terms(spec):  # last: a spec without them keeps its names and order
        dims[name] = (_TERM_DIMS[name],)
    return dims


#: The dim of each product-term parameter (one element per declared term).
_TERM_DIMS = {"b_xm": "xm_term", "b_mm": "mm_term", "a_mod": "a_mod_term", "b_mod": "b_mod_term",
              "c_mod": "c_mod_term"}


def parameter_coords(spec: Spec) -> dict[str, list[str]]:
    """Coordinates of every dim in :func:`parameter_dims`."""
    names = list(spec.mediator_names)
    coords: dict[str, list[str]] = {
        "mediator": names,
        "stage": list(spec.stage_levels),
        "confounder": list(spec.confounder_terms),
        "edge": [f"{a}->{b}" for a, b in spec.mediator_edges],
        "mediator_normal": [m.name for m in spec.mediators if m.family == "normal"],
        "slope": slope_names(spec),
        "slope_other": slope_names(spec),
    }
    for m in spec.mediators:
        if m.family == "ordinal":
            cats = list(m.categories)
            coords[f"cut_{m.name}"] = [f"{lo}|{hi}" for lo, hi in zip(cats[:-1], cats[1:], strict=True)]
    for name, terms in product_terms(spec).items():  # only where declared: no new dims otherwise
        coords[_TERM_DIMS[name]] = [t.label for t in terms]
    return coords


# ----------------------------------------------------------------------------- backends
@dataclass(frozen=True)
class _Ops:
    """The few array operations the rules need, for one backend.

    ``batch`` says whether arrays may carry leading sample axes (NumPy) or not (the
    PyTensor model graph); indices are then written relative to the trailing axes.
    """

    set: Callable[[Any, tuple, Any], Any]
    zeros: Callable[[tuple[int, ...]], Any]
    full: Callable[[tuple[int, ...], float], Any]
    repeat_last: Callable[[Any, int], Any]
    stack_last: Callable[[list[Any]], Any]
    batch_shape: Callable[[Any], tuple[int, ...]]
    person_axis: Callable[[Any, int], Any]


def _np_set(array: Any, index: tuple, value: Any) -> np.ndarray:
    out = np.array(array, dtype=float, copy=True)
    out[(Ellipsis, *index)] = value
    return out


NUMPY = _Ops(
    set=_np_set,
    zeros=lambda shape: np.zeros(shape),
    full=lambda shape, value: np.full(shape, value),
    repeat_last=lambda a, n: np.repeat(np.asarray(a, dtype=float)[..., None], n, axis=-1),
    stack_last=lambda arrays: np.stack(arrays, axis=-1),
    batch_shape=lambda a: np.shape(a),
    person_axis=lambda a, trailing: np.expand_dims(a, np.ndim(a) - trailing),
)


def pytensor_ops() -> _Ops:
    """The PyTensor backend (no sample axes: one symbolic parameter set)."""
    import pytensor.tensor as pt

    return _Ops(
        set=lambda a, index, value: pt.set_subtensor(a[index], value),
        zeros=lambda shape: pt.zeros(shape),
        full=lambda shape, value: pt.fill(pt.zeros(shape), value),
        repeat_last=lambda a, n: pt.repeat(pt.shape_padright(a), n, axis=-1),
        stack_last=lambda arrays: pt.stack(arrays, axis=-1),
        batch_shape=lambda a: (),
        person_axis=lambda a, trailing: a,  # no sample axes: broadcasting does it
    )


# ----------------------------------------------------------------------------- the rules
def structural_arrays(spec: Spec, raw: Mapping[str, Any], ops: _Ops = NUMPY) -> dict[str, Any]:
    """The equations' arrays from a parameter set: every rule of the module docstring, once.

    Parameters
    ----------
    spec : Spec
    raw : mapping
        The parameter set by the names of :func:`parameter_dims` (NumPy arrays with any
        number of leading sample axes, or PyTensor tensors without).
    ops : backend
        :data:`NUMPY` (default) or :func:`pytensor_ops`.

    Returns
    -------
    dict
        ``alpha_m``, ``a``, ``b`` (..., mediator, stage); ``c``, ``beta0`` (..., stage);
        ``gamma_m`` (..., mediator, confounder); ``delta`` (..., confounder); ``d``
        (..., mediator, parent); ``sigma_m`` (..., mediator); ``cutpoints`` (...,
        mediator, cut); ``sigma_y``, ``phi`` (...); with the within/between split
        ``a_between`` (..., mediator) and ``c_between`` (...); with declared product terms
        (:func:`product_terms`) ``b_xm`` (..., mediator), ``b_mm`` (..., mediator,
        mediator), ``a_mod`` and ``b_mod`` (..., mediator, confounder), ``c_mod`` (...,
        confounder). Values a family does not have are NaN.
    """
    K, S, J = len(spec.mediators), len(spec.stage_levels), len(spec.confounder_terms)
    batch = ops.batch_shape(raw["beta0"])[:-1]
    out: dict[str, Any] = {"beta0": raw["beta0"]}
    staged = spec.structure.stage_specific_paths
    for name in ("a", "b", "c"):
        out[name] = raw[name] if staged else ops.repeat_last(raw[name], S)
    alpha = raw["alpha_m"]
    ordinal = [k for k, m in enumerate(spec.mediators) if m.family == "ordinal"]
    if ordinal:
        alpha = ops.set(alpha, (ordinal, 0), 0.0)
    out["alpha_m"] = alpha
    out["gamma_m"] = raw["gamma_m"] if J else ops.zeros((*batch, K, 0))
    out["delta"] = raw["delta"] if J else ops.zeros((*batch, 0))
    names = list(spec.mediator_names)
    d = ops.zeros((*batch, K, K))
    for e, (src, dst) in enumerate(spec.mediator_edges):
        d = ops.set(d, (names.index(dst), names.index(src)), raw["d_edge"][..., e])
    out["d"] = d
    normal = [k for k, m in enumerate(spec.mediators) if m.family == "normal"]
    sigma_m = ops.full((*batch, K), np.nan)
    if normal:
        sigma_m = ops.set(sigma_m, (normal,), raw["sigma_m"])
    out["sigma_m"] = sigma_m
    n_cut = max([len(m.categories) - 1 for m in spec.mediators if m.family == "ordinal"], default=1)
    cutpoints = ops.full((*batch, K, n_cut), np.nan)
    for k in ordinal:
        med = spec.mediators[k]
        cutpoints = ops.set(cutpoints, (k, slice(0, len(med.categories) - 1)), raw[f"cutpoints_{med.name}"])
    out["cutpoints"] = cutpoints
    for name in ("sigma_y", "phi"):
        out[name] = raw[name] if name in raw else ops.full(batch, np.nan)
    if spec.structure.center_exposure_within_person:
        out["a_between"], out["c_between"] = raw["a_between"], raw["c_between"]
    shapes = {"b_xm": (K,), "b_mm": (K, K), "a_mod": (K, J), "b_mod": (K, J), "c_mod": (J,)}
    for name, terms in product_terms(spec).items():  # each declared term into its full array
        full = ops.zeros((*batch, *shapes[name]))
        for e, term in enumerate(terms):
            full = ops.set(full, term.index, raw[name][..., e])
        out[name] = full
    return out


def slope_covariance(sd_slope: Any, corr_slope: Any) -> Any:
    """Covariance of the random slopes from their SDs and correlation (NumPy, batched)."""
    sd = np.asarray(sd_slope, dtype=float)
    return np.asarray(corr_slope, dtype=float) * sd[..., :, None] * sd[..., None, :]


def split_slopes(slopes: Any, n_mediators: int, *, axis: int = -1) -> tuple[Any, Any, Any]:
    """A person's slope deviations ``(a_i, b_i, c_i)`` from the stacked slopes.

    ``slopes`` holds ``a:<m>`` for every mediator, then ``b:<m>``, then ``c`` along
    ``axis`` (:func:`slope_names`).
    """
    K = n_mediators
    moved = np.moveaxis(slopes, axis, 0) if isinstance(slopes, np.ndarray) else None
    if moved is None:  # a PyTensor tensor: slopes on the last axis
        return slopes[..., :K], slopes[..., K : 2 * K], slopes[..., 2 * K]
    a_i, b_i, c_i = moved[:K], moved[K : 2 * K], moved[2 * K]
    return np.moveaxis(a_i, 0, axis), np.moveaxis(b_i, 0, axis), c_i


def person_arrays(spec: Spec, raw: Mapping[str, Any], ops: _Ops = NUMPY) -> dict[str, Any]:
    """The observed persons' effects from the model's standardised ones (posterior only).

    Returns whichever apply: ``v`` (..., person) outcome intercepts and ``u`` (...,
    person, mediator) mediator intercepts, 0 for the integrated-out ones
    (:func:`integrated_mediators`), when the intercepts are sampled (``z_v`` among the
    draws; not when :func:`quadrature_intercepts` integrates them out); ``slopes`` (...,
    person, slope); ``cluster`` (..., cluster) cluster intercepts of the outcome.
    """
    out: dict[str, Any] = {}
    mode = person_mode(spec)
    K = len(spec.mediators)
    if mode != "none" and "z_v" in raw:  # sampled intercepts (absent when integrated out)
        out["v"] = ops.person_axis(raw["sd_v"], 0) * raw["z_v"]
        explicit = [k for k in range(K) if k not in integrated_mediators(spec)] if "z_u" in raw else []
        if explicit:
            shape = (*ops.batch_shape(raw["z_v"]), K) if ops is NUMPY else (raw["z_v"].shape[0], K)
            sd = raw["sd_u"][..., explicit]
            out["u"] = ops.set(ops.zeros(shape), (slice(None), explicit), raw["z_u"] * ops.person_axis(sd, 1))
        else:
            out["u"] = ops.zeros((*ops.batch_shape(raw["z_v"]), K)) if ops is NUMPY else 0.0
    if mode == "slopes":
        out["slopes"] = raw["person_slope"]
    if spec.columns.cluster is not None:
        out["cluster"] = ops.person_axis(raw["sd_cluster"], 0) * raw["z_cluster"]
    return out


# ----------------------------------------------------------------------------- draws
#: The model variable holding the latent values of missing mediators, one per cell of
#: :meth:`carepaths.data.Panel.latent_cells` (only with ``missing="model"``).
MISSING_MEDIATORS = "M_missing"
#: The model variable holding the imputed values of missing numeric confounders, one per
#: cell of :meth:`carepaths.data.Panel.latent_confounders`.
MISSING_CONFOUNDERS = "C_missing"
#: The model variable holding the imputed values of a missing continuous exposure, one per
#: row of :meth:`carepaths.data.Panel.latent_exposure`.
MISSING_EXPOSURE = "X_missing"
#: The model variable holding the posterior weights of the summed-out binary and ordinal
#: mediator values (:mod:`carepaths.structural.mixtures`).
MISSING_WEIGHTS = "M_missing_weights"


@dataclass(frozen=True)
class ParameterSet:
    """Translated draws of a parameter set, stacked over (chain, draw) into one sample axis.

    Build it with :meth:`from_draws` (posterior or prior draws) or :meth:`from_truth`
    (one known parameter set).

    Attributes
    ----------
    spec : Spec
    chains, draws : int
        Sizes of the chain and draw dims (samples = chains * draws, chain-major).
    fixed : dict of str to array
        The equations' arrays (:func:`structural_arrays`) with a leading sample axis.
    person : dict of str to array
        With a leading sample axis, whichever the model has: the population SDs ``sd_u``
        (sample, mediator), ``sd_v`` (sample,), ``sd_cluster`` (sample,), ``cov_slope``
        (sample, slope, slope); for the observed persons (posterior only) ``v``
        (sample, person), ``u`` (sample, person, mediator), ``slopes`` (sample, person,
        slope), ``cluster`` (sample, cluster) (:func:`person_arrays`); with missing
        mediators modelled, ``M_missing`` (sample, cell): their latent values, by cell of
        :meth:`carepaths.data.Panel.latent_cells`; with confounders imputed, ``C_missing``
        (sample, cell), by cell of :meth:`carepaths.data.Panel.latent_confounders`; with
        the exposure imputed, ``X_missing`` (sample, row), by row of
        :meth:`carepaths.data.Panel.latent_exposure`.
    source : {"posterior", "prior", "truth"}
        Where the draws come from.
    quadrature_outcome, quadrature_mediators : bool, tuple of int
        A posterior whose model integrated these person intercepts out (the outcome's;
        these mediators'): the draws hold none, and whatever needs the observed persons'
        intercepts draws them from their conditional posterior given each draw
        (:func:`carepaths.structural.person_integrals.draw_conditional`).
    """

    spec: Spec
    chains: int
    draws: int
    fixed: dict[str, np.ndarray]
    person: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "posterior"
    quadrature_outcome: bool = False
    quadrature_mediators: tuple[int, ...] = ()

    @property
    def n_samples(self) -> int:
        """Number of samples (chains x draws)."""
        return self.chains * self.draws

    @property
    def has_observed_persons(self) -> bool:
        """Whether the set holds, or can draw, the observed persons' effects (a posterior does)."""
        return "v" in self.person or "cluster" in self.person or self.quadrature_outcome

    def sample(self, i: int) -> dict[str, np.ndarray]:
        """The equations' arrays of sample ``i`` (no sample axis)."""
        return {name: value[i] for name, value in self.fixed.items()}

    def batch(self, draws: slice) -> dict[str, np.ndarray]:
        """The equations' arrays of a slice of samples, draw axis last (the batched layout)."""
        return {name: _draws_last(value[draws]) for name, value in self.fixed.items()}

    @classmethod
    def from_draws(cls, spec: Spec, draws: Any, *, source: str = "posterior") -> ParameterSet:
        """Translate draws of the model's variables (posterior or prior).

        Parameters
        ----------
        spec : Spec
            The spec the model was built from.
        draws : xarray.Dataset
            The model's variables with ``chain`` and ``draw`` dims: a fit's posterior
            group, or prior draws of the free variables (one chain).
        source : {"posterior", "prior"}
            Which of the two they are.
        """
        chains, n_draws = int(draws.sizes["chain"]), int(draws.sizes["draw"])
        n = chains * n_draws

        def get(name: str) -> np.ndarray:
            values = np.asarray(draws[name].values, dtype=float)
            return values.reshape(n, *values.shape[2:])

        raw = {name: get(name) for name in parameter_dims(spec)}
        for name in ("z_v", "z_u", "person_slope", "z_cluster"):
            if name in draws:
                raw[name] = get(name)
        person = _population_person(spec, raw)
        # latent values and the summed-out mediators' weights (missing="model")
        for name in (MISSING_MEDIATORS, MISSING_CONFOUNDERS, MISSING_EXPOSURE, MISSING_WEIGHTS):
            if name in draws:
                person[name] = get(name)
        if "z_v" in raw or "z_cluster" in raw:
            person.update(person_arrays(spec, raw))
        # integrated intercepts: a posterior of the quadrature model has no z_v (a fit saved
        # before integration existed has them, whatever its spec's default now says)
        outcome, mediators = quadrature_intercepts(spec)
        integrated = source == "posterior" and outcome and "z_v" not in raw
        return cls(spec=spec, chains=chains, draws=n_draws, fixed=structural_arrays(spec, raw), person=person,
                   source=source, quadrature_outcome=integrated,
                   quadrature_mediators=mediators if integrated and "z_u" not in raw else ())

    @classmethod
    def from_truth(cls, spec: Spec, truth: Mapping[str, Any]) -> ParameterSet:
        """One known parameter set (the simulator's truth) as a set of one sample.

        ``truth`` maps every name of :func:`parameter_dims` to an array of its dims;
        other entries (the simulator's own exposure, confounder and stage parameters)
        are ignored.
        """
        raw = {name: np.asarray(truth[name], dtype=float)[None] for name in parameter_dims(spec)}
        return cls(spec=spec, chains=1, draws=1, fixed=structural_arrays(spec, raw),
                   person=_population_person(spec, raw), source="truth")


def _population_person(spec: Spec, raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    person: dict[str, np.ndarray] = {}
    for name in ("sd_u", "sd_v", "sd_cluster"):
        if name in raw:
            person[name] = raw[name]
    if "sd_slope" in raw:
        person["cov_slope"] = slope_covariance(raw["sd_slope"], raw["corr_slope"])
    return person


def _draws_last(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(values, 0, -1))
