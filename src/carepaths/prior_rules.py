"""The prior names, what each needs of a spec, and the check every prior passes.

This module sits beside :mod:`carepaths.spec` (below the model), so the spec's ``[priors]``
table and :class:`carepaths.Prior` (``carepaths.model.priors``) are checked by the same
code: a prior is refused the same way wherever it is written, and a prior that is accepted
takes full effect in the model (its distribution and every parameter).

* :data:`PRIOR_NAMES` is the one list of prior names; :func:`prior_names` says which of
  them a spec's model has, and :func:`prior_need` what a spec needs for one to exist.
* :func:`check_prior` checks a distribution and its parameters against PyMC itself: the
  distribution must exist (``pymc.<Name>``), each parameter must be one its ``dist``
  signature names, the values must be finite numbers, and PyMC's own parameter checks
  (``sigma > 0``, ``alpha > 0``, ...) must pass, with the offending parameter named. For a
  named prior it also checks what the model needs of it: standard deviations and the
  dispersion need a distribution on the positive reals, ordered cutpoints one on the whole
  real line, and ``lkj_eta`` is the LKJ shape.

PyMC is imported only when a prior is checked, so ``import carepaths`` stays fast.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from carepaths.exceptions import SpecError, suggest_closest
from carepaths.files import shorten

__all__ = [
    "PRIOR_NAMES",
    "POSITIVE_PRIORS",
    "LKJ_DISTRIBUTIONS",
    "prior_names",
    "prior_need",
    "check_prior",
    "check_prior_name",
]

#: Every prior name, in the order of the prior table. Which model variables each sets:
#: ``alpha_m``, ``beta0``, ``gamma_m``, ``delta``, ``sigma_m``, ``sigma_y``, ``phi``,
#: ``sd_u``, ``sd_v``, ``sd_cluster``: the variable of that name; ``a``, ``b``, ``c``: the
#: paths (with pooled stages, their pooled means ``mu_a``, ``mu_b``, ``mu_c``; with the
#: within/between split, also ``a_between`` and ``c_between``); ``d``: the mediator edges
#: ``d_edge``; ``cutpoints``: every ``cutpoints_<mediator>`` (ordered); ``tau``: the
#: between-stage SDs ``tau_a``, ``tau_b``, ``tau_c``; ``sd_slope``: the person-slope SDs
#: (``sd_dist`` of the LKJ Cholesky covariance); ``lkj_eta``: its LKJ shape ``eta``;
#: ``b_xm``, ``b_mm``, ``a_mod``, ``b_mod``, ``c_mod`` (the ``[[interactions]]`` and
#: ``[[moderation]]`` terms, last so that the table of a spec without them is unchanged):
#: the variable of that name.
PRIOR_NAMES: tuple[str, ...] = (
    "alpha_m", "a", "gamma_m", "d", "sigma_m", "cutpoints", "beta0", "c", "b", "delta",
    "sigma_y", "phi", "tau", "sd_u", "sd_v", "sd_slope", "lkj_eta", "sd_cluster",
    "b_xm", "b_mm", "a_mod", "b_mod", "c_mod",
)

#: Priors of standard deviations and the dispersion: their distribution must put all its
#: mass on the positive reals (a Normal would let the sampler step to a negative SD).
POSITIVE_PRIORS = frozenset(
    {"sigma_m", "sigma_y", "phi", "tau", "sd_u", "sd_v", "sd_slope", "sd_cluster"}
)

#: The distributions ``lkj_eta`` takes: the LKJ distribution of a correlation matrix
#: (``"LKJ"``, or PyMC's own name ``"LKJCorr"``), whose one parameter is ``eta``.
LKJ_DISTRIBUTIONS = ("LKJ", "LKJCorr")

#: name -> (what the spec needs, in words; the test on a spec). A spec is duck-typed here
#: (this module sits below ``carepaths.spec`` and does not import it).
_NEEDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "gamma_m": ("confounders", lambda s: bool(s.confounders)),
    "delta": ("confounders", lambda s: bool(s.confounders)),
    "d": ("mediator_edges", lambda s: bool(s.mediator_edges)),
    "sigma_m": (
        'a mediator with family = "normal"', lambda s: any(m.family == "normal" for m in s.mediators)
    ),
    "cutpoints": (
        'a mediator with family = "ordinal"', lambda s: any(m.family == "ordinal" for m in s.mediators)
    ),
    "sigma_y": ('outcome.family = "normal"', lambda s: s.outcome.family == "normal"),
    "phi": ('outcome.family = "negative_binomial"', lambda s: s.outcome.family == "negative_binomial"),
    "tau": (
        "structure.pool_stages = true with structure.stage_specific_paths = true",
        lambda s: s.structure.pool_stages and s.structure.stage_specific_paths,
    ),
    "sd_u": ('structure.person_effects = "intercepts" or "slopes"', lambda s: s.structure.person_effects != "none"),
    "sd_v": ('structure.person_effects = "intercepts" or "slopes"', lambda s: s.structure.person_effects != "none"),
    "sd_slope": ('structure.person_effects = "slopes"', lambda s: s.structure.person_effects == "slopes"),
    "lkj_eta": ('structure.person_effects = "slopes"', lambda s: s.structure.person_effects == "slopes"),
    "sd_cluster": ("columns.cluster", lambda s: s.columns.cluster is not None),
    "b_xm": (
        "an exposure x mediator term in [[interactions]]", lambda s: bool(s.exposure_mediator_interactions)
    ),
    "b_mm": ("a mediator x mediator term in [[interactions]]", lambda s: bool(s.mediator_interactions)),
    "a_mod": ('an "a:<mediator>" path in [[moderation]]', lambda s: bool(s.moderated_paths("a"))),
    "b_mod": ('a "b:<mediator>" path in [[moderation]]', lambda s: bool(s.moderated_paths("b"))),
    "c_mod": ('the path "c" in [[moderation]]', lambda s: bool(s.moderated_paths("c"))),
}


def prior_names(spec: Any) -> tuple[str, ...]:
    """The prior names a spec's model has, in the order of :data:`PRIOR_NAMES`.

    Parameters
    ----------
    spec : Spec
        A validated spec.

    Returns
    -------
    tuple of str
    """
    return tuple(n for n in PRIOR_NAMES if n not in _NEEDS or _NEEDS[n][1](spec))


def prior_need(name: str) -> str:
    """What a spec needs for the prior ``name`` to exist, in words (``""``: every spec has it)."""
    return _NEEDS[name][0] if name in _NEEDS else ""


def check_prior_name(name: Any, spec: Any, *, where: str) -> str:
    """Check that ``name`` is a prior of ``spec``'s model.

    Parameters
    ----------
    name : str
        The prior name.
    spec : Spec
        The spec.
    where : str
        How the error names the place, e.g. ``"spec key 'priors.bb'"``.

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    SpecError
        For a name that is no prior (with the closest valid name and every valid name), or
        the name of a prior this spec's model does not have (with what it needs).
    """
    valid = prior_names(spec)
    if isinstance(name, str) and name in valid:
        return name
    if isinstance(name, str) and name in PRIOR_NAMES:
        raise SpecError(
            f"{where}: this spec's model has no prior {name!r}: it exists only with "
            f"{prior_need(name)}. Remove it, or change the spec. Valid prior names for this "
            f"spec: {', '.join(valid)}."
        )
    hint = suggest_closest(name, valid) if isinstance(name, str) and len(name) <= 120 else ""
    raise SpecError(
        f"{where}: unknown prior name {shorten(name) if isinstance(name, str) else repr(name)}.{hint} "
        "Valid prior names for this spec: "
        f"{', '.join(valid)}."
    )


# ----------------------------------------------------------------------------- checks
def _distributions() -> dict[str, type]:
    """PyMC's distributions by name."""
    import pymc as pm

    return {
        n: obj for n in dir(pm)
        if isinstance(obj := getattr(pm, n), type) and issubclass(obj, pm.Distribution)
    }


