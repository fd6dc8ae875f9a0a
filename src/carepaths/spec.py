"""The model spec: which column plays which role, families, stages and structure.

A :class:`Spec` is immutable and typed. It is read from TOML with :func:`load_spec` or
built from a plain dict with :meth:`Spec.from_dict`, and written back with
:meth:`Spec.to_dict` / :meth:`Spec.to_toml`; the round-trip is exact
(``Spec.from_dict(spec.to_dict()) == spec``). Every invalid spec raises
:class:`~carepaths.exceptions.SpecError` naming the key, what was expected and how to
fix it, with the closest valid key suggested for a typo.

The TOML layout (``models/five_mechanisms.toml`` is the annotated example)::

    name = "..."                       # optional
    description = "..."                # optional
    stages = ["crisis", "recovery"]    # ordered stage levels; needs columns.stage
    mediator_edges = [["a", "b"]]      # a -> b between mediators (ordered mediators)
    unmeasured_confounding = [["m", "y"]]   # declared latent common causes

    [graph]     edges = [["w", "x"], ["w", "y"]]: extra causal knowledge; names that are
                not variables of the model are variables of the world the model leaves out

    [columns]   person, wave, stage, cluster: data column names, each optional
    [exposure]  name, kind = "continuous" | "binary", contrast, description, instrument
    [[mediators]]  name, family = "normal" | "bernoulli" | "ordinal", mechanism,
                   expected_sign = "positive" | "negative" | "mixed", categories, instrument,
                   link = "logit" | "probit" (bernoulli and ordinal only; default logit)
    [outcome]   name, family = "normal" | "bernoulli" | "negative_binomial", link = "logit" |
                "probit" (bernoulli only; default logit), ...
    [[confounders]]  name, kind = "numeric" | "categorical", levels, reference, ...
    [structure] pool_stages, person_effects = "none" | "intercepts" | "slopes",
                center_exposure_within_person, stage_specific_paths
    [priors.<name>]  distribution = "Normal", params = { mu = 0.0, sigma = 0.3 }: a prior
                override by name (:mod:`carepaths.prior_rules` has the names and the checks)
    [paradox]   raises_in, lowers_in: the two stages of the paradox the report tests (the
                exposure raises the outcome in one and lowers it in the other); optional
    [[interactions]]  terms = [a, b]: a product term in the outcome equation, the exposure
                x a mediator or two mediators; optional
    [[moderation]]    by = a confounder, paths = ["a:<mediator>", "b:<mediator>", "c"]:
                paths that depend on a pre-exposure variable; optional
    [time]      lags, time_varying, [time.stage_transition] given, absorbing: what carries
                over between waves (:class:`Time`); optional

Names are never empty or blank, never differ from another name of the same kind only in
surrounding whitespace, and stages may not take the labels carepaths uses for its own
rows (:data:`RESERVED_STAGE_NAMES`); numbers are finite.
"""

from __future__ import annotations

import codecs
import math
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from carepaths.exceptions import CarepathsError, SpecError, suggest_closest
from carepaths.files import check_input_file, shorten
from carepaths.prior_rules import check_prior, check_prior_name

__all__ = [
    "Columns",
    "Confounder",
    "Contrast",
    "Exposure",
    "Interaction",
    "Mediator",
    "Moderation",
    "Outcome",
    "Paradox",
    "PriorSettings",
    "Spec",
    "Structure",
    "Time",
    "load_spec",
    "shipped_spec_path",
    "SHIPPED_SPECS",
    "MEDIATOR_FAMILIES",
    "OUTCOME_FAMILIES",
    "LINKS",
    "RESERVED_STAGE_NAMES",
]

MEDIATOR_FAMILIES = ("normal", "bernoulli", "ordinal")
#: The lag terms' indicator of a person's first wave (:attr:`Spec.lag_terms`).
FIRST_WAVE = "first_wave"
OUTCOME_FAMILIES = ("normal", "bernoulli", "negative_binomial")
#: The links a bernoulli or ordinal mediator and a bernoulli outcome may take (``link``;
#: logit by default). The other families have one link each: identity (normal) and log
#: (negative binomial).
LINKS = ("logit", "probit")
#: The families with a choice of link.
MEDIATOR_LINK_FAMILIES = ("bernoulli", "ordinal")
OUTCOME_LINK_FAMILIES = ("bernoulli",)
EXPOSURE_KINDS = ("continuous", "binary")
CONFOUNDER_KINDS = ("numeric", "categorical")
PERSON_EFFECTS = ("none", "intercepts", "slopes")
#: How the person intercepts of the outcome and of binary and ordinal mediators enter the
#: model: integrated out by adaptive Gauss-Hermite quadrature, or sampled (one parameter
#: per person).
PERSON_INTERCEPTS = ("integrated", "sampled")
#: Adaptive Gauss-Hermite nodes per integrated person intercept (docs/model.md: chosen from
#: measured accuracy) and the most a spec may ask for.
DEFAULT_QUADRATURE_NODES = 11
MAX_QUADRATURE_NODES = 50
EXPECTED_SIGNS = ("positive", "negative", "mixed")
CONTRAST_KINDS = ("shift_sd", "values")
SHIPPED_SPECS = ("five_mechanisms", "visits", "single_mediator")

#: Labels carepaths gives its own rows: the effects' and the simulator's stage average
#: (``counterfactual.population.POOLED``) and the checks' rows over every stage or wave
#: (``checks.predictive.ALL``; also the single level of a spec without stages). A stage
#: with one of these names would be mixed with those rows, so stages may not take them
#: (compared without case or surrounding whitespace). ``tests`` check the constants agree.
RESERVED_STAGE_NAMES = ("all", "pooled")
#: Prefixes of names used internally: ``U[`` the latent nodes of ``unmeasured_confounding``;
#: ``carepaths_`` the saved fit's own variables and attributes.
RESERVED_PREFIXES = ("U[", "carepaths_")

MediatorFamily = Literal["normal", "bernoulli", "ordinal"]
OutcomeFamily = Literal["normal", "bernoulli", "negative_binomial"]


# --------------------------------------------------------------------------- helpers
_MAX_SHOWN = 120


def _show(value: Any) -> str:
    """A value as a message shows it: ``repr``, with long text cut (:func:`files.shorten`)."""
    if isinstance(value, str):
        return shorten(value)
    text = repr(value)
    if len(text) <= _MAX_SHOWN:
        return text
    return f"{text[: _MAX_SHOWN - 4]} ... ({len(text):,} characters)"


def _show_list(values: Any) -> str:
    """A list of names as a message shows it: each name cut, at most 12 of them."""
    values = list(values)
    shown = ", ".join(_show(v) for v in values[:12])
    more = f", ... ({len(values)} in all)" if len(values) > 12 else ""
    return f"[{shown}{more}]"


def _names(names: Any) -> str:
    """Names joined by commas for a message, each very long one cut."""
    return ", ".join(n if len(n) <= _MAX_SHOWN else _show(n) for n in names)


def _key(path: str) -> str:
    """``spec key 'path'``, the path cut when a name in it is very long."""
    return f"spec key {shorten(path)}"


def _check_keys(d: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(d, Mapping):
        what = _key(path) if path else "the spec"
        raise SpecError(
            f"{what} must be a table (mapping), got {type(d).__name__}. "
            f"Write it as a TOML table with keys {', '.join(allowed)}."
        )
    for key in d:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            hint = suggest_closest(str(key), allowed) if len(str(key)) <= _MAX_SHOWN else ""
            raise SpecError(
                f"unknown {_key(where)}.{hint} "
                f"Valid keys{' of ' + repr(path) if path else ''}: {', '.join(allowed)}."
            )


def _require(d: Mapping[str, Any], key: str, path: str, example: str = "") -> Any:
    if key not in d:
        where = f"{path}.{key}" if path else key
        raise SpecError(
            f"{_key(where)} is required but missing. Add it to the spec"
            + (f", e.g. {example}." if example else ".")
        )
    return d[key]


def _str(value: Any, path: str, *, optional: bool = False) -> str | None:
    """A text value: a name or a description; never empty or blank (the round trip drops
    empty text, so it would not come back)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or value.strip() == "":
        blank = isinstance(value, str)
        raise SpecError(
            f"{_key(path)} must be a non-empty string, got {_show(value)}"
            f"{' (empty or only whitespace)' if blank else ''}. Write it as a quoted string, "
            f"e.g. {path.rsplit('.', 1)[-1]} = \"...\""
            f"{', or remove the key' if optional else ''}."
        )
    return value


def _choice(value: Any, path: str, options: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in options:
        hint = suggest_closest(value, options) if isinstance(value, str) and len(value) <= _MAX_SHOWN else ""
        raise SpecError(
            f"{_key(path)} has unknown {what} {_show(value)}.{hint} "
            f"Expected one of: {', '.join(options)}."
        )
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{_key(path)} must be true or false, got {_show(value)}.")
    return value


def _number(value: Any, path: str) -> float:
    """A finite number (TOML also reads nan and inf, and integers too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{_key(path)} must be a number, got {_show(value)}.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise SpecError(
            f"{_key(path)} must be a finite number, got "
            f"{_show(value) if isinstance(value, float) else 'an integer too large for a float'}. "
            "Write an ordinary number (nan and inf are valid TOML but no contrast)."
        )
    return number


def _check_name(value: str, path: str) -> str:
    """A name (of a column, stage, level or mediator) must be non-empty and not blank."""
    if value.strip() == "":
        raise SpecError(
            f"{_key(path)} is {_show(value)}, an empty or blank name. Name it (as the data "
            "name it), or remove it from the list."
        )
    return value


def _str_list(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{_key(path)} must be a list of strings, got {_show(value)}.")
    for i, v in enumerate(value):
        _check_name(v, f"{path}[{i}]")
    if len(set(value)) != len(value):
        dup = sorted({v for v in value if list(value).count(v) > 1})
        raise SpecError(f"{_key(path)} lists {_show_list(dup)} more than once; list each once.")
    _check_whitespace_twins(value, path)
    return tuple(value)


def _check_whitespace_twins(names: Any, path: str) -> None:
    """Refuse two names that differ only in surrounding whitespace (they read the same)."""
    seen: dict[str, str] = {}
    for name in names:
        key = name.strip()
        if key in seen and seen[key] != name:
            raise SpecError(
                f"{_key(path)}: the names {_show(seen[key])} and {_show(name)} differ only in "
                "surrounding whitespace, so they read as one name but are two. Remove the "
                "spaces (in the data too: df.columns = df.columns.str.strip(), or "
                "df[col].str.strip() for labels)."
            )
        seen.setdefault(key, name)


def _pairs(
    value: Any, path: str, example: str = '["encouragement", "attitudes"]'
) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list | tuple):
        raise SpecError(f"{_key(path)} must be a list of [from, to] pairs, got {_show(value)}.")
    out = []
    for i, pair in enumerate(value):
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(v, str) for v in pair)
        ):
            raise SpecError(
                f"{_key(f'{path}[{i}]')} must be a pair of two names like [\"a\", \"b\"], "
                f"got {_show(pair)}."
            )
        for end in pair:
            if end.strip() == "":
                raise SpecError(
                    f"{_key(f'{path}[{i}]')} has an empty name; name both ends, e.g. "
                    f"{example}."
                )
        if pair[0] == pair[1]:
            raise SpecError(f"{_key(f'{path}[{i}]')} pairs {_show(pair[0])} with itself.")
        out.append((pair[0], pair[1]))
    return tuple(out)


