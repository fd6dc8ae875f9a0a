"""Default priors, overrides from the spec and the caller, and the prior table.

A :class:`Prior` has the shape of ``pymc_extras.prior.Prior`` (a PyMC distribution name,
its parameters, dims, and a dict round-trip) without the dependency: pymc-extras 0.15.1,
the latest release, requires pymc < 6.4, and carepaths keeps pymc 6.4.

Every prior takes full effect or is refused: a :class:`Prior` is checked against PyMC when
it is made (:func:`carepaths.prior_rules.check_prior`: the distribution exists, each
parameter is one it takes, the values are finite and pass PyMC's own checks), and again
for the name it is given (SDs need a positive support, cutpoints an unbounded one,
``lkj_eta`` is an LKJ shape). The model then uses the whole prior, distribution and every
parameter, for every name (:mod:`carepaths.model.build`).

The priors in use are merged from three sources, later ones winning: the defaults below
(``"default"``), the spec's ``[priors]`` table (``"spec"``) and the ``priors=`` argument of
:class:`~carepaths.model.build.MediationModel` (``"argument"``).

All defaults are weakly informative on the model scale: the exposure, normal mediators,
numeric confounders and a normal outcome are standardised by :class:`~carepaths.data.Panel`;
binary and count outcomes use their link scale (log-odds, log-rate).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from carepaths.exceptions import SpecError
from carepaths.prior_rules import check_prior, check_prior_name, prior_names
from carepaths.spec import Spec

__all__ = [
    "Prior",
    "default_priors",
    "resolve_priors",
    "resolve_prior_sources",
    "prior_table",
    "PRIOR_REASONS",
    "IMPUTATION_PRIORS",
    "PRIOR_SOURCES",
    "SOURCES_ATTR",
]

#: Where a prior in use came from, lowest precedence first.
PRIOR_SOURCES = ("default", "spec", "argument")

#: The attribute of a fit's posterior (DataTree root) that records each prior's source as
#: JSON; ``Fit.save`` keeps it and ``load_fit`` restores it.
SOURCES_ATTR = "prior_sources"


@dataclass(frozen=True)
class Prior:
    """A prior: a PyMC distribution by name with fixed parameters, checked against PyMC.

    Parameters
    ----------
    distribution : str
        Name of a continuous univariate ``pymc`` distribution, e.g. ``"Normal"``,
        ``"HalfNormal"``, ``"StudentT"``; ``"LKJ"`` for ``lkj_eta``.
    **params : float
        Its parameters, e.g. ``mu=0, sigma=0.5``: names its ``pymc.<distribution>.dist``
        takes, finite numbers; one number applies to every element of the parameter.

    Raises
    ------
    SpecError
        For an unknown distribution, a parameter it does not take (with the valid ones and
        the closest), a missing required parameter, a non-finite value, or a value PyMC's
        own checks refuse (e.g. ``sigma <= 0``), naming the parameter.

    Examples
    --------
    >>> Prior("Normal", mu=0, sigma=0.5)
    Prior('Normal', mu=0.0, sigma=0.5)
    """

    distribution: str
    params: Mapping[str, float] = field(default_factory=dict)

    def __init__(self, distribution: str, **params: float) -> None:
        if not _known_good(distribution, params):
            distribution, params = check_prior(distribution, params)
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "params", {k: float(v) for k, v in params.items()})

    @classmethod
    def _trusted(cls, distribution: str, **params: float) -> Prior:
        """A prior that skips the PyMC check (the defaults, checked by the tests)."""
        self = object.__new__(cls)
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "params", {k: float(v) for k, v in params.items()})
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Prior({self.distribution!r}{', ' if args else ''}{args})"

    def __hash__(self) -> int:
        return hash((self.distribution, tuple(sorted(self.params.items()))))

    def _pymc(self, name: str) -> Any:
        import pymc as pm

        if self.distribution in ("LKJ", "LKJCorr"):
            raise SpecError(
                f"prior for {name!r}: {self.distribution} is the LKJ shape of lkj_eta, not the "
                "distribution of a variable; use a univariate distribution such as 'Normal'."
            )
        return getattr(pm, self.distribution)

    def create(self, name: str, *, dims: tuple[str, ...] | str | None = None, **kwargs: Any) -> Any:
        """Create the random variable ``name`` in the current PyMC model context.

        Every parameter of the prior is passed to ``pymc.<distribution>``; ``kwargs`` adds
        the model's own arguments (``transform``, ``initval``, ...).
        """
        return self._pymc(name)(name, **self.params, dims=dims, **kwargs)

    def dist(self, **kwargs: Any) -> Any:
        """The unnamed distribution, ``pymc.<distribution>.dist(**params, **kwargs)``
        (e.g. the ``sd_dist`` of an LKJ Cholesky covariance)."""
        return self._pymc(self.distribution).dist(**self.params, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """``{"distribution": ..., "params": {...}}``; ``Prior.from_dict`` inverts it."""
        return {"distribution": self.distribution, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prior:
        """Inverse of :meth:`to_dict` (checked like the constructor)."""
        distribution, params = _dict_parts(d, "a prior dict")
        return cls(distribution, **params)


def _dict_parts(d: Any, where: str) -> tuple[Any, dict[str, Any]]:
    """(distribution, params) of a prior's dict form, its keys checked."""
    if not isinstance(d, Mapping):
        raise SpecError(f"{where} must be {{'distribution': ..., 'params': {{...}}}}, got {d!r}.")
    unknown = sorted(str(k) for k in set(d) - {"distribution", "params"})
    if unknown or "distribution" not in d:
        raise SpecError(
            f"{where} needs 'distribution' and optional 'params', got keys {sorted(map(str, d))}."
            + (
                f" Unknown: {', '.join(map(repr, unknown))}; a distribution's parameters go "
                "under 'params'."
                if unknown else ""
            )
        )
    params = d.get("params", {})
    if not isinstance(params, Mapping):
        raise SpecError(f"{where}: 'params' must be a mapping of parameter -> number, got {params!r}.")
    return d["distribution"], dict(params)