def _signature_params(dist: type, distribution: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every parameter, the required ones) of ``dist.dist``, from PyMC's own signature."""
    import inspect

    sig = inspect.signature(dist.dist)
    named = [
        p for p in sig.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name != "cls"
    ]
    if distribution in LKJ_DISTRIBUTIONS:
        named = [p for p in named if p.name != "n"]  # the model sets the dimension
    return (
        tuple(p.name for p in named),
        tuple(p.name for p in named if p.default is inspect.Parameter.empty),
    )


def check_prior(
    distribution: Any, params: Any, *, name: str | None = None, where: str | None = None
) -> tuple[str, dict[str, float]]:
    """Check a prior against PyMC and return it as plain data.

    Parameters
    ----------
    distribution : str
        A PyMC distribution name, e.g. ``"Normal"`` (``"LKJ"`` for ``lkj_eta``).
    params : mapping of str to float
        Its parameters, e.g. ``{"mu": 0, "sigma": 0.5}``.
    name : str, optional
        The prior name it is for; adds the checks that name needs (a positive support
        for SDs and the dispersion, the whole real line for cutpoints, LKJ for
        ``lkj_eta``).
    where : str, optional
        How errors name the prior, e.g. ``"spec key 'priors.a'"``; by default
        ``"prior 'a'"`` or ``"Prior('Normal')"``.

    Returns
    -------
    (str, dict of str to float)
        The distribution and its parameters as floats.

    Raises
    ------
    SpecError
        Naming the prior and the key: an unknown distribution (with the closest one), a
        parameter the distribution does not take (with the valid ones and the closest),
        a missing required parameter, a value that is not a finite number, a value PyMC's
        own checks refuse (e.g. a non-positive ``sigma``), a discrete or multivariate
        distribution, or a distribution the named prior cannot use.
    """
    where = where or (f"prior {name!r}" if name is not None else f"Prior({distribution!r})")
    if not isinstance(distribution, str) or not distribution:
        raise SpecError(
            f"{where}: the distribution must be a PyMC distribution name (a string) such as "
            f"'Normal', got {distribution!r}."
        )
    if not isinstance(params, Mapping):
        raise SpecError(
            f"{where}: the parameters must be a table of name = number, e.g. "
            f"{{ mu = 0.0, sigma = 0.5 }}, got {params!r}."
        )
    values: dict[str, float] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise SpecError(f"{where}: parameter names must be strings, got {key!r}.")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise SpecError(
                f"{where}: parameter {key!r} must be a number, got {value!r}. One number "
                "applies to every element of the parameter."
            )
        if not math.isfinite(float(value)):
            raise SpecError(f"{where}: parameter {key!r} is {value}; give a finite number.")
        values[key] = float(value)

    lkj = distribution in LKJ_DISTRIBUTIONS
    if name == "lkj_eta" and not lkj:
        raise SpecError(
            f"{where}: lkj_eta is the shape of the LKJ distribution of the person slopes' "
            f"correlation, which PyMC's LKJCholeskyCov takes as a fixed number, so its prior "
            f"is Prior('LKJ', eta=...) (eta > 0; 1 is uniform over correlation matrices, "
            f"larger shrinks towards 0), not {distribution!r}."
        )
    if lkj and name is not None and name != "lkj_eta":
        raise SpecError(
            f"{where}: {distribution} is the distribution of a correlation matrix; only "
            f"lkj_eta takes it. Use a univariate distribution such as 'Normal' or 'HalfNormal'."
        )
    kind = "lkj" if lkj else "positive" if name in POSITIVE_PRIORS else "real_line" if name == "cutpoints" else "any"
    problem = _pymc_check(distribution, tuple(values.items()), kind)
    if problem is not None:
        raise SpecError(f"{where}: {problem}")
    return distribution, values


