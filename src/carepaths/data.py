"""Validating a long-format DataFrame into a :class:`Panel` (xarray), coding and scaling.

One row per person-wave. :meth:`Panel.from_frame` checks the frame against a
:class:`~carepaths.spec.Spec` and refuses anything it would otherwise have to guess:
missing values are never dropped, imputed or coerced unless ``dropna=True`` is passed, and
then the dropped rows are reported. Every :class:`~carepaths.exceptions.DataError` names the
column, the first offending rows (by the frame's index), what was expected and how to fix it.

The model scale
---------------
The panel holds the model-ready arrays in ``panel.dataset``:

``X`` (obs)
    the exposure; standardised (mean 0, SD 1) when continuous, 0/1 when binary.
``X_within``, ``X_between`` (obs)
    only with ``structure.center_exposure_within_person``: the person mean of ``X`` and
    the deviation from it.
``M`` (obs, mediator)
    standardised for normal mediators, 0/1 for bernoulli, 0..K-1 codes for ordinal.
``Y`` (obs)
    standardised for a normal outcome, 0/1 for bernoulli, counts for negative binomial.
``C`` (obs, confounder)
    numeric confounders standardised; categorical ones treatment-coded (0/1 columns
    named ``name[level]``, the reference level omitted) and then centred (the column
    mean is subtracted and kept in ``scaling``), so that intercepts refer to the
    average row and are not correlated with the indicator effects in the posterior.
``person_idx``, ``stage_idx``, ``cluster_idx`` (obs)
    integer codes (0-based) for the hierarchical model.

Coordinates on ``obs``: ``row`` (the frame's index), ``person``, ``wave``, ``stage``,
``cluster`` where the spec names those columns. The standardisation constants are kept
in ``panel.scaling`` so results can be reported in original units.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.exceptions import DataError, DroppedRowsWarning
from carepaths.spec import Spec, suggest_closest

__all__ = ["Panel", "Scaling"]

_MAX_ROWS_SHOWN = 5


@dataclass(frozen=True)
class Scaling:
    """Standardisation constants of one variable: ``model = (original - loc) / scale``."""

    loc: float
    scale: float

    def to_original(self, value: Any) -> Any:
        """Map a model-scale value back to original units."""
        return value * self.scale + self.loc

    def to_model(self, value: Any) -> Any:
        """Map an original-units value onto the model scale."""
        return (value - self.loc) / self.scale


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so messages read ``1``, not ``np.int64(1)``."""
    return value.item() if isinstance(value, np.generic) else value


def _rows(index: pd.Index, mask: np.ndarray | pd.Series) -> str:
    bad = index[np.asarray(mask, dtype=bool)]
    shown = ", ".join(repr(_plain(v)) for v in bad[:_MAX_ROWS_SHOWN])
    more = f" and {len(bad) - _MAX_ROWS_SHOWN} more" if len(bad) > _MAX_ROWS_SHOWN else ""
    return f"rows {shown}{more}"