def _graph_edges(value: Any) -> tuple[tuple[str, str], ...]:
    """Read the ``[graph]`` table: only ``edges``, a list of [from, to] pairs of names."""
    _check_keys(value, "graph", Spec.GRAPH_KEYS)
    return _pairs(value.get("edges", []), "graph.edges", '["employment", "support"]')


def _directed_path(edges: list[tuple[str, str]], start: str, goal: str) -> list[str] | None:
    """The nodes of a shortest directed path start -> ... -> goal over ``edges``, or None."""
    children: dict[str, list[str]] = {}
    for a, b in edges:
        children.setdefault(a, []).append(b)
    previous: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            if node == goal:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            for child in children.get(node, []):
                if child not in previous:
                    previous[child] = node
                    nxt.append(child)
        frontier = nxt
    return None


def _role_kind(key: str) -> str:
    """'mediators[2].name' -> 'mediators'; 'columns.person' -> 'columns'."""
    return key.split("[")[0].split(".")[0]


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != "" and v != []}


def _tables(d: Mapping[str, Any], key: str, read: Any) -> tuple[Any, ...]:
    """An optional array of tables (``[[key]]`` in TOML), each read by ``read(table, path)``."""
    value = d.get(key, [])
    if not isinstance(value, list | tuple):
        raise SpecError(
            f"{_key(key)} must be a list of [[{key}]] tables, got {_show(value)}. Write each "
            f"entry as its own [[{key}]] table."
        )
    return tuple(read(table, f"{key}[{i}]") for i, table in enumerate(value))


# --------------------------------------------------------------------------- parts
@dataclass(frozen=True)
class Columns:
    """Data columns that index the observations; each is optional.

    Attributes
    ----------
    person, wave, stage, cluster : str or None
        Column names of the person id, the wave (time) index, the illness stage of the
        person-wave, and a cluster (e.g. clinic) that persons are nested in.
    """

    person: str | None = None
    wave: str | None = None
    stage: str | None = None
    cluster: str | None = None

    KEYS = ("person", "wave", "stage", "cluster")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Columns:
        _check_keys(d, "columns", cls.KEYS)
        return cls(**{k: _str(d.get(k), f"columns.{k}", optional=True) for k in cls.KEYS})

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({k: getattr(self, k) for k in self.KEYS})


@dataclass(frozen=True)
class Contrast:
    """The exposure contrast x -> x' that every effect compares.

    ``kind="shift_sd"`` adds ``size`` standard deviations of the observed exposure to each
    person's value (the default for a continuous exposure, ``size=1``);
    ``kind="values"`` sets everyone to ``low`` and then to ``high`` (the default for a
    binary exposure, 0 -> 1).
    """

    kind: Literal["shift_sd", "values"] = "shift_sd"
    size: float | None = 1.0
    low: float | None = None
    high: float | None = None

    @classmethod
    def default_for(cls, exposure_kind: str) -> Contrast:
        if exposure_kind == "binary":
            return cls(kind="values", size=None, low=0.0, high=1.0)
        return cls()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], path: str, exposure_kind: str) -> Contrast:
        _check_keys(d, path, ("kind", "size", "low", "high"))
        kind = _choice(_require(d, "kind", path), f"{path}.kind", CONTRAST_KINDS, "contrast kind")
        if kind == "shift_sd":
            if "low" in d or "high" in d:
                raise SpecError(
                    f"spec key '{path}': kind 'shift_sd' takes 'size' only; remove low/high "
                    "or use kind = \"values\"."
                )
            if exposure_kind == "binary":
                raise SpecError(
                    f"spec key '{path}.kind': a binary exposure cannot be shifted by SDs; use "
                    "kind = \"values\" with low = 0 and high = 1."
                )
            size = _number(d.get("size", 1.0), f"{path}.size")
            if size == 0:
                raise SpecError(f"spec key '{path}.size' must be non-zero: a zero shift compares nothing.")
            return cls(kind="shift_sd", size=size, low=None, high=None)
        if "size" in d:
            raise SpecError(f"spec key '{path}': kind 'values' takes low and high, not size.")
        low = _number(_require(d, "low", path), f"{path}.low")
        high = _number(_require(d, "high", path), f"{path}.high")
        if not math.isfinite(high - low):
            raise SpecError(
                f"spec key '{path}': low = {low:g} and high = {high:g} are too far apart (their "
                "difference overflows). Give values on the exposure's own scale."
            )
        if low == high:
            raise SpecError(f"spec key '{path}': low and high are both {low}; they must differ.")
        if exposure_kind == "binary" and {low, high} != {0.0, 1.0}:
            raise SpecError(
                f"spec key '{path}': a binary exposure contrasts 0 and 1, got low={low}, "
                f"high={high}."
            )
        return cls(kind="values", size=None, low=low, high=high)

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "shift_sd":
            return {"kind": self.kind, "size": self.size}
        return {"kind": self.kind, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Exposure:
    """The exposure X (e.g. perceived social support)."""

    name: str
    kind: Literal["continuous", "binary"] = "continuous"
    contrast: Contrast = field(default_factory=Contrast)
    description: str | None = None
    instrument: str | None = None

    KEYS = ("name", "kind", "contrast", "description", "instrument")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Exposure:
        _check_keys(d, "exposure", cls.KEYS)
        name = _str(_require(d, "name", "exposure"), "exposure.name")
        kind = _choice(d.get("kind", "continuous"), "exposure.kind", EXPOSURE_KINDS, "exposure kind")
        contrast = (
            Contrast.from_dict(d["contrast"], "exposure.contrast", kind)
            if "contrast" in d
            else Contrast.default_for(kind)
        )
        return cls(
            name=name,  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            contrast=contrast,
            description=_str(d.get("description"), "exposure.description", optional=True),
            instrument=_str(d.get("instrument"), "exposure.instrument", optional=True),
        )

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "name": self.name,
                "kind": self.kind,
                "contrast": self.contrast.to_dict(),
                "description": self.description,
                "instrument": self.instrument,
            }
        )


def _link(d: Mapping[str, Any], path: str, family: str, families: tuple[str, ...], role: str) -> str | None:
    """The ``link`` key of a mediator or the outcome: logit or probit, where the family has a choice."""
    if "link" not in d:
        return None
    if family not in families:
        fixed = {"normal": "the identity", "negative_binomial": "the log link"}[family]
        choices = " or ".join(f'"{f}"' for f in families)
        raise SpecError(
            f"spec key '{path}.link' applies to {' and '.join(families)} {role}s only: a {family} "
            f"{role} has one link ({fixed}) and nothing to choose. Remove the key, or set "
            f"family = {choices}."
        )
    return _choice(d["link"], f"{path}.link", LINKS, "link")


def _resolve_link(obj: Any, families: tuple[str, ...], role: str) -> None:
    """``link``: logit by default where the family has a choice, None where it has none."""
    link, family = obj.link, obj.family
    if family not in families:
        if link is not None:
            raise SpecError(
                f"{role} {_show(obj.name)}: link applies to {' and '.join(families)} {role}s only, "
                f"not to family {family!r}. Leave link unset."
            )
        return
    if link is None:
        object.__setattr__(obj, "link", "logit")
    elif link not in LINKS:
        hint = suggest_closest(link, LINKS) if isinstance(link, str) and len(link) <= _MAX_SHOWN else ""
        raise SpecError(
            f"{role} {_show(obj.name)} has unknown link {_show(link)}.{hint} "
            f"Expected one of: {', '.join(LINKS)}."
        )