@functools.lru_cache(maxsize=512)
def _pymc_check(distribution: str, items: tuple[tuple[str, float], ...], kind: str) -> str | None:
    """What is wrong with the prior, in words, or None. Cached: PyMC compiles to check."""
    import pymc as pm

    dists = _distributions()
    lookup = "LKJCorr" if distribution == "LKJ" else distribution
    if lookup not in dists:
        return (
            f"PyMC has no distribution {shorten(distribution)}."
            f"{suggest_closest(distribution, sorted(dists)) if len(distribution) <= 120 else ''} "
            "Use a continuous PyMC distribution name such as 'Normal', 'HalfNormal', "
            "'StudentT', 'Gamma' or 'LogNormal'."
        )
    dist = dists[lookup]
    allowed, required = _signature_params(dist, distribution)
    values = dict(items)
    for key in values:
        if key not in allowed:
            return (
                f"{distribution} takes no parameter {shorten(key)}."
                f"{suggest_closest(key, allowed) if len(key) <= 120 else ''} "
                f"{distribution} takes: {', '.join(allowed) or 'no parameters'}."
            )
    missing = [k for k in required if k not in values]
    if missing:
        return f"{distribution} needs the parameter(s) {', '.join(map(repr, missing))}; add them."

    def build(vals: Mapping[str, float]) -> Any:
        return dist.dist(**({"n": 2, **vals} if kind == "lkj" else vals))

    try:
        rv = build(values)
    except (TypeError, ValueError) as err:
        return f"PyMC refuses {distribution} with {values}: {err}"
    if kind != "lkj":
        if not str(rv.dtype).startswith("float"):
            return (
                f"{distribution} is a discrete distribution; the model's parameters are "
                "continuous (NUTS samples continuous parameters only). Use a continuous one."
            )
        if getattr(rv.owner.op, "ndim_supp", 0) != 0 or rv.ndim != 0:
            return (
                f"{distribution} is multivariate; a prior here is one univariate distribution "
                "for every element of the parameter. Use a univariate distribution."
            )
    error = _density_error(rv)
    if error is not None:
        # name the culprit: the non-positive parameter whose replacement by 1 clears the error
        for key, value in values.items():
            if value <= 0:
                try:
                    cleared = _density_error(build({**values, key: 1.0})) is None
                except (TypeError, ValueError):
                    cleared = False
                if cleared:
                    return f"parameter {key!r} = {value:g} must be positive for {distribution} ({error})."
        return f"PyMC refuses these values of {distribution}'s parameters {values} ({error})."
    if kind == "positive" and not _outside_support(rv, (-1e-6, -1.0, -1e6)):
        return (
            f"{distribution}{_args(values)} puts mass on negative values, but this prior is "
            "of a standard deviation or the dispersion, which is positive. Use a "
            "distribution on the positive reals such as 'HalfNormal', 'LogNormal', 'Gamma' "
            "or 'Exponential'."
        )
    if kind == "real_line" and _default_transform(dist, values) is not None:
        return (
            f"{distribution}{_args(values)} is bounded, but ordinal cutpoints are ordered "
            "with a transform onto the whole real line that replaces the distribution's own "
            "bounds. Use an unbounded distribution such as 'Normal', 'StudentT' or 'Logistic'."
        )
    return None