class Panel:
    """A validated long-format panel, held as an :class:`xarray.Dataset` on dim ``obs``.

    Build it with :meth:`from_frame`; the constructor does not validate.

    Attributes
    ----------
    spec : Spec
        The spec the data were validated against.
    dataset : xarray.Dataset
        The model-scale arrays (see the module docstring).
    scaling : dict of str to Scaling
        Standardisation constants of every standardised variable, by column name.
    frame : pandas.DataFrame
        The used columns in original units, in the order validated (after ``dropna``).
    dropped : pandas.DataFrame
        Rows removed by ``dropna=True`` (empty otherwise), with their original index.
    """

    def __init__(
        self,
        spec: Spec,
        dataset: xr.Dataset,
        scaling: Mapping[str, Scaling],
        frame: pd.DataFrame,
        dropped: pd.DataFrame,
    ) -> None:
        self.spec = spec
        self.dataset = dataset
        self.scaling = dict(scaling)
        self.frame = frame
        self.dropped = dropped

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_frame(cls, df: pd.DataFrame, spec: Spec, *, dropna: bool = False) -> Panel:
        """Validate a long-format DataFrame (one row per person-wave) into a Panel.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per person-wave, with every column the spec names.
        spec : Spec
            Names the role of each column.
        dropna : bool, default False
            Drop rows with a missing value (NaN/None) in a used column, and report them
            with a :class:`~carepaths.exceptions.DroppedRowsWarning` and in
            :attr:`dropped`. By default missing values raise instead. Infinite values
            always raise.

        Returns
        -------
        Panel

        Raises
        ------
        DataError
            Naming the column and rows at fault, what was expected and how to fix it.
        """
        if not isinstance(df, pd.DataFrame):
            raise DataError(
                f"Panel.from_frame expects a pandas DataFrame, got {type(df).__name__}. "
                "Read your file with pandas.read_csv first."
            )
        if not isinstance(spec, Spec):
            raise DataError(
                f"Panel.from_frame expects a carepaths Spec, got {type(spec).__name__}. "
                "Use carepaths.load_spec(...) or Spec.from_dict(...)."
            )
        if df.index.has_duplicates:
            raise DataError(
                "the DataFrame index has duplicate labels, so rows cannot be named in error "
                "messages or reports. Call df.reset_index(drop=True) first."
            )
        used = _used_columns(spec)
        _check_present(df, used)
        frame = df.loc[:, list(used)].copy()
        frame, dropped = _handle_missing(frame, dropna=dropna)
        _check_numeric(frame, spec)
        _check_values(frame, spec)
        _check_design(frame, spec)
        return cls._build(frame, spec, dropped)

    @classmethod
    def _build(cls, frame: pd.DataFrame, spec: Spec, dropped: pd.DataFrame) -> Panel:
        scaling: dict[str, Scaling] = {}

        def standardise(col: str) -> np.ndarray:
            values = frame[col].to_numpy(dtype=float)
            s = Scaling(loc=float(values.mean()), scale=float(values.std(ddof=1)))
            scaling[col] = s
            return np.asarray(s.to_model(values))

        x = spec.exposure
        X = standardise(x.name) if x.kind == "continuous" else frame[x.name].to_numpy(float)
        M = np.empty((len(frame), len(spec.mediators)))
        for k, m in enumerate(spec.mediators):
            if m.family == "normal":
                M[:, k] = standardise(m.name)
            elif m.family == "bernoulli":
                M[:, k] = frame[m.name].to_numpy(float)
            else:  # ordinal: map the declared codes onto 0..K-1
                lookup = {code: i for i, code in enumerate(m.categories)}
                M[:, k] = frame[m.name].map(lambda v, lookup=lookup: lookup[int(v)]).to_numpy(float)
        y = spec.outcome
        if y.family == "normal":
            Y = standardise(y.name)
        elif y.family == "bernoulli":
            Y = frame[y.name].to_numpy(float)
        else:
            Y = frame[y.name].to_numpy(float).astype(np.int64)
        c_cols: list[np.ndarray] = []
        for c in spec.confounders:
            if c.kind == "numeric":
                c_cols.append(standardise(c.name))
            else:  # treatment coding, then centred so intercepts refer to the average row
                for level in c.levels:
                    if level != c.reference:
                        indicator = (frame[c.name] == level).to_numpy(float)
                        term = f"{c.name}[{level}]"
                        scaling[term] = Scaling(loc=float(indicator.mean()), scale=1.0)
                        c_cols.append(indicator - scaling[term].loc)
        C = np.column_stack(c_cols) if c_cols else np.empty((len(frame), 0))

        cols = spec.columns
        coords: dict[str, Any] = {
            "obs": np.arange(len(frame)),
            "row": ("obs", frame.index.to_numpy()),
            "mediator": list(spec.mediator_names),
            "confounder": list(spec.confounder_terms),
        }
        data_vars: dict[str, Any] = {
            "X": ("obs", X),
            "M": (("obs", "mediator"), M),
            "Y": ("obs", Y),
            "C": (("obs", "confounder"), C),
        }
        if cols.person is not None:
            codes, persons = pd.factorize(frame[cols.person], sort=False)
            coords["person"] = ("obs", frame[cols.person].to_numpy())
            data_vars["person_idx"] = ("obs", codes.astype(np.int64))
            if spec.structure.center_exposure_within_person:
                between = pd.Series(X).groupby(codes).transform("mean").to_numpy()
                data_vars["X_between"] = ("obs", between)
                data_vars["X_within"] = ("obs", X - between)
        if cols.wave is not None:
            coords["wave"] = ("obs", frame[cols.wave].to_numpy())
        if cols.stage is not None:
            lookup = {s: i for i, s in enumerate(spec.stages)}
            coords["stage"] = ("obs", frame[cols.stage].astype(str).to_numpy())
            data_vars["stage_idx"] = ("obs", frame[cols.stage].map(lookup).to_numpy(np.int64))
        else:
            data_vars["stage_idx"] = ("obs", np.zeros(len(frame), dtype=np.int64))
        if cols.cluster is not None:
            codes, _ = pd.factorize(frame[cols.cluster], sort=False)
            coords["cluster"] = ("obs", frame[cols.cluster].to_numpy())
            data_vars["cluster_idx"] = ("obs", codes.astype(np.int64))
        ds = xr.Dataset(data_vars=data_vars, coords=coords)
        ds.attrs["exposure"] = x.name
        ds.attrs["outcome"] = y.name
        return cls(spec, ds, scaling, frame, dropped)

    # -- views ------------------------------------------------------------------------
    @property
    def n_obs(self) -> int:
        """Number of person-waves (rows)."""
        return int(self.dataset.sizes["obs"])

    @property
    def persons(self) -> np.ndarray:
        """Person ids in order of first appearance (the order of ``person_idx``)."""
        col = self.spec.columns.person
        if col is None:
            return np.arange(self.n_obs)
        return pd.unique(self.frame[col])

    @property
    def n_persons(self) -> int:
        """Number of distinct persons (rows when the spec has no person column)."""
        return len(self.persons)

    def unit_sd(self, names: str | Any) -> Any:
        """The original-units size of one model-scale unit of each variable.

        The SD the panel standardised the variable by (a continuous exposure, normal
        mediators, numeric confounders, a normal outcome); 1 for every variable kept on
        its own or link scale (binary and ordinal variables, counts, the centred
        indicators of a categorical confounder).

        Parameters
        ----------
        names : str or array-like of str
            Column names or confounder terms (``"prior_care[yes]"``).

        Returns
        -------
        float or numpy.ndarray
            One SD per name, in the shape of ``names``.
        """
        def sd(name: Any) -> float:
            scaling = self.scaling.get(str(name))
            return float(scaling.scale) if scaling is not None else 1.0

        if isinstance(names, str):
            return sd(names)
        return np.vectorize(sd, otypes=[float])(np.asarray(names, dtype=object))

    def path_scale(self, parent: str | Any, child: str | Any) -> Any:
        """The one rule between a path on the model scale and on the original scale.

        A coefficient of ``parent`` in the equation of ``child`` is
        ``model = original * sd(parent) / sd(child)`` (:meth:`unit_sd`: per SD of a
        standardised variable, per unit otherwise), so the factor returned converts an
        original-scale path to the model scale and dividing by it converts back. Binary,
        ordinal and count variables keep their link scale (their SD is 1). Arrays of
        names broadcast.

        Parameters
        ----------
        parent, child : str or array-like of str
            Variable names (or confounder terms).

        Returns
        -------
        float or numpy.ndarray
            ``sd(parent) / sd(child)``.
        """
        return self.unit_sd(parent) / self.unit_sd(child)

    def stage_counts(self) -> pd.Series:
        """Rows per stage, in the spec's stage order."""
        idx = self.dataset["stage_idx"].to_numpy()
        counts = np.bincount(idx, minlength=len(self.spec.stage_levels))
        return pd.Series(counts, index=pd.Index(self.spec.stage_levels, name="stage"), name="rows")

    def summary(self) -> pd.DataFrame:
        """Per stage: rows, persons, exposure mean and outcome mean in original units."""
        stage_col = self.spec.columns.stage
        f = self.frame
        groups = f.groupby(f[stage_col], sort=False) if stage_col else f.groupby(np.zeros(len(f)))
        out = pd.DataFrame(
            {
                "rows": groups.size(),
                "persons": groups[self.spec.columns.person].nunique()
                if self.spec.columns.person
                else groups.size(),
                f"mean {self.spec.exposure.name}": groups[self.spec.exposure.name].mean(),
                f"mean {self.spec.outcome.name}": groups[self.spec.outcome.name].mean(),
            }
        )
        out.index = pd.Index(
            list(self.spec.stage_levels) if stage_col is None else list(out.index), name="stage"
        )
        return out.reindex(list(self.spec.stage_levels))

    def __repr__(self) -> str:
        return (
            f"<Panel {self.n_obs} rows, {self.n_persons} persons, "
            f"stages {self.stage_counts().astype(int).to_dict()}, spec {self.spec.name or '(unnamed)'}>"
        )