# name -> (default prior, reason); the names are prior_rules.PRIOR_NAMES, in that order
_DEFAULTS: dict[str, tuple[Prior, str]] = {
    "alpha_m": (Prior._trusted("Normal", mu=0.0, sigma=1.0), "mediator intercepts by stage; standardised or logit scale"),
    "a": (
        Prior._trusted("Normal", mu=0.0, sigma=0.5),
        "exposure -> mediator paths per SD; paths beyond +-1 SD per SD are implausible (domain.md section 6)",
    ),
    "gamma_m": (Prior._trusted("Normal", mu=0.0, sigma=0.5), "confounder -> mediator effects per SD"),
    "d": (Prior._trusted("Normal", mu=0.0, sigma=0.5), "mediator -> mediator edges per SD"),
    "sigma_m": (Prior._trusted("HalfNormal", sigma=1.0), "residual SD of normal mediators (standardised: at most ~1)"),
    "cutpoints": (Prior._trusted("Normal", mu=0.0, sigma=1.5), "ordinal mediator cutpoints on the logit scale"),
    "beta0": (
        Prior._trusted("Normal", mu=0.0, sigma=1.5),
        "outcome intercepts by stage; logit 0 +- 3 spans care-use rates of 5%-95%",
    ),
    "c": (
        Prior._trusted("Normal", mu=0.0, sigma=0.5),
        "direct path per SD; Normal(0, 0.5) on a log-OR gives OR 0.38-2.66, covering the 0.4-3.2 span of domain.md [62]",
    ),
    "b": (
        Prior._trusted("Normal", mu=0.0, sigma=0.5),
        "mediator -> outcome paths per SD of the mediator; same reasoning as c",
    ),
    "delta": (Prior._trusted("Normal", mu=0.0, sigma=0.5), "confounder -> outcome effects per SD"),
    "sigma_y": (Prior._trusted("HalfNormal", sigma=1.0), "residual SD of a normal (standardised) outcome"),
    "phi": (
        Prior._trusted("Gamma", alpha=2.0, beta=0.5),
        "negative-binomial dispersion (variance mu + mu^2/phi); mean 4 allows strong overdispersion of visit counts",
    ),
    "tau": (
        Prior._trusted("LogNormal", mu=-1.386, sigma=0.5),
        "SD of stage-specific paths around their pooled mean. Three stages cannot inform it, "
        "so the prior sets it: median 0.25, 95% in 0.09-0.67 per SD; bounded away from 0, "
        "which keeps the centred hierarchy out of the funnel a HalfNormal produced",
    ),
    "sd_u": (Prior._trusted("HalfNormal", sigma=0.5), "SD of person intercepts of the mediators"),
    "sd_v": (Prior._trusted("HalfNormal", sigma=1.0), "SD of person intercepts of the outcome (link scale)"),
    "sd_slope": (Prior._trusted("HalfNormal", sigma=0.3), "SD of person deviations of the a, b and c paths"),
    "lkj_eta": (Prior._trusted("LKJ", eta=2.0), "LKJ shape for the correlation of person slopes (eta=2: mild shrinkage to 0)"),
    "sd_cluster": (Prior._trusted("HalfNormal", sigma=0.5), "SD of cluster intercepts of the outcome"),
    "b_xm": (
        Prior._trusted("Normal", mu=0.0, sigma=0.25),
        "exposure x mediator terms of the outcome per SD x SD: how much the mediator's path "
        "changes per SD of the exposure; half the paths' scale, as interactions are mostly "
        "smaller than main effects",
    ),
    "b_mm": (
        Prior._trusted("Normal", mu=0.0, sigma=0.25),
        "mediator x mediator terms of the outcome per SD x SD; half the paths' scale, as b_xm",
    ),
    "a_mod": (
        Prior._trusted("Normal", mu=0.0, sigma=0.25),
        "change of an exposure -> mediator path per SD (or level) of its moderator; half the "
        "path's own scale",
    ),
    "b_mod": (
        Prior._trusted("Normal", mu=0.0, sigma=0.25),
        "change of a mediator -> outcome path per SD (or level) of its moderator; half the path's own scale",
    ),
    "c_mod": (
        Prior._trusted("Normal", mu=0.0, sigma=0.25),
        "change of the direct path per SD (or level) of its moderator; half the path's own scale",
    ),
}