def _args(values: Mapping[str, float]) -> str:
    return "(" + ", ".join(f"{k}={v:g}" for k, v in values.items()) + ")"


def _evaluate(expr: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return expr.eval(mode="FAST_COMPILE")


def _density_error(rv: Any) -> str | None:
    """PyMC's own check of the parameters: the log-density at a central point is finite."""
    import numpy as np
    import pymc as pm
    from pymc.distributions.distribution import support_point
    from pymc.logprob.utils import ParameterValueError

    try:
        try:
            point = _evaluate(support_point(rv))
        except NotImplementedError:
            point = pm.draw(rv, random_seed=0)
        if not np.all(np.isfinite(point)):
            return "PyMC's central point of the distribution is not finite"
        logp = _evaluate(pm.logp(rv, point))
    except ParameterValueError as err:
        return f"PyMC's check: {err}"
    if not np.all(np.isfinite(logp)):
        return "PyMC's density is not finite at the distribution's central point"
    return None


def _outside_support(rv: Any, points: tuple[float, ...]) -> bool:
    """Whether every point lies outside the support (PyMC's log-density is -inf there)."""
    import numpy as np
    import pymc as pm

    try:
        logp = np.atleast_1d(_evaluate(pm.logp(rv, np.asarray(points, dtype=float))))
    except Exception:  # noqa: BLE001 - PyMC refusing the value is the same answer as -inf
        return True
    return bool(np.isneginf(logp).all())


def _default_transform(dist: type, values: Mapping[str, float]) -> Any:
    """The transform PyMC gives the distribution's variable: None on the whole real line."""
    import pymc as pm

    with pm.Model() as model:
        var = dist("x", **values)
    return model.rvs_to_transforms[var]