@dataclass(frozen=True)
class Mediator:
    """One mediator M_k: a support mechanism measured by an instrument.

    ``categories`` lists the ordered integer codes of an ordinal mediator (e.g. a 1-4
    Likert item is ``[1, 2, 3, 4]``); it is required for ``family="ordinal"`` only.
    ``link`` is a bernoulli or ordinal mediator's link, ``"logit"`` (the default) or
    ``"probit"``; it is None for a normal mediator, which has no link to choose.
    """

    name: str
    family: MediatorFamily = "normal"
    mechanism: str | None = None
    expected_sign: Literal["positive", "negative", "mixed"] | None = None
    categories: tuple[int, ...] = ()
    instrument: str | None = None
    link: Literal["logit", "probit"] | None = None

    KEYS = ("name", "family", "mechanism", "expected_sign", "categories", "instrument", "link")

    def __post_init__(self) -> None:
        _resolve_link(self, MEDIATOR_LINK_FAMILIES, "mediator")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], path: str) -> Mediator:
        _check_keys(d, path, cls.KEYS)
        name = _str(_require(d, "name", path), f"{path}.name")
        family = _choice(
            _require(d, "family", path), f"{path}.family", MEDIATOR_FAMILIES, "mediator family"
        )
        sign = d.get("expected_sign")
        if sign is not None:
            sign = _choice(sign, f"{path}.expected_sign", EXPECTED_SIGNS, "expected sign")
        categories: tuple[int, ...] = ()
        if family == "ordinal":
            raw = _require(
                d, "categories", path,
                example="categories = [1, 2, 3, 4] (the ordered integer codes the column holds, "
                "lowest first; a 1-4 Likert item is [1, 2, 3, 4])",
            )
            if (
                not isinstance(raw, list | tuple)
                or len(raw) < 3
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
                or list(raw) != sorted(set(raw))
            ):
                raise SpecError(
                    f"spec key '{path}.categories' must list at least 3 increasing integer "
                    f"codes (e.g. [1, 2, 3, 4]), got {_show(raw)}. With 2 categories use "
                    "family = \"bernoulli\"."
                )
            categories = tuple(raw)
        elif "categories" in d:
            raise SpecError(
                f"spec key '{path}.categories' applies to ordinal mediators only; remove it or "
                "set family = \"ordinal\"."
            )
        return cls(
            name=name,  # type: ignore[arg-type]
            family=family,  # type: ignore[arg-type]
            mechanism=_str(d.get("mechanism"), f"{path}.mechanism", optional=True),
            expected_sign=sign,  # type: ignore[arg-type]
            categories=categories,
            instrument=_str(d.get("instrument"), f"{path}.instrument", optional=True),
            link=_link(d, path, family, MEDIATOR_LINK_FAMILIES, "mediator"),  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Any]:
        # link is written only when it is not the default (logit), so the canonical dict,
        # and the spec hash of every fit saved before the key existed, do not change
        return _drop_none(
            {
                "name": self.name,
                "family": self.family,
                "mechanism": self.mechanism,
                "expected_sign": self.expected_sign,
                "categories": list(self.categories) or None,
                "instrument": self.instrument,
                "link": self.link if self.link != "logit" else None,
            }
        )


@dataclass(frozen=True)
class Outcome:
    """The outcome Y (e.g. any mental-health care contact in the wave)."""

    name: str
    family: OutcomeFamily = "bernoulli"
    description: str | None = None
    instrument: str | None = None
    link: Literal["logit", "probit"] | None = None

    KEYS = ("name", "family", "description", "instrument", "link")

    def __post_init__(self) -> None:
        # a bernoulli outcome's link, "logit" (the default) or "probit"; None otherwise
        _resolve_link(self, OUTCOME_LINK_FAMILIES, "outcome")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Outcome:
        _check_keys(d, "outcome", cls.KEYS)
        name = _str(_require(d, "name", "outcome"), "outcome.name")
        family = _choice(_require(d, "family", "outcome"), "outcome.family", OUTCOME_FAMILIES, "outcome family")
        return cls(
            name=name,  # type: ignore[arg-type]
            family=family,  # type: ignore[arg-type]
            description=_str(d.get("description"), "outcome.description", optional=True),
            instrument=_str(d.get("instrument"), "outcome.instrument", optional=True),
            link=_link(d, "outcome", family, OUTCOME_LINK_FAMILIES, "outcome"),  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Any]:
        # link only when not the default (logit): see Mediator.to_dict
        return _drop_none(
            {
                "name": self.name,
                "family": self.family,
                "description": self.description,
                "instrument": self.instrument,
                "link": self.link if self.link != "logit" else None,
            }
        )


@dataclass(frozen=True)
class Confounder:
    """A pre-exposure common cause C of exposure, mediators and outcome.

    A categorical confounder is treatment-coded: one indicator per level except
    ``reference``; ``levels`` lists every level the data may hold.
    """

    name: str
    kind: Literal["numeric", "categorical"] = "numeric"
    levels: tuple[str, ...] = ()
    reference: str | None = None
    description: str | None = None
    instrument: str | None = None

    KEYS = ("name", "kind", "levels", "reference", "description", "instrument")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], path: str) -> Confounder:
        _check_keys(d, path, cls.KEYS)
        name = _str(_require(d, "name", path), f"{path}.name")
        kind = _choice(d.get("kind", "numeric"), f"{path}.kind", CONFOUNDER_KINDS, "confounder kind")
        levels: tuple[str, ...] = ()
        reference = None
        if kind == "categorical":
            levels = _str_list(
                _require(d, "levels", path, example='levels = ["no", "yes"] (every level the data hold)'),
                f"{path}.levels",
            )
            if len(levels) < 2:
                raise SpecError(
                    f"spec key '{path}.levels' needs at least 2 levels, got {_show_list(levels)}. "
                    "A confounder with one level is constant and adjusts for nothing: remove it."
                )
            reference = _str(
                _require(
                    d, "reference", path,
                    example=f"reference = {_show(levels[0])} (the level the others are compared with)",
                ),
                f"{path}.reference",
            )
            if reference not in levels:
                raise SpecError(
                    f"spec key '{path}.reference' is {_show(reference)}, which is not one of its "
                    f"levels {_show_list(levels)}.{suggest_closest(reference or '', levels)}"
                )
        elif "levels" in d or "reference" in d:
            raise SpecError(
                f"spec key '{path}': levels and reference apply to categorical confounders "
                "only; remove them or set kind = \"categorical\"."
            )
        return cls(
            name=name,  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            levels=levels,
            reference=reference,
            description=_str(d.get("description"), f"{path}.description", optional=True),
            instrument=_str(d.get("instrument"), f"{path}.instrument", optional=True),
        )

    @property
    def terms(self) -> tuple[str, ...]:
        """Names of the design-matrix columns this confounder contributes."""
        if self.kind == "numeric":
            return (self.name,)
        return tuple(f"{self.name}[{lvl}]" for lvl in self.levels if lvl != self.reference)

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "name": self.name,
                "kind": self.kind,
                "levels": list(self.levels) or None,
                "reference": self.reference,
                "description": self.description,
                "instrument": self.instrument,
            }
        )