# ------------------------------------------------------------------------------ checks
def _used_columns(spec: Spec) -> tuple[str, ...]:
    cols = [getattr(spec.columns, k) for k in ("person", "wave", "stage", "cluster")]
    return tuple(c for c in cols if c is not None) + spec.variable_names


def _check_present(df: pd.DataFrame, used: tuple[str, ...]) -> None:
    have = [str(c) for c in df.columns]
    missing = [c for c in used if c not in df.columns]
    if missing:
        hints = "".join(
            f" For '{c}':{suggest_closest(c, have) or ' no similar column.'}" for c in missing
        )
        raise DataError(
            f"missing column(s) {missing}: the spec names them but the DataFrame has no such "
            f"column.{hints} Rename the column in the data or change the spec. "
            f"Columns present: {', '.join(have)}."
        )


def _handle_missing(frame: pd.DataFrame, *, dropna: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    missing = frame.isna()
    if not missing.to_numpy().any():
        return frame, frame.iloc[0:0]
    if not dropna:
        parts = [
            f"'{col}': {int(missing[col].sum())} missing ({_rows(frame.index, missing[col])})"
            for col in frame.columns
            if missing[col].any()
        ]
        raise DataError(
            "missing values (NaN/None) in used columns: " + "; ".join(parts) + ". carepaths "
            "never drops or imputes silently: impute them upstream (e.g. multiple imputation), "
            "or pass dropna=True to drop those rows and get them reported."
        )
    bad = missing.any(axis=1)
    dropped = frame.loc[bad]
    kept = frame.loc[~bad]
    per_col = {col: int(missing[col].sum()) for col in frame.columns if missing[col].any()}
    warnings.warn(
        f"dropna=True dropped {int(bad.sum())} of {len(frame)} rows with missing values "
        f"(per column: {per_col}; {_rows(frame.index, bad)}). They are listed in "
        "Panel.dropped.",
        DroppedRowsWarning,
        stacklevel=3,
    )
    return kept, dropped


def _numeric_columns(spec: Spec) -> list[str]:
    cols = [spec.exposure.name, *spec.mediator_names, spec.outcome.name]
    cols += [c.name for c in spec.confounders if c.kind == "numeric"]
    if spec.columns.wave is not None:
        cols.append(spec.columns.wave)
    return cols


def _check_numeric(frame: pd.DataFrame, spec: Spec) -> None:
    for col in _numeric_columns(spec):
        series = frame[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            values = series.to_numpy(dtype=float)
            inf = ~np.isfinite(values)
            if inf.any():
                raise DataError(
                    f"column '{col}' has {int(inf.sum())} infinite value(s) "
                    f"({_rows(frame.index, inf)}). Expected finite numbers; infinities are "
                    "usually a division by zero upstream: fix or remove those values."
                )
            continue
        coerced = pd.to_numeric(series, errors="coerce")
        bad = coerced.isna()
        example = _plain(series[bad].iloc[0] if bad.any() else series.iloc[0])
        raise DataError(
            f"column '{col}' must be numeric but has dtype {series.dtype} with "
            f"{int(bad.sum())} non-numeric value(s) such as {example!r} "
            f"({_rows(frame.index, bad) if bad.any() else 'numbers stored as text'}). Convert "
            f"it yourself (e.g. pd.to_numeric(df['{col}'])) after fixing those values; "
            "carepaths does not coerce."
        )


def _check_values(frame: pd.DataFrame, spec: Spec) -> None:
    idx = frame.index
    stage_col = spec.columns.stage
    if stage_col is not None:
        labels = frame[stage_col].astype(str)
        bad = ~labels.isin(spec.stages)
        if bad.any():
            unknown = sorted(set(labels[bad]))
            raise DataError(
                f"column '{stage_col}' has stage label(s) {unknown} not in the spec's stages "
                f"{list(spec.stages)} ({_rows(idx, bad)}). Recode them in the data or add them "
                "to 'stages' in the spec."
            )

    binary = []
    if spec.exposure.kind == "binary":
        binary.append((spec.exposure.name, "a binary exposure"))
    binary += [(m.name, "a bernoulli mediator") for m in spec.mediators if m.family == "bernoulli"]
    if spec.outcome.family == "bernoulli":
        binary.append((spec.outcome.name, "a bernoulli outcome"))
    for col, role in binary:
        values = frame[col].to_numpy(dtype=float)
        bad = (values != 0) & (values != 1)
        if bad.any():
            shown = sorted(set(values[bad].tolist()))[:5]
            raise DataError(
                f"column '{col}' is {role} and must hold only 0 and 1, but has values "
                f"{shown} ({_rows(idx, bad)}). Recode it to 0/1 (e.g. "
                f"(df['{col}'] == 'yes').astype(int)) or change its family in the spec."
            )

    if spec.outcome.family == "negative_binomial":
        col = spec.outcome.name
        values = frame[col].to_numpy(dtype=float)
        bad = (values < 0) | (values != np.round(values))
        if bad.any():
            raise DataError(
                f"column '{col}' is a negative-binomial count outcome and must hold "
                f"non-negative integers, but has {sorted(set(values[bad].tolist()))[:5]} "
                f"({_rows(idx, bad)}). Fix those counts, or use family = \"normal\" for a "
                "continuous outcome."
            )

    for m in spec.mediators:
        if m.family != "ordinal":
            continue
        values = frame[m.name].to_numpy(dtype=float)
        bad = ~np.isin(values, np.asarray(m.categories, dtype=float))
        if bad.any():
            raise DataError(
                f"column '{m.name}' is an ordinal mediator with categories "
                f"{list(m.categories)} but has values {sorted(set(values[bad].tolist()))[:5]} "
                f"({_rows(idx, bad)}). Recode them or list every category in the spec's "
                f"'categories'."
            )

    for c in spec.confounders:
        if c.kind != "categorical":
            continue
        labels = frame[c.name].astype(str)
        bad = ~labels.isin(c.levels)
        if bad.any():
            raise DataError(
                f"column '{c.name}' has level(s) {sorted(set(labels[bad]))[:5]} that the spec "
                f"does not list ({_rows(idx, bad)}); declared levels: {list(c.levels)}. Add "
                "them to the confounder's 'levels' or recode the data."
            )
        absent = [lvl for lvl in c.levels if not (labels == lvl).any()]
        if absent:
            raise DataError(
                f"column '{c.name}': categorical level(s) {absent} are declared in the spec but "
                "never occur in the data, so their coefficients cannot be estimated. Remove them "
                "from 'levels' (choose another 'reference' if needed) or merge them upstream."
            )


def _check_design(frame: pd.DataFrame, spec: Spec) -> None:
    idx = frame.index
    cols = spec.columns
    if cols.person is not None and cols.wave is not None:
        dup = frame.duplicated(subset=[cols.person, cols.wave], keep=False)
        if dup.any():
            first = frame.loc[dup, [cols.person, cols.wave]].iloc[0].tolist()
            raise DataError(
                f"duplicate (person, wave) rows in columns '{cols.person}', '{cols.wave}': "
                f"{int(dup.sum())} rows share a pair, e.g. {first} ({_rows(idx, dup)}). The "
                "panel needs one row per person-wave: aggregate or remove the duplicates."
            )
    for col in (spec.exposure.name, *spec.mediator_names):
        if frame[col].nunique() < 2:
            raise DataError(
                f"column '{col}' is constant (every row is {_plain(frame[col].iloc[0])!r}): a constant "
                "exposure or mediator carries no information about its path. Check the column, "
                "or remove it from the spec."
            )
    if cols.person is not None and cols.cluster is not None:
        n_clusters = frame.groupby(cols.person)[cols.cluster].nunique()
        multi = n_clusters[n_clusters > 1]
        if len(multi):
            person = _plain(multi.index[0])
            bad = frame[cols.person] == person
            raise DataError(
                f"person {person!r} (column '{cols.person}') is in more than one cluster of "
                f"column '{cols.cluster}': {sorted(frame.loc[bad, cols.cluster].unique().tolist())} "
                f"({_rows(idx, bad)}); {len(multi)} person(s) in all. Persons must be nested in "
                "clusters: fix the cluster codes or drop the cluster column from the spec."
            )
    if cols.stage is not None:
        counts = frame[cols.stage].astype(str).value_counts()
        small = [s for s in spec.stages if counts.get(s, 0) < 2]
        if small:
            raise DataError(
                f"column '{cols.stage}': stage(s) {small} have fewer than 2 rows "
                f"({ {s: int(counts.get(s, 0)) for s in small} }), too few to estimate "
                "stage-specific paths. Collect more data, or merge or drop the stage in "
                "'stages'."
            )