PRIOR_REASONS = {name: reason for name, (_, reason) in _DEFAULTS.items()}

# the defaults, as (distribution, sorted params): already valid, so not checked again
_DEFAULT_KEYS = frozenset((p.distribution, tuple(sorted(p.params.items()))) for p, _ in _DEFAULTS.values())


def _known_good(distribution: Any, params: Mapping[str, Any]) -> bool:
    """Whether the prior is one of the defaults (valid, so PyMC need not check it again)."""
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in params.values()):
        return False
    try:
        return (distribution, tuple(sorted((k, float(v)) for k, v in params.items()))) in _DEFAULT_KEYS
    except TypeError:  # unorderable (non-string) keys
        return False


def default_priors(spec: Spec) -> dict[str, Prior]:
    """The default priors that apply to ``spec`` (the prior names its model has).

    Parameters
    ----------
    spec : Spec

    Returns
    -------
    dict of str to Prior
        In the order of :data:`carepaths.prior_rules.PRIOR_NAMES`.
    """
    return {n: _DEFAULTS[n][0] for n in prior_names(spec)}


def _as_prior(name: str, value: Any, where: str) -> Prior:
    if isinstance(value, Prior):
        prior = value
    elif isinstance(value, Mapping):
        distribution, params = check_prior(*_dict_parts(value, where), name=name, where=where)
        return Prior(distribution, **params)
    else:
        raise SpecError(
            f"{where} must be a carepaths.Prior (e.g. Prior('Normal', mu=0, sigma=0.5)) or its "
            f"dict form {{'distribution': 'Normal', 'params': {{'mu': 0, 'sigma': 0.5}}}}, got "
            f"{type(value).__name__}."
        )
    if prior != _DEFAULTS[name][0]:  # what this name needs of it (a default suits its own name)
        check_prior(prior.distribution, prior.params, name=name, where=where)
    return prior


def resolve_prior_sources(
    spec: Spec, overrides: Mapping[str, Prior | Mapping[str, Any]] | None = None
) -> tuple[dict[str, Prior], dict[str, str]]:
    """The priors in use for ``spec`` and where each came from.

    Defaults, then the spec's ``[priors]`` table, then ``overrides``, later ones winning.

    Parameters
    ----------
    spec : Spec
        The spec; its ``priors`` (``[priors]`` in TOML) override the defaults.
    overrides : mapping of str to Prior or its dict form, optional
        The ``priors=`` argument of :class:`~carepaths.model.build.MediationModel`.

    Returns
    -------
    priors : dict of str to Prior
        Every prior the spec's model has, in the order of the prior table.
    sources : dict of str to str
        ``"default"``, ``"spec"`` or ``"argument"`` per prior.

    Raises
    ------
    SpecError
        For a name the model does not have (with the valid names and the closest one, or
        what the spec needs for it), a value that is not a :class:`Prior` or its dict
        form, or a prior the name cannot use (see :func:`carepaths.prior_rules.check_prior`).
    """
    priors = default_priors(spec)
    sources = dict.fromkeys(priors, "default")
    for name, (distribution, params) in spec.priors.items():
        check_prior_name(name, spec, where=f"spec key 'priors.{name}'")
        priors[name] = _as_prior(
            name, {"distribution": distribution, "params": dict(params)}, f"spec key 'priors.{name}'"
        )
        sources[name] = "spec"
    if overrides is not None and not isinstance(overrides, Mapping):
        raise SpecError(
            "priors must be a mapping of prior name -> carepaths.Prior, e.g. "
            f"{{'b': Prior('Normal', mu=0, sigma=0.3)}}, got {type(overrides).__name__}."
        )
    for name, value in (overrides or {}).items():
        check_prior_name(name, spec, where=f"priors argument {name!r}")
        priors[name] = _as_prior(name, value, f"prior {name!r}")
        sources[name] = "argument"
    return priors, sources