@dataclass(frozen=True)
class Structure:
    """Hierarchical structure of the model.

    Attributes
    ----------
    pool_stages : bool
        Partially pool stage-specific intercepts and paths across stages (True) or fit
        each stage separately (False). Requires a stage column.
    person_effects : {"none", "intercepts", "slopes"}
        Person-level random effects for repeated waves. Requires a person column.
    center_exposure_within_person : bool
        Split a time-varying exposure into a person mean (between) and the deviation from
        it (within). Requires a person column.
    stage_specific_paths : bool
        Give every stage its own exposure -> mediator (a), mediator -> outcome (b) and
        direct (c) paths (True, the default), or share each path across stages (False;
        the intercepts stay stage-specific, and ``pool_stages`` then has no paths to
        pool). The shared-path model is the null model of "the paths differ by stage",
        e.g. for a predictive check that should flag it on data where they do.
    person_intercepts : {"integrated", "sampled"}
        With person effects, the person intercepts of the outcome and of binary and
        ordinal mediators are integrated out of the likelihood (the default: by adaptive
        Gauss-Hermite quadrature, a normal outcome's analytically; fitting cost linear in
        persons) or sampled, one parameter per person. Normal mediators' intercepts are
        integrated analytically either way (with ``"intercepts"`` person effects).
    quadrature_nodes : int
        Nodes of the adaptive Gauss-Hermite quadrature per integrated intercept (default
        11, chosen from measured accuracy in ``docs/model.md``; 1 is the Laplace
        approximation). Raise it (15) for probit links with person-intercept SDs above 1.
    """

    pool_stages: bool = False
    person_effects: Literal["none", "intercepts", "slopes"] = "none"
    center_exposure_within_person: bool = False
    stage_specific_paths: bool = True
    person_intercepts: Literal["integrated", "sampled"] = "integrated"
    quadrature_nodes: int = DEFAULT_QUADRATURE_NODES

    KEYS = ("pool_stages", "person_effects", "center_exposure_within_person", "stage_specific_paths",
            "person_intercepts", "quadrature_nodes")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], columns: Columns) -> Structure:
        _check_keys(d, "structure", cls.KEYS)
        pool = _bool(d.get("pool_stages", columns.stage is not None), "structure.pool_stages")
        person = _choice(
            d.get("person_effects", "intercepts" if columns.person else "none"),
            "structure.person_effects",
            PERSON_EFFECTS,
            "person-effects option",
        )
        centre = _bool(
            d.get("center_exposure_within_person", False), "structure.center_exposure_within_person"
        )
        staged = _bool(d.get("stage_specific_paths", True), "structure.stage_specific_paths")
        intercepts = _choice(d.get("person_intercepts", "integrated"), "structure.person_intercepts",
                             PERSON_INTERCEPTS, "person-intercepts option")
        nodes = d.get("quadrature_nodes", DEFAULT_QUADRATURE_NODES)
        if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= MAX_QUADRATURE_NODES:
            raise SpecError(
                f"spec key 'structure.quadrature_nodes' must be an integer from 1 to {MAX_QUADRATURE_NODES}, got "
                f"{_show(nodes)}. The default, {DEFAULT_QUADRATURE_NODES}, shifts the posterior by under 0.05 posterior "
                "SDs at 100,000 persons for logit person-intercept SDs up to 2 (docs/model.md); 15 for probit SDs above 1."
            )
        for key in ("person_intercepts", "quadrature_nodes"):
            if key in d and (person == "none"):
                raise SpecError(
                    f"spec key 'structure.{key}' applies to person effects, but structure.person_effects is "
                    "\"none\": remove the key, or set person_effects = \"intercepts\"."
                )
        if person == "slopes" and ("quadrature_nodes" in d or d.get("person_intercepts") == "integrated"):
            raise SpecError(
                "spec key 'structure.person_intercepts' / 'structure.quadrature_nodes': with person_effects = "
                "\"slopes\" every person effect (intercepts and slopes together, correlated) is sampled, so "
                "nothing is integrated by quadrature: remove the key, or use person_effects = \"intercepts\"."
            )
        if "quadrature_nodes" in d and intercepts == "sampled":
            raise SpecError(
                "spec key 'structure.quadrature_nodes' applies to integrated person intercepts, but "
                "structure.person_intercepts is \"sampled\": remove one of the two."
            )
        if pool and columns.stage is None:
            raise SpecError(
                "spec key 'structure.pool_stages' is true but there is no stage column: set "
                "columns.stage (and stages), or set pool_stages = false."
            )
        if person != "none" and columns.person is None:
            raise SpecError(
                f"spec key 'structure.person_effects' is {person!r} but there is no person "
                "column: set columns.person, or set person_effects = \"none\"."
            )
        if centre and columns.person is None:
            raise SpecError(
                "spec key 'structure.center_exposure_within_person' needs a person column: set "
                "columns.person, or set it to false."
            )
        return cls(  # type: ignore[arg-type]
            pool_stages=pool, person_effects=person, center_exposure_within_person=centre,
            stage_specific_paths=staged, person_intercepts=intercepts, quadrature_nodes=int(nodes),
        )

    def to_dict(self) -> dict[str, Any]:
        # stage_specific_paths is written only when it is not the default, so the canonical
        # dict (and the spec hash of fits saved before the key existed) does not change
        out = {k: getattr(self, k) for k in self.KEYS}
        if self.stage_specific_paths:
            del out["stage_specific_paths"]
        # likewise the person-intercept keys (issue 16) at their defaults
        if self.person_intercepts == "integrated":
            del out["person_intercepts"]
        if self.quadrature_nodes == DEFAULT_QUADRATURE_NODES:
            del out["quadrature_nodes"]
        return out


class PriorSettings(Mapping[str, tuple[str, Mapping[str, float]]]):
    """The spec's ``[priors]`` table: prior name -> (distribution, parameters).

    Plain, validated data (the spec sits below the model and holds no PyMC object):
    ``spec.priors["a"] == ("Normal", {"mu": 0.0, "sigma": 0.3})``. Immutable and hashable
    like the rest of the spec. ``carepaths.MediationModel`` turns each entry into a
    :class:`carepaths.Prior`; a ``priors=`` argument overrides it.
    """

    __slots__ = ("_entries",)

    PRIOR_KEYS = ("distribution", "params")

    def __init__(self, entries: Mapping[str, tuple[str, Mapping[str, float]]] | None = None) -> None:
        self._entries = {
            str(name): (str(dist), MappingProxyType({str(k): float(v) for k, v in params.items()}))
            for name, (dist, params) in (entries or {}).items()
        }

    @classmethod
    def from_dict(cls, value: Any, spec: Spec) -> PriorSettings:
        """Validate the ``[priors]`` table against ``spec`` (names) and PyMC (distributions)."""
        if not isinstance(value, Mapping):
            raise SpecError(
                f"spec key 'priors' must be a table of priors by name, got {_show(value)}. Write "
                '[priors.a] with distribution = "Normal" and params = { mu = 0.0, sigma = 0.3 }.'
            )
        entries: dict[str, tuple[str, dict[str, float]]] = {}
        for name, entry in value.items():
            path = f"priors.{name}"
            check_prior_name(name, spec, where=_key(path))
            _check_keys(entry, path, cls.PRIOR_KEYS)
            distribution = _str(_require(entry, "distribution", path), f"{path}.distribution")
            params = entry.get("params", {})
            if not isinstance(params, Mapping):
                raise SpecError(
                    f"spec key '{path}.params' must be a table of parameter = number, e.g. "
                    f"params = {{ mu = 0.0, sigma = 0.3 }}, got {_show(params)}."
                )
            entries[name] = check_prior(distribution, params, name=name, where=_key(path))
        return cls(entries)

    def to_dict(self) -> dict[str, Any]:
        """``{name: {"distribution": ..., "params": {...}}}`` (``params`` left out when empty)."""
        return {
            name: {"distribution": dist, **({"params": dict(params)} if params else {})}
            for name, (dist, params) in self._entries.items()
        }

    def __getitem__(self, name: str) -> tuple[str, Mapping[str, float]]:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __hash__(self) -> int:
        return hash(frozenset((n, d, frozenset(p.items())) for n, (d, p) in self._entries.items()))

    def __repr__(self) -> str:
        return f"PriorSettings({ {n: (d, dict(p)) for n, (d, p) in self._entries.items()} !r})"


@dataclass(frozen=True)
class Paradox:
    """The paradox a study tests: the exposure raises the outcome in one stage, lowers it in another.

    The spec's optional ``[paradox]`` table; ``Spec.paradox`` is None without it (a study
    with no stages, or one that tests no such reversal, has no paradox to report).

    Attributes
    ----------
    raises_in : str
        The stage in which the exposure is expected to raise the outcome (e.g. ``"crisis"``).
    lowers_in : str
        The stage in which it is expected to lower it (e.g. ``"recovery"``).
    """

    raises_in: str
    lowers_in: str

    KEYS = ("raises_in", "lowers_in")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], stages: tuple[str, ...]) -> Paradox:
        """Validate the ``[paradox]`` table against the spec's ``stages``.

        Raises
        ------
        SpecError
            If a key is unknown or missing, the spec has no stages, a stage is not one of
            the spec's, or both keys name the same stage.
        """
        _check_keys(d, "paradox", cls.KEYS)
        if not stages:
            raise SpecError(
                "spec key 'paradox' names two stages, but the spec has no stages: set "
                "columns.stage and stages = [...], or remove the [paradox] table (a study "
                "without stages has no paradox between them)."
            )
        values: dict[str, str] = {}
        for key, example in zip(cls.KEYS, stages[:2], strict=True):
            path = f"paradox.{key}"
            value = _str(_require(d, key, "paradox", example=f"{key} = {_show(example)}"), path)
            if value not in stages:
                raise SpecError(
                    f"spec key '{path}' is {_show(value)}, which is not one of the spec's stages "
                    f"{_show_list(stages)}.{suggest_closest(value or '', stages)} Name one of them."
                )
            values[key] = value  # type: ignore[assignment]
        if values["raises_in"] == values["lowers_in"]:
            raise SpecError(
                f"spec key 'paradox': raises_in and lowers_in are both {_show(values['raises_in'])}; "
                "the paradox contrasts two different stages. Name two of "
                f"{_show_list(stages)}."
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """``{"raises_in": ..., "lowers_in": ...}``."""
        return {"raises_in": self.raises_in, "lowers_in": self.lowers_in}


@dataclass(frozen=True)
class Time:
    """What carries over from one wave to the next: the spec's optional ``[time]`` table.

    ``Spec.time`` is None without it. The table declares the time structure of a panel
    (issue 18, care trajectories): which previous-wave values are lagged terms, which
    confounders respond to earlier care and exposure, and the stage-transition model.
    :class:`~carepaths.data.Panel` builds each row's previous wave from it and checks the
    waves and stages against it.

    Attributes
    ----------
    lags : tuple of str
        Variables whose previous-wave value is a lagged term: the outcome (continuing in
        care versus starting it), the exposure, a confounder, or the stage column.
    time_varying : tuple of str
        Confounders that depend on earlier care and exposure (time-varying confounders).
    transition_given : tuple of str or None
        With a ``[time.stage_transition]`` table, the lagged variables besides the previous
        stage that the stage at a wave depends on (each also in ``lags``); None without one.
    absorbing : tuple of str
        Stages the transition model never leaves (each must occur in the data).
    """

    lags: tuple[str, ...] = ()
    time_varying: tuple[str, ...] = ()
    transition_given: tuple[str, ...] | None = None
    absorbing: tuple[str, ...] = ()

    KEYS = ("lags", "time_varying", "stage_transition")
    TRANSITION_KEYS = ("given", "absorbing")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Time:
        """Read the ``[time]`` table (its names are checked against the rest by :class:`Spec`).

        Raises
        ------
        SpecError
            If a key is unknown or a value is not a list of names.
        """
        _check_keys(d, "time", cls.KEYS)
        given, absorbing = None, ()
        if "stage_transition" in d:
            table = d["stage_transition"]
            _check_keys(table, "time.stage_transition", cls.TRANSITION_KEYS)
            given = _str_list(table.get("given", []), "time.stage_transition.given")
            absorbing = _str_list(table.get("absorbing", []), "time.stage_transition.absorbing")
        return cls(lags=_str_list(d.get("lags", []), "time.lags"),
                   time_varying=_str_list(d.get("time_varying", []), "time.time_varying"),
                   transition_given=given, absorbing=absorbing)

    def to_dict(self) -> dict[str, Any]:
        """The table as written (empty lists left out)."""
        out: dict[str, Any] = {}
        if self.lags:
            out["lags"] = list(self.lags)
        if self.time_varying:
            out["time_varying"] = list(self.time_varying)
        if self.transition_given is not None:
            out["stage_transition"] = {"given": list(self.transition_given), "absorbing": list(self.absorbing)}
        return out


@dataclass(frozen=True)
class Interaction:
    """A product term in the outcome equation: exposure x mediator, or mediator x mediator.

    One ``[[interactions]]`` table. ``terms`` are the two variables as written (their
    order only names the term, ``"support:discouragement"``); which two variables they may
    be is checked against the rest of the spec (:meth:`Spec.from_dict`).

    Attributes
    ----------
    terms : tuple of two str
        The exposure and a mediator, or two different mediators.
    """

    terms: tuple[str, str]

    KEYS = ("terms",)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], path: str) -> Interaction:
        """Read one ``[[interactions]]`` table (its shape; the names are checked by the spec)."""
        _check_keys(d, path, cls.KEYS)
        terms = _require(d, "terms", path, example='terms = ["support", "discouragement"]')
        where = f"{path}.terms"
        if (
            not isinstance(terms, list | tuple)
            or len(terms) != 2
            or not all(isinstance(t, str) for t in terms)
        ):
            raise SpecError(
                f"{_key(where)} must list two names, got {_show(terms)}: the exposure and a "
                'mediator, or two mediators, e.g. terms = ["support", "discouragement"].'
            )
        for i, term in enumerate(terms):
            _check_name(term, f"{where}[{i}]")
        if terms[0] == terms[1]:
            raise SpecError(
                f"{_key(where)} pairs {_show(terms[0])} with itself: an interaction is the "
                "product of two different variables (a squared term is not a declared "
                "interaction). Name two different ones."
            )
        return cls(terms=(terms[0], terms[1]))

    @property
    def label(self) -> str:
        """The term's name, ``"<first>:<second>"`` (the coordinate of its parameter)."""
        return f"{self.terms[0]}:{self.terms[1]}"

    def to_dict(self) -> dict[str, Any]:
        """``{"terms": [first, second]}``."""
        return {"terms": list(self.terms)}


