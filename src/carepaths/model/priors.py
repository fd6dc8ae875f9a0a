"""Default priors, user overrides and the prior table.

A :class:`Prior` has the shape of ``pymc_extras.prior.Prior`` (a PyMC distribution name,
its parameters, dims, and a dict round-trip) without the dependency: pymc-extras 0.15.1,
the latest release, requires pymc < 6.4, and carepaths keeps pymc 6.4.

All defaults are weakly informative on the model scale: the exposure, normal mediators,
numeric confounders and a normal outcome are standardised by :class:`~carepaths.data.Panel`;
binary and count outcomes use their link scale (log-odds, log-rate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from carepaths.exceptions import SpecError
from carepaths.spec import Spec, suggest_closest

__all__ = ["Prior", "default_priors", "resolve_priors", "prior_table", "PRIOR_REASONS"]


@dataclass(frozen=True)
class Prior:
    """A prior: a PyMC distribution by name with fixed parameters.

    Parameters
    ----------
    distribution : str
        Name of a ``pymc`` distribution, e.g. ``"Normal"``, ``"HalfNormal"``.
    **params : float
        Its parameters, e.g. ``mu=0, sigma=0.5``.

    Examples
    --------
    >>> Prior("Normal", mu=0, sigma=0.5)
    Prior('Normal', mu=0, sigma=0.5)
    """

    distribution: str
    params: Mapping[str, float] = field(default_factory=dict)

    def __init__(self, distribution: str, **params: float) -> None:
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "params", dict(params))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Prior({self.distribution!r}{', ' if args else ''}{args})"

    def __hash__(self) -> int:
        return hash((self.distribution, tuple(sorted(self.params.items()))))

    def create(self, name: str, *, dims: tuple[str, ...] | str | None = None, **kwargs: Any) -> Any:
        """Create the random variable in the current PyMC model context."""
        import pymc as pm

        dist = getattr(pm, self.distribution, None)
        if dist is None:
            raise SpecError(
                f"prior for {name!r}: pymc has no distribution {self.distribution!r}. Use a "
                "pymc distribution name such as 'Normal', 'HalfNormal', 'StudentT'."
            )
        return dist(name, **self.params, dims=dims, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """``{"distribution": ..., "params": {...}}``; ``Prior.from_dict`` inverts it."""
        return {"distribution": self.distribution, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prior:
        """Inverse of :meth:`to_dict`."""
        unknown = set(d) - {"distribution", "params"}
        if unknown or "distribution" not in d:
            raise SpecError(
                f"a prior dict needs 'distribution' and optional 'params', got keys {sorted(d)}."
            )
        return cls(d["distribution"], **dict(d.get("params", {})))


# name -> (default prior, reason)
_DEFAULTS: dict[str, tuple[Prior, str]] = {
    "alpha_m": (Prior("Normal", mu=0.0, sigma=1.0), "mediator intercepts by stage; standardised or logit scale"),
    "a": (
        Prior("Normal", mu=0.0, sigma=0.5),
        "exposure -> mediator paths per SD; paths beyond +-1 SD per SD are implausible (domain.md section 6)",
    ),
    "gamma_m": (Prior("Normal", mu=0.0, sigma=0.5), "confounder -> mediator effects per SD"),
    "d": (Prior("Normal", mu=0.0, sigma=0.5), "mediator -> mediator edges per SD"),
    "sigma_m": (Prior("HalfNormal", sigma=1.0), "residual SD of normal mediators (standardised: at most ~1)"),
    "cutpoints": (Prior("Normal", mu=0.0, sigma=1.5), "ordinal mediator cutpoints on the logit scale"),
    "beta0": (
        Prior("Normal", mu=0.0, sigma=1.5),
        "outcome intercepts by stage; logit 0 +- 3 spans care-use rates of 5%-95%",
    ),
    "c": (
        Prior("Normal", mu=0.0, sigma=0.5),
        "direct path per SD; Normal(0, 0.5) on a log-OR gives OR 0.38-2.66, covering the 0.4-3.2 span of domain.md [62]",
    ),
    "b": (
        Prior("Normal", mu=0.0, sigma=0.5),
        "mediator -> outcome paths per SD of the mediator; same reasoning as c",
    ),
    "delta": (Prior("Normal", mu=0.0, sigma=0.5), "confounder -> outcome effects per SD"),
    "sigma_y": (Prior("HalfNormal", sigma=1.0), "residual SD of a normal (standardised) outcome"),
    "phi": (
        Prior("Gamma", alpha=2.0, beta=0.5),
        "negative-binomial dispersion (variance mu + mu^2/phi); mean 4 allows strong overdispersion of visit counts",
    ),
    "tau": (
        Prior("LogNormal", mu=-1.386, sigma=0.5),
        "SD of stage-specific paths around their pooled mean. Three stages cannot inform it, "
        "so the prior sets it: median 0.25, 95% in 0.09-0.67 per SD; bounded away from 0, "
        "which keeps the centred hierarchy out of the funnel a HalfNormal produced",
    ),
    "sd_u": (Prior("HalfNormal", sigma=0.5), "SD of person intercepts of the mediators"),
    "sd_v": (Prior("HalfNormal", sigma=1.0), "SD of person intercepts of the outcome (link scale)"),
    "sd_slope": (Prior("HalfNormal", sigma=0.3), "SD of person deviations of the a, b and c paths"),
    "lkj_eta": (Prior("LKJ", eta=2.0), "LKJ shape for the correlation of person slopes (eta=2: mild shrinkage to 0)"),
    "sd_cluster": (Prior("HalfNormal", sigma=0.5), "SD of cluster intercepts of the outcome"),
}

PRIOR_REASONS = {name: reason for name, (_, reason) in _DEFAULTS.items()}


def default_priors(spec: Spec) -> dict[str, Prior]:
    """The default priors that apply to ``spec`` (names of parameters it has)."""
    names = set(_DEFAULTS)
    if not any(m.family == "normal" for m in spec.mediators):
        names.discard("sigma_m")
    if not any(m.family == "ordinal" for m in spec.mediators):
        names.discard("cutpoints")
    if not spec.mediator_edges:
        names.discard("d")
    if spec.outcome.family != "normal":
        names.discard("sigma_y")
    if spec.outcome.family != "negative_binomial":
        names.discard("phi")
    if not spec.structure.pool_stages:
        names.discard("tau")
    if spec.structure.person_effects == "none":
        names -= {"sd_u", "sd_v"}
    if spec.structure.person_effects != "slopes":
        names -= {"sd_slope", "lkj_eta"}
    if spec.columns.cluster is None:
        names.discard("sd_cluster")
    if not spec.confounders:
        names -= {"gamma_m", "delta"}
    return {n: _DEFAULTS[n][0] for n in _DEFAULTS if n in names}


def resolve_priors(spec: Spec, overrides: Mapping[str, Prior | Mapping[str, Any]] | None) -> dict[str, Prior]:
    """Defaults for ``spec`` with ``overrides`` merged over them.

    Raises
    ------
    SpecError
        For a name the model does not have (with the valid names and the closest one),
        or a value that is not a :class:`Prior` or its dict form.
    """
    priors = default_priors(spec)
    for name, value in (overrides or {}).items():
        if name not in priors:
            hint = suggest_closest(name, list(priors))
            extra = (
                f" ('{name}' exists for other specs but not this one.)" if name in _DEFAULTS else ""
            )
            raise SpecError(
                f"unknown prior name {name!r}.{hint}{extra} Valid names for this spec: "
                f"{', '.join(priors)}."
            )
        if isinstance(value, Prior):
            priors[name] = value
        elif isinstance(value, Mapping):
            priors[name] = Prior.from_dict(value)
        else:
            raise SpecError(
                f"prior {name!r} must be a carepaths.Prior (e.g. Prior('Normal', mu=0, "
                f"sigma=0.5)), got {type(value).__name__}."
            )
    return priors


def prior_table(priors: Mapping[str, Prior]) -> Any:
    """The priors in use as a DataFrame: parameter, distribution, parameters, reason."""
    import pandas as pd

    rows = [
        {
            "parameter": name,
            "prior": repr(p).removeprefix("Prior(").removesuffix(")"),
            "reason": PRIOR_REASONS.get(name, ""),
        }
        for name, p in priors.items()
    ]
    return pd.DataFrame(rows).set_index("parameter")