def resolve_priors(spec: Spec, overrides: Mapping[str, Prior | Mapping[str, Any]] | None = None) -> dict[str, Prior]:
    """The priors in use for ``spec``: defaults < the spec's ``[priors]`` < ``overrides``.

    See :func:`resolve_prior_sources`, which also says where each came from.

    Raises
    ------
    SpecError
        As :func:`resolve_prior_sources`.
    """
    return resolve_prior_sources(spec, overrides)[0]


def _prior_text(p: Prior) -> str:
    args = ", ".join(f"{k}={v:g}" for k, v in p.params.items())
    return f"{p.distribution}({args})"


def prior_table(priors: Any, sources: Mapping[str, str] | str | None = None) -> Any:
    """The priors in use as a DataFrame: the prior, its source and a default's reason.

    Parameters
    ----------
    priors : mapping of str to Prior, or a MediationModel or Fit
        The priors in use (``model.priors``, ``fit.priors``), or the object that holds
        them: a model gives its sources, a fit those recorded in its posterior's
        attributes (``prior_sources``, kept by ``fit.save`` / ``load_fit``).
    sources : mapping of str to str, or its JSON text, optional
        ``"default"``, ``"spec"`` or ``"argument"`` per prior. Where none is known (a fit
        saved before sources were recorded), a prior equal to its default shows
        ``"default"``, one equal to the spec's ``[priors]`` entry ``"spec"``, and any
        other ``"unrecorded"``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``parameter``, with columns ``prior`` (e.g. ``Normal(mu=0, sigma=0.5)``),
        ``source`` and ``reason`` (the default's reason; empty for an override, whose
        reason is the user's).
    """
    import pandas as pd

    spec = getattr(priors, "spec", None)
    if sources is None and hasattr(priors, "priors"):
        sources = getattr(priors, "prior_sources", None)
        posterior = getattr(priors, "posterior", None)
        if sources is None and posterior is not None:
            sources = posterior.attrs.get(SOURCES_ATTR)
    if hasattr(priors, "priors"):
        priors = priors.priors
    if isinstance(sources, str):
        sources = json.loads(sources)
    rows = []
    for name, p in priors.items():
        source = (sources or {}).get(name) or _inferred_source(name, p, spec)
        rows.append(
            {
                "parameter": name,
                "prior": _prior_text(p),
                "source": source,
                "reason": PRIOR_REASONS.get(name, "") if source == "default" else "",
            }
        )
    return pd.DataFrame(rows, columns=["parameter", "prior", "source", "reason"]).set_index("parameter")


def _inferred_source(name: str, prior: Prior, spec: Spec | None) -> str:
    if spec is not None and name in spec.priors:
        distribution, params = spec.priors[name]
        if prior.distribution == distribution and dict(prior.params) == dict(params):
            return "spec"
    if name in _DEFAULTS and prior == _DEFAULTS[name][0]:
        return "default"
    return "unrecorded"


#: The priors of the imputation model of missing numeric confounders (``missing="model"``;
#: :mod:`carepaths.model._missing`), with their reasons. They exist only when a confounder
#: has missing values, so they are not spec priors; ``MediationModel.prior_table`` lists
#: them when they are in use.
IMPUTATION_PRIORS: dict[str, tuple[Prior, str]] = {
    "impute_mean": (Prior._trusted("Normal", mu=0.0, sigma=1.0),
                    "stage mean of a standardised confounder: within a few SDs of 0"),
    "impute_sigma": (Prior._trusted("HalfNormal", sigma=1.0),
                     "within-person SD of a standardised confounder: at most about 1"),
    "impute_sd": (Prior._trusted("HalfNormal", sigma=1.0),
                  "between-person SD of a standardised confounder: at most about 1"),
}