#: The paths a ``[[moderation]]`` entry may name: ``"a:<mediator>"`` (exposure ->
#: mediator), ``"b:<mediator>"`` (mediator -> outcome) and ``"c"`` (the direct path).
MODERATED_PATH_KINDS = ("a", "b", "c")


def moderated_path(path: str) -> tuple[str, str | None]:
    """``("a", mediator)``, ``("b", mediator)`` or ``("c", None)`` from a path's name."""
    if path == "c":
        return "c", None
    return path[0], path[2:]


@dataclass(frozen=True)
class Moderation:
    """Paths that depend on a pre-exposure variable: one ``[[moderation]]`` table.

    The moderator ``by`` is a declared confounder (measured before the exposure and not
    affected by it); each named path gains a product term with its design columns (a
    categorical moderator contributes its treatment-coded indicators).

    Attributes
    ----------
    by : str
        The moderator, a confounder of the spec.
    paths : tuple of str
        ``"a:<mediator>"``, ``"b:<mediator>"`` or ``"c"``, each at most once.
    """

    by: str
    paths: tuple[str, ...]

    KEYS = ("by", "paths")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], path: str) -> Moderation:
        """Read one ``[[moderation]]`` table (its shape; the names are checked by the spec)."""
        _check_keys(d, path, cls.KEYS)
        by = _str(_require(d, "by", path, example='by = "severity" (a confounder)'), f"{path}.by")
        paths = _require(d, "paths", path, example='paths = ["a:discouragement", "c"]')
        if isinstance(paths, list | tuple) and len(paths) == 0:
            raise SpecError(
                f"{_key(f'{path}.paths')} is empty: name the paths {_show(by)} moderates, e.g. "
                'paths = ["a:discouragement", "b:discouragement", "c"], or remove the table.'
            )
        return cls(by=by, paths=_str_list(paths, f"{path}.paths"))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        """``{"by": ..., "paths": [...]}``."""
        return {"by": self.by, "paths": list(self.paths)}


# --------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class Spec:
    """An immutable, validated model spec.

    Build it with :meth:`from_dict` or :func:`load_spec`; do not call the constructor with
    unvalidated parts.

    Examples
    --------
    >>> import carepaths
    >>> spec = carepaths.load_spec("five_mechanisms")
    >>> spec.mediator_names
    ('encouragement', 'alt_coping', 'discouragement', 'confidence', 'attitudes')
    """

    exposure: Exposure
    mediators: tuple[Mediator, ...]
    outcome: Outcome
    confounders: tuple[Confounder, ...] = ()
    columns: Columns = field(default_factory=Columns)
    stages: tuple[str, ...] = ()
    mediator_edges: tuple[tuple[str, str], ...] = ()
    unmeasured_confounding: tuple[tuple[str, str], ...] = ()
    structure: Structure = field(default_factory=Structure)
    name: str | None = None
    description: str | None = None
    graph_edges: tuple[tuple[str, str], ...] = ()
    priors: PriorSettings = field(default_factory=PriorSettings)
    paradox: Paradox | None = None
    interactions: tuple[Interaction, ...] = ()
    moderation: tuple[Moderation, ...] = ()
    time: Time | None = None

    KEYS = (
        "name",
        "description",
        "stages",
        "mediator_edges",
        "unmeasured_confounding",
        "columns",
        "exposure",
        "mediators",
        "outcome",
        "confounders",
        "structure",
        "graph",
        "priors",
        "paradox",
        "interactions",
        "moderation",
        "time",
    )
    GRAPH_KEYS = ("edges",)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Spec:
        """Validate a plain dict (as read from TOML) into a :class:`Spec`.

        Parameters
        ----------
        d : mapping
            Keys as in the module docstring. Unknown keys raise.

        Returns
        -------
        Spec

        Raises
        ------
        SpecError
            Naming the offending key, what was expected and how to fix it.
        """
        _check_keys(d, "", cls.KEYS)
        columns = Columns.from_dict(d.get("columns", {}))
        exposure = Exposure.from_dict(_require(d, "exposure", ""))
        raw_mediators = _require(d, "mediators", "")
        if not isinstance(raw_mediators, list | tuple) or len(raw_mediators) == 0:
            raise SpecError(
                "spec key 'mediators' must list at least one mediator ([[mediators]] tables in "
                "TOML); a mediation model without mediators has nothing to decompose."
            )
        mediators = tuple(
            Mediator.from_dict(m, f"mediators[{i}]") for i, m in enumerate(raw_mediators)
        )
        outcome = Outcome.from_dict(_require(d, "outcome", ""))
        raw_conf = d.get("confounders", [])
        if not isinstance(raw_conf, list | tuple):
            raise SpecError("spec key 'confounders' must be a list of [[confounders]] tables.")
        confounders = tuple(
            Confounder.from_dict(c, f"confounders[{i}]") for i, c in enumerate(raw_conf)
        )
        stages = _str_list(d["stages"], "stages") if "stages" in d else ()
        for i, stage in enumerate(stages):
            if stage.strip().lower() in RESERVED_STAGE_NAMES:
                raise SpecError(
                    f"spec key 'stages[{i}]' is {_show(stage)}, a label carepaths reserves for its "
                    "own rows ('pooled': the effects' average over the stages; 'all': the "
                    "predictive checks' rows over every stage, and the one level of a spec "
                    "without stages), so that stage's rows would be mixed with them. Rename the "
                    f"stage (in the data too). Reserved stage names: {', '.join(RESERVED_STAGE_NAMES)}."
                )
        if stages and columns.stage is None:
            raise SpecError(
                "spec key 'stages' lists stage levels but there is no stage column: set "
                "columns.stage to the column holding the stage, or remove 'stages'."
            )
        if columns.stage is not None and len(stages) < 2:
            raise SpecError(
                f"spec key 'stages' must list at least 2 ordered stage levels because "
                f"columns.stage = {_show(columns.stage)}, got {_show_list(stages)}. Add them, e.g. "
                'stages = ["crisis", "recovery", "maintenance"], or remove columns.stage.'
            )
        structure = Structure.from_dict(d.get("structure", {}), columns)
        spec = cls(
            exposure=exposure,
            mediators=mediators,
            outcome=outcome,
            confounders=confounders,
            columns=columns,
            stages=stages,
            mediator_edges=_pairs(d.get("mediator_edges", []), "mediator_edges"),
            unmeasured_confounding=_pairs(
                d.get("unmeasured_confounding", []), "unmeasured_confounding"
            ),
            structure=structure,
            name=_str(d.get("name"), "name", optional=True),
            description=_str(d.get("description"), "description", optional=True),
            graph_edges=_graph_edges(d.get("graph", {})),
            paradox=Paradox.from_dict(d["paradox"], stages) if "paradox" in d else None,
            interactions=_tables(d, "interactions", Interaction.from_dict),
            moderation=_tables(d, "moderation", Moderation.from_dict),
            time=Time.from_dict(d["time"]) if "time" in d else None,
        )
        spec._check_names()
        spec._check_edges()
        spec._check_interactions()
        spec._check_moderation()
        spec._check_time()
        if "priors" in d:  # names are checked against the model the rest of the spec implies
            spec = replace(spec, priors=PriorSettings.from_dict(d["priors"], spec))
        return spec

    @classmethod
    def from_toml(cls, text: str) -> Spec:
        """Parse TOML text into a :class:`Spec` (see :meth:`from_dict`)."""
        try:
            d = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise SpecError(f"the spec is not valid TOML: {err}. Fix the syntax there.") from err
        return cls.from_dict(d)

    def _check_names(self) -> None:
        """Column names: one role each, none blank, reserved or a whitespace twin of another."""
        roles: dict[str, str] = {}
        stripped: dict[str, tuple[str, str]] = {}

        def claim(name: str, role: str) -> None:
            if name in roles:
                same_role = _role_kind(roles[name]) == _role_kind(role)
                kind = "duplicate name" if same_role else "one column in two roles"
                raise SpecError(
                    f"{kind}: column {_show(name)} is used as {roles[name]} and as {role}. "
                    "Each data column may play one role only; rename one of them."
                )
            twin = stripped.get(name.strip())
            if twin is not None:
                raise SpecError(
                    f"spec keys '{twin[1]}' ({_show(twin[0])}) and '{role}' ({_show(name)}) name "
                    "columns that differ only in surrounding whitespace: they read as one column "
                    "but are two. Remove the spaces (in the data too: "
                    "df.columns = df.columns.str.strip())."
                )
            if name.startswith(RESERVED_PREFIXES):
                why = (
                    "the prefix of the latent nodes of unmeasured_confounding" if name.startswith("U[")
                    else "the prefix of the saved fit's own variables"
                )
                raise SpecError(
                    f"spec key '{role}' is {_show(name)}, a name carepaths reserves ({why}). "
                    "Rename the column (in the data too, e.g. "
                    f"df.rename(columns={{{_show(name)}: 'new_name'}})). Reserved: names starting with "
                    f"{' or '.join(repr(n) for n in RESERVED_PREFIXES)}."
                )
            roles[name] = role
            stripped[name.strip()] = (name, role)

        for key in Columns.KEYS:
            value = getattr(self.columns, key)
            if value is not None:
                claim(value, f"columns.{key}")
        claim(self.exposure.name, "exposure.name")
        for i, m in enumerate(self.mediators):
            claim(m.name, f"mediators[{i}].name")
        claim(self.outcome.name, "outcome.name")
        for i, c in enumerate(self.confounders):
            claim(c.name, f"confounders[{i}].name")

        # a numeric confounder "sex[m]" and the indicator of level m of "sex" share a column
        terms: dict[str, int] = {}
        for i, c in enumerate(self.confounders):
            for term in c.terms:
                if term in terms:
                    raise SpecError(
                        f"spec key 'confounders[{i}]': its design column {_show(term)} has the same "
                        f"name as a column of confounders[{terms[term]}] (a categorical "
                        "confounder's indicators are named name[level]). Rename one of them."
                    )
                terms[term] = i
        # the model names each non-normal mediator's likelihood M_<name> and the normal ones' M_normal
        if any(m.family == "normal" for m in self.mediators):
            for i, m in enumerate(self.mediators):
                if m.name == "normal" and m.family != "normal":
                    raise SpecError(
                        f"spec key 'mediators[{i}].name' is 'normal': the model names this "
                        "mediator's likelihood M_normal, the name it gives the likelihood of the "
                        "normal mediators. Rename the mediator."
                    )

    def _check_edges(self) -> None:
        meds = self.mediator_names
        for i, (a, b) in enumerate(self.mediator_edges):
            for end in (a, b):
                if end not in meds:
                    raise SpecError(
                        f"spec key 'mediator_edges[{i}]' names {_show(end)}, which is not a "
                        f"mediator.{suggest_closest(end, meds)} Mediators: {_names(meds)}."
                    )
        if len(set(self.mediator_edges)) != len(self.mediator_edges):
            raise SpecError("spec key 'mediator_edges' lists the same edge twice; list it once.")
        _ = self.mediator_order  # computing the order raises SpecError on a cycle
        self._check_graph_edges()
        variables = self.node_names
        for i, (a, b) in enumerate(self.unmeasured_confounding):
            for end in (a, b):
                if end not in variables:
                    raise SpecError(
                        f"spec key 'unmeasured_confounding[{i}]' names {_show(end)}, which is not a "
                        f"variable of the spec.{suggest_closest(end, variables)} Variables: "
                        f"{_names(variables)}."
                    )

    def _check_graph_edges(self) -> None:
        """Validate ``graph.edges`` against the model's variables and its implied edges."""
        index_columns = {
            getattr(self.columns, k): k for k in ("person", "wave", "cluster")
            if getattr(self.columns, k) is not None
        }
        mediators = set(self.mediator_names)
        implied = set(self._implied_edges())
        seen: set[tuple[str, str]] = set()
        for i, (a, b) in enumerate(self.graph_edges):
            where = f"spec key 'graph.edges[{i}]' ({_show(a)} -> {_show(b)})"
            for end in (a, b):
                if end in index_columns:
                    raise SpecError(
                        f"{where} names {_show(end)}, the {index_columns[end]} column "
                        f"(columns.{index_columns[end]}): it indexes the data and is not a "
                        "cause. Use another name for the variable."
                    )
                if end.startswith("U["):
                    raise SpecError(
                        f"{where} names {_show(end)}: names starting with 'U[' are reserved for "
                        "the latent nodes of unmeasured_confounding. Rename the variable, or "
                        "declare the latent cause with unmeasured_confounding = [[a, b]]."
                    )
            if a in mediators and b in mediators:
                raise SpecError(
                    f"{where} joins two mediators: write it in mediator_edges = "
                    f'[["{a}", "{b}"]] instead, so the model includes the edge too.'
                )
            if (a, b) in implied:
                raise SpecError(
                    f"{where} is already implied by the spec's roles (confounders and stage "
                    "cause exposure, mediators and outcome; exposure causes mediators and "
                    "outcome; mediators cause the outcome). Remove it from graph.edges."
                )
            if (a, b) in seen:
                raise SpecError(f"{where} is listed twice; list each edge once.")
            seen.add((a, b))
        edges = list(self._implied_edges())
        for i, (a, b) in enumerate(self.graph_edges):
            back = _directed_path(edges, b, a)
            if back is not None:
                cycle = " -> ".join(_names([n]) for n in [a, *back])
                pre = set(self.node_names_in_model) - {
                    self.exposure.name, self.outcome.name, *self.mediator_names
                }
                hint = ""
                if self.exposure.name in back and pre & {a, *back}:
                    hint = (
                        f" {_names(sorted(pre & {a, *back}))} causes the exposure by its role "
                        "(confounders and the stage are pre-exposure); if the exposure affects "
                        "it, the model must not adjust for it: remove it from the confounders "
                        "(or drop columns.stage) and name it in graph.edges only."
                    )
                raise SpecError(
                    f"spec key 'graph.edges[{i}]' ({_show(a)} -> {_show(b)}) closes the cycle {cycle} with "
                    "the edges before it and those the spec implies; a causal graph has no "
                    f"cycles. Remove or reverse one of these edges.{hint}"
                )
            edges.append((a, b))

    def _check_interactions(self) -> None:
        """Each ``[[interactions]]`` term: exposure x mediator or mediator x mediator, once."""
        x, meds = self.exposure.name, self.mediator_names
        allowed = (x, *meds)
        roles = {self.outcome.name: "the outcome (a term of its own equation)"}
        roles.update({c: "a confounder" for c in self.confounder_names})
        if self.columns.stage is not None:
            roles[self.columns.stage] = "the stage column"
        seen: dict[frozenset[str], int] = {}
        for i, inter in enumerate(self.interactions):
            path = f"interactions[{i}].terms"
            for term in inter.terms:
                if term in allowed:
                    continue
                if term in roles:
                    fix = (
                        f" A product with a confounder is moderation: write [[moderation]] with "
                        f'by = {_show(term)} and the paths it changes (e.g. paths = ["c"] for '
                        f"{_show(x)} x {_show(term)}, or \"b:<mediator>\")."
                        if roles[term] == "a confounder" else
                        " Paths that differ by stage are stage-specific paths already "
                        "(structure.stage_specific_paths = true, the default)."
                        if roles[term] == "the stage column" else ""
                    )
                    raise SpecError(
                        f"{_key(path)} names {_show(term)}, {roles[term]}; an interaction is a "
                        f"product of the exposure ({_show(x)}) and a mediator, or of two "
                        f"mediators, in the outcome equation.{fix}"
                    )
                hint = suggest_closest(term, self.node_names_in_model) if len(term) <= _MAX_SHOWN else ""
                raise SpecError(
                    f"{_key(path)} names {_show(term)}, which is not a variable of the spec.{hint} "
                    f"An interaction joins the exposure ({_show(x)}) and a mediator, or two "
                    f"mediators; mediators: {_names(meds)}."
                )
            pair = frozenset(inter.terms)
            if pair in seen:
                raise SpecError(
                    f"{_key(f'interactions[{i}]')} ({_show(inter.terms[0])} x {_show(inter.terms[1])}) "
                    f"repeats interactions[{seen[pair]}]: a product is the same in either order. "
                    "List each interaction once."
                )
            seen[pair] = i

    def _check_moderation(self) -> None:
        """Each ``[[moderation]]`` entry: a confounder as moderator, known paths, each once."""
        x, y = self.exposure.name, self.outcome.name
        confounders = self.confounder_names
        valid = (*(f"a:{m}" for m in self.mediator_names), *(f"b:{m}" for m in self.mediator_names), "c")
        by_entry: dict[str, int] = {}
        for i, mod in enumerate(self.moderation):
            path = f"moderation[{i}].by"
            why = "a moderator must be measured before the exposure and not be affected by it"
            if mod.by == self.columns.stage:
                raise SpecError(
                    f"{_key(path)} is the stage column {_show(mod.by)}: moderation by stage is "
                    "what stage-specific paths already do (structure.stage_specific_paths = "
                    "true, the default, gives every stage its own a, b and c paths). Remove "
                    "this entry, and set stage_specific_paths = true if it is false."
                )
            if mod.by not in confounders:
                role = (
                    "the exposure" if mod.by == x else "the outcome" if mod.by == y
                    else "a mediator (the exposure affects it)" if mod.by in self.mediator_names
                    else None
                )
                if role is not None:
                    raise SpecError(
                        f"{_key(path)} is {_show(mod.by)}, {role}: {why} (a pre-exposure "
                        "variable), so it must be one of the spec's [[confounders]]. A product "
                        "of the exposure and a mediator, or of two mediators, is an "
                        "[[interactions]] term."
                    )
                hint = suggest_closest(mod.by, confounders) if len(mod.by) <= _MAX_SHOWN else ""
                raise SpecError(
                    f"{_key(path)} is {_show(mod.by)}, which is not a declared confounder.{hint} "
                    f"{why[0].upper()}{why[1:]}: declare it in [[confounders]] (and the data), or "
                    f"name one of the confounders: {_names(confounders) or 'none'}."
                )
            if mod.by in by_entry:
                raise SpecError(
                    f"{_key(path)} repeats the moderator {_show(mod.by)} of moderation[{by_entry[mod.by]}]; "
                    "list all the paths it moderates in one [[moderation]] table."
                )
            by_entry[mod.by] = i
            for j, p in enumerate(mod.paths):
                if p not in valid:
                    hint = suggest_closest(p, valid) if len(p) <= _MAX_SHOWN else ""
                    raise SpecError(
                        f"{_key(f'moderation[{i}].paths[{j}]')} is {_show(p)}, which is not a path "
                        f"of the model.{hint} Paths: \"a:<mediator>\" ({_show(x)} -> mediator), "
                        f"\"b:<mediator>\" (mediator -> {_show(y)}) and \"c\" (the direct path); "
                        f"here {_show_list(valid)}."
                    )

    def _implied_edges(self) -> tuple[tuple[str, str], ...]:
        """The directed edges the roles imply, without ``graph.edges``."""
        x, y = self.exposure.name, self.outcome.name
        causes = (*self.confounder_names, *((self.columns.stage,) if self.columns.stage else ()))
        out: list[tuple[str, str]] = []
        for c in causes:
            out += [(c, x), *((c, m) for m in self.mediator_names), (c, y)]
        for m in self.mediator_names:
            out.append((x, m))
        out += list(self.mediator_edges)
        out += [(m, y) for m in self.mediator_names]
        out.append((x, y))
        return tuple(out)

    def _check_time(self) -> None:
        """The ``[time]`` table against the rest: waves, the names it uses, stages."""
        t = self.time
        if t is None:
            return
        cols = self.columns
        if cols.person is None or cols.wave is None:
            raise SpecError(
                "spec key 'time' declares what carries over between waves, which needs each "
                "person's previous wave: set columns.person and columns.wave (the data's person "
                "id and wave number), or remove the [time] table."
            )
        stage = [cols.stage] if cols.stage is not None else []
        lag_names = (self.outcome.name, self.exposure.name, *stage, *self.confounder_names)
        for i, name in enumerate(t.lags):
            if name not in lag_names:
                raise SpecError(
                    f"spec key 'time.lags[{i}]' is {_show(name)}, which is not a variable with a "
                    f"previous-wave value here.{suggest_closest(name, lag_names)} A lag is the outcome, "
                    f"the exposure, the stage column or a confounder: one of {_show_list(lag_names)}."
                )
        clash = sorted(set(self.lag_terms) & {t for c in self.confounders for t in c.terms})
        if clash:
            raise SpecError(
                f"spec key 'time.lags' makes the lag term(s) {_show_list(clash)}, which a confounder of the "
                "spec is already called: rename that confounder (in the data too)."
            )
        for i, name in enumerate(t.time_varying):
            if name not in self.confounder_names:
                raise SpecError(
                    f"spec key 'time.time_varying[{i}]' is {_show(name)}, which is not a confounder."
                    f"{suggest_closest(name, self.confounder_names)} A time-varying confounder is one of "
                    f"the spec's confounders that responds to earlier care and exposure: one of "
                    f"{_show_list(self.confounder_names)}."
                )
        if t.transition_given is None:
            return
        if not self.stages:
            raise SpecError(
                "spec key 'time.stage_transition' models how persons move between stages, but the "
                "spec has no stages: set columns.stage and stages = [...], or remove the table."
            )
        for i, name in enumerate(t.transition_given):
            if name not in t.lags or name in stage:
                raise SpecError(
                    f"spec key 'time.stage_transition.given[{i}]' is {_show(name)}: the stage at a "
                    "wave depends on the previous stage (always) and on previous-wave values, so each "
                    f"name here must be a lag other than the stage (time.lags = {_show_list(t.lags)}). "
                    f"Add it to time.lags, or remove it here."
                )
        for i, name in enumerate(t.absorbing):
            if name not in self.stages:
                raise SpecError(
                    f"spec key 'time.stage_transition.absorbing[{i}]' is {_show(name)}, which is not "
                    f"one of the spec's stages {_show_list(self.stages)}.{suggest_closest(name, self.stages)}"
                )
        if set(t.absorbing) == set(self.stages):
            raise SpecError(
                "spec key 'time.stage_transition.absorbing' lists every stage: then nobody ever "
                "changes stage and there is no transition to model. List the stages persons never "
                "leave (e.g. a terminal state), or none."
            )

    # -- views ----------------------------------------------------------------------
    @property
    def mediator_names(self) -> tuple[str, ...]:
        """Mediator names in spec order."""
        return tuple(m.name for m in self.mediators)

    @property
    def integrates_person_intercepts(self) -> bool:
        """Whether the model integrates the outcome's and the binary and ordinal mediators'
        person intercepts out (person intercepts with ``structure.person_intercepts =
        "integrated"``, the default); otherwise each row's likelihood stands on its own
        given the sampled person effects."""
        return (self.columns.person is not None and self.structure.person_effects == "intercepts"
                and self.structure.person_intercepts == "integrated")

    @property
    def confounder_names(self) -> tuple[str, ...]:
        """Confounder names in spec order."""
        return tuple(c.name for c in self.confounders)

    @property
    def confounder_terms(self) -> tuple[str, ...]:
        """Design-matrix column names of the confounders (categoricals expanded), then the
        lag terms of a ``[time]`` table (:attr:`lag_terms`)."""
        return tuple(t for c in self.confounders for t in c.terms) + self.lag_terms

    @property
    def lag_terms(self) -> tuple[str, ...]:
        """The lag terms every equation of a wave gets from ``[time]``: ``lag(<name>)`` per
        lag other than the stage column (a categorical confounder's per level,
        ``lag(<name>)[<level>]``), then ``first_wave``, the indicator of a person's first
        wave (whose lags are set to 0: no history). Empty without lags."""
        if self.time is None:
            return ()
        terms: list[str] = []
        by_name = {c.name: c for c in self.confounders}
        for name in self.time.lags:
            if name == self.columns.stage:
                continue  # the previous stage enters the stage-transition model only
            conf = by_name.get(name)
            if conf is not None and conf.kind == "categorical":
                terms += [f"lag({name})[{lvl}]" for lvl in conf.levels if lvl != conf.reference]
            else:
                terms.append(f"lag({name})")
        return (*terms, FIRST_WAVE) if terms else ()

    @property
    def variable_names(self) -> tuple[str, ...]:
        """Exposure, mediators, outcome and confounders (the nodes of the causal graph)."""
        return (
            self.exposure.name,
            *self.mediator_names,
            self.outcome.name,
            *self.confounder_names,
        )

    @property
    def graph_variables(self) -> tuple[str, ...]:
        """Variables named only in ``graph.edges``: causes in the world the model leaves out.

        In order of first mention. They are nodes of the causal graph but not columns the
        model uses, so identification can say when one of them must be adjusted for.
        """
        model = set(self.node_names_in_model)
        out: list[str] = []
        for a, b in self.graph_edges:
            for end in (a, b):
                if end not in model and end not in out:
                    out.append(end)
        return tuple(out)

    @property
    def node_names_in_model(self) -> tuple[str, ...]:
        """The variables of the model as graph nodes: :attr:`variable_names` and the stage column."""
        stage = (self.columns.stage,) if self.columns.stage else ()
        return (*self.variable_names, *stage)

    @property
    def node_names(self) -> tuple[str, ...]:
        """Every observed node of the causal graph: the model's variables, then graph variables."""
        return (*self.node_names_in_model, *self.graph_variables)

    @property
    def causal_edges(self) -> tuple[tuple[str, str], ...]:
        """Every directed edge between observed nodes: those the roles imply, then ``graph.edges``.

        Confounders and the stage (when ``columns.stage`` is set) point into the exposure,
        every mediator and the outcome; the exposure into every mediator and the outcome;
        ``mediator_edges``; every mediator into the outcome. Latent common causes
        (``unmeasured_confounding``) are added by :class:`carepaths.causal.graph.CausalGraph`.
        """
        return (*self._implied_edges(), *self.graph_edges)

    @property
    def stage_levels(self) -> tuple[str, ...]:
        """Stage levels in order; a spec without stages has the single level ``"all"``."""
        return self.stages if self.stages else ("all",)

    @property
    def mediator_order(self) -> tuple[str, ...]:
        """Mediators in a causal (topological) order of ``mediator_edges``, spec order on ties.

        Raises
        ------
        SpecError
            If the extra edges contain a cycle.
        """
        names = list(self.mediator_names)
        parents = {m: {a for a, b in self.mediator_edges if b == m} for m in names}
        order: list[str] = []
        while len(order) < len(names):
            ready = [m for m in names if m not in order and parents[m] <= set(order)]
            if not ready:
                cycle = [m for m in names if m not in order]
                raise SpecError(
                    f"spec key 'mediator_edges' has a cycle among {cycle}: mediators must be "
                    "ordered (a DAG). Remove one edge of the cycle."
                )
            order.append(ready[0])
        return tuple(order)

    def mediator(self, name: str) -> Mediator:
        """The mediator called ``name``."""
        for m in self.mediators:
            if m.name == name:
                return m
        raise KeyError(f"no mediator {name!r}.{suggest_closest(name, self.mediator_names)}")

    def mediator_parents(self, name: str) -> tuple[str, ...]:
        """Mediators with an edge into ``name``, in spec order."""
        return tuple(a for a, b in self.mediator_edges if b == name)

    @property
    def exposure_mediator_interactions(self) -> tuple[Interaction, ...]:
        """The ``[[interactions]]`` terms with the exposure (exposure x mediator), in spec order."""
        return tuple(i for i in self.interactions if self.exposure.name in i.terms)

    @property
    def mediator_interactions(self) -> tuple[Interaction, ...]:
        """The ``[[interactions]]`` terms of two mediators (mediator x mediator), in spec order."""
        return tuple(i for i in self.interactions if self.exposure.name not in i.terms)

    def moderated_paths(self, kind: str) -> tuple[tuple[str | None, str], ...]:
        """``(mediator, moderator)`` of every moderated path of ``kind`` (``"a"``, ``"b"``, ``"c"``).

        In the order of the ``[[moderation]]`` tables and their ``paths``; the mediator is
        None for ``"c"``.
        """
        return tuple(
            (mediator, mod.by)
            for mod in self.moderation
            for kind_, mediator in map(moderated_path, mod.paths)
            if kind_ == kind
        )

    # -- output ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The spec as a plain dict; ``Spec.from_dict(spec.to_dict()) == spec``."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "stages": list(self.stages) or None,
            "mediator_edges": [list(e) for e in self.mediator_edges] or None,
            "unmeasured_confounding": [list(e) for e in self.unmeasured_confounding] or None,
            "columns": self.columns.to_dict() or None,
            "exposure": self.exposure.to_dict(),
            "mediators": [m.to_dict() for m in self.mediators],
            "outcome": self.outcome.to_dict(),
            "confounders": [c.to_dict() for c in self.confounders] or None,
            "structure": self.structure.to_dict(),
            "graph": {"edges": [list(e) for e in self.graph_edges]} if self.graph_edges else None,
            "priors": self.priors.to_dict() or None,
            "paradox": self.paradox.to_dict() if self.paradox is not None else None,
            # written only when declared, so a spec without them keeps its dict and hash
            "interactions": [i.to_dict() for i in self.interactions] or None,
            "moderation": [m.to_dict() for m in self.moderation] or None,
            "time": self.time.to_dict() if self.time is not None else None,
        }
        return _drop_none(out)

    def to_toml(self) -> str:
        """The spec as TOML text; ``Spec.from_toml(spec.to_toml()) == spec``."""
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def describe(self) -> str:
        """A plain-text account of the spec's causal structure, for people."""
        lines = [f"Spec: {self.name or '(unnamed)'}"]
        if self.description:
            lines.append(f"  {self.description}")
        x = self.exposure
        c = x.contrast
        contrast = (
            f"+{c.size:g} SD" if c.kind == "shift_sd" else f"{c.low:g} -> {c.high:g}"
        )
        lines.append(f"Exposure  X: {x.name} ({x.kind}; contrast {contrast})")
        probit = ", probit link" if self.outcome.link == "probit" else ""
        lines.append(f"Outcome   Y: {self.outcome.name} ({self.outcome.family}{probit})")
        lines.append("Mediators M (X -> M -> Y):")
        for m in self.mediators:
            sign = f", expected {m.expected_sign}" if m.expected_sign else ""
            sign = (", probit link" if m.link == "probit" else "") + sign
            lines.append(f"  - {m.name} ({m.family}{sign}): {m.mechanism or ''}".rstrip(": "))
        if self.mediator_edges:
            lines.append("Mediator edges: " + ", ".join(f"{a} -> {b}" for a, b in self.mediator_edges))
        conf = ", ".join(
            c.name if c.kind == "numeric" else f"{c.name} (categorical, ref. {c.reference})"
            for c in self.confounders
        )
        lines.append(f"Confounders C (-> X, M, Y): {conf or 'none'}")
        if self.stages and not self.structure.stage_specific_paths:
            lines.append(
                f"Stages S (-> X, M, Y; stage intercepts, paths shared across stages): "
                f"{' < '.join(self.stages)}"
            )
        elif self.stages:
            lines.append(
                f"Stages S (-> X, M, Y; paths differ by stage): {' < '.join(self.stages)}"
                f"{' (partially pooled)' if self.structure.pool_stages else ' (unpooled)'}"
            )
        if self.interactions:
            lines.append(
                f"Interactions in the {self.outcome.name} equation: "
                + ", ".join(" x ".join(i.terms) for i in self.interactions)
            )
        for mod in self.moderation:
            lines.append(f"Moderated by {mod.by}: {', '.join(mod.paths)}")
        if self.paradox is not None:
            lines.append(
                f"Paradox tested: {x.name} raises {self.outcome.name} in {self.paradox.raises_in} "
                f"and lowers it in {self.paradox.lowers_in}"
            )
        if self.unmeasured_confounding:
            lines.append(
                "Declared unmeasured confounding: "
                + ", ".join(f"{a} <-> {b}" for a, b in self.unmeasured_confounding)
            )
        if self.graph_edges:
            lines.append(
                "Other causal knowledge (graph.edges): "
                + ", ".join(f"{a} -> {b}" for a, b in self.graph_edges)
                + (
                    f"; not in the model: {', '.join(self.graph_variables)}"
                    if self.graph_variables
                    else ""
                )
            )
        lines.append(
            f"Person effects: {self.structure.person_effects}"
            + (" (exposure centred within person)" if self.structure.center_exposure_within_person else "")
        )
        if self.priors:
            lines.append(
                "Priors set in the spec: "
                + "; ".join(
                    f"{n} ~ {d}({', '.join(f'{k}={v:g}' for k, v in p.items())})"
                    for n, (d, p) in self.priors.items()
                )
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- loading
def _models_dir() -> Path:
    """Where the shipped specs live: inside the installed package, else the source tree."""
    packaged = Path(__file__).parent / "models"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "models"


def shipped_spec_path(name: str) -> Path:
    """Path of a shipped spec (``"five_mechanisms"``, ``"visits"``, ``"single_mediator"``)."""
    if name not in SHIPPED_SPECS:
        raise SpecError(
            f"no shipped spec called {_show(name)}."
            f"{suggest_closest(name, SHIPPED_SPECS) if len(name) <= _MAX_SHOWN else ''} Shipped specs: "
            f"{', '.join(SHIPPED_SPECS)}; or pass a path to your own TOML file."
        )
    return _models_dir() / f"{name}.toml"


def load_spec(path: str | Path = "five_mechanisms") -> Spec:
    """Load a model spec from a TOML file, or a shipped spec by name.

    Parameters
    ----------
    path : str or Path, default "five_mechanisms"
        A path to a ``.toml`` file, or the name of a shipped spec: ``"five_mechanisms"``
        (the default five-mechanism model), ``"visits"`` (count outcome) or
        ``"single_mediator"`` (one mediator, no stages, no person id).

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        If the file is missing, a directory or unreadable, is not UTF-8 text (naming the
        byte), is not TOML, or the spec is invalid; every message from a file names it.
    """
    if not isinstance(path, str | os.PathLike):
        raise SpecError(
            f"load_spec expects a path to a TOML file or the name of a shipped spec, got "
            f"{type(path).__name__}. Shipped specs: {', '.join(SHIPPED_SPECS)}."
        )
    p = Path(path)
    if p.suffix != ".toml" and not os.path.exists(p):  # os.path: False, not OSError, on a too-long name
        try:
            p = shipped_spec_path(str(path))
        except SpecError as err:
            raise SpecError(f"{err} (No file of that name exists either.)") from None
    try:
        check_input_file(p, what="spec file")
        raw = p.read_bytes()
    except CarepathsError as err:
        raise SpecError(str(err)) from None
    except OSError as err:
        raise SpecError(f"spec file {shorten(str(p))} could not be read: {err.strerror or err}.") from None
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0  # a BOM is UTF-8 too
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        at = err.start + bom
        raise SpecError(
            f"spec file {shorten(str(p))} is not UTF-8 text: byte {at} (0x{raw[at]:02x}) is "
            f"{err.reason}. Save the file as UTF-8 (in most editors: Save with encoding, UTF-8)."
        ) from None
    try:
        return Spec.from_toml(text)
    except SpecError as err:
        raise SpecError(f"spec file {shorten(str(p))}: {err}") from None
