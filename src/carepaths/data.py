"""Validating a long-format DataFrame into a :class:`Panel` (xarray), coding and scaling.

One row per person-wave. :meth:`Panel.from_frame` checks the frame against a
:class:`~carepaths.spec.Spec` and refuses anything it would otherwise have to guess:
missing values are never dropped, imputed or coerced unless ``missing=`` says how
(``"drop"``, the same as ``dropna=True``, or ``"model"``), and what was done is reported. Every :class:`~carepaths.exceptions.DataError` names the
column, the first offending rows (by the frame's index), what was expected and how to fix it.
Data the model cannot estimate from are refused with the reason, not turned into NaN or
garbage: a constant or near-constant column, values whose SD overflows, counts beyond what
float64 holds exactly, a variable that varies only between stages, ids of mixed types. After
coding and scaling, every model array is checked to be finite.

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

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.exceptions import DataError, DroppedRowsWarning
from carepaths._messages import MAX_VALUES_SHOWN
from carepaths._messages import plain as _plain
from carepaths._messages import quote as _q
from carepaths._messages import show_rows as _rows
from carepaths._messages import show_values as _values
from carepaths.timeline import check_transitions, previous_rows, transition_counts
from carepaths.spec import FIRST_WAVE, Spec, suggest_closest

__all__ = ["Panel", "Scaling", "MAX_EXACT_COUNT", "NEAR_CONSTANT"]

#: The largest count float64 (the model's arrays) holds exactly: 2**53.
MAX_EXACT_COUNT = 2**53
#: A standardised column's SD must exceed this fraction of its largest absolute value;
#: below it the column is equal within floating-point error and standardising it would
#: turn rounding error into data.
NEAR_CONSTANT = 1e-10


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
    def from_frame(cls, df: pd.DataFrame, spec: Spec, *, dropna: bool = False, missing: str | None = None) -> Panel:
        """Validate a long-format DataFrame (one row per person-wave) into a Panel.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per person-wave, with every column the spec names.
        spec : Spec
            Names the role of each column.
        dropna : bool, default False
            Shorthand for ``missing="drop"``.
        missing : {"refuse", "drop", "model"}, optional
            What to do with missing values (NaN/None) in used columns. ``"refuse"`` (the
            default) raises, naming them. ``"drop"`` drops every row with one and reports
            them with a :class:`~carepaths.exceptions.DroppedRowsWarning` and in
            :attr:`dropped`. ``"model"`` keeps the rows whose outcome, mediators, continuous
            exposure or numeric confounders are missing and models those values under
            missing at random (the outcome's contributes nothing to the likelihood; a normal
            mediator's is a latent value of the model where the row's outcome is observed,
            a bernoulli or ordinal mediator's is summed out of the row's likelihood, which
            needs ``structure.person_intercepts = "sampled"``; a continuous exposure's or
            numeric confounder's is imputed by the model); rows with a missing binary or
            split exposure or categorical confounder are dropped and reported.
            :meth:`missing` records what was done with each column. Identifiers (person, wave, stage, cluster)
            must always be present, and infinite values always raise.

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
        if len(df) == 0:
            what = " (only column names: a file with a header and no data?)" if len(df.columns) else " and no columns"
            raise DataError(
                f"the DataFrame has no rows{what}: "
                "expected one row per person-wave. Check that the data were read from the "
                "right file and that its rows were not all filtered out."
            )
        if df.index.has_duplicates:
            raise DataError(
                "the DataFrame index has duplicate labels, so rows cannot be named in error "
                "messages or reports. Call df.reset_index(drop=True) first."
            )
        mode = _missing_mode(dropna, missing)
        used = _used_columns(spec)
        _check_present(df, used)
        frame = df.loc[:, list(used)].copy()
        _check_not_all_missing(frame)
        _check_identifiers_present(frame, spec)
        _check_types(frame, spec)
        frame, dropped = _handle_missing(frame, spec, mode)
        if len(frame) < 2:
            raise DataError(
                f"the data have {len(frame)} row(s){' left after dropping rows with missing values' if len(dropped) else ''}: "
                "nothing can be estimated from fewer than 2 rows. "
                + ("Impute the missing values instead of dropping those rows." if len(dropped)
                   else "Check that the whole file was read.")
            )
        _check_numeric(frame, spec)
        _check_values(frame, spec)
        _check_design(frame, spec)
        _check_observed(frame, spec)
        previous = None
        if spec.time is not None:  # lags need each row's previous wave (carepaths.timeline)
            previous = previous_rows(frame, spec)
            check_transitions(frame, spec, previous)
            _check_lags_observed(frame, spec)
        panel = cls._build(frame, spec, dropped, previous)
        if previous is not None:
            panel.dataset["previous_obs"] = ("obs", previous)
        panel.dataset.attrs["missing"] = mode
        _check_finite(panel)
        return panel

    @classmethod
    def _build(cls, frame: pd.DataFrame, spec: Spec, dropped: pd.DataFrame,
               previous: np.ndarray | None = None) -> Panel:
        scaling: dict[str, Scaling] = {}

        def standardise(col: str) -> np.ndarray:
            # over the observed values (an outcome or mediator may be missing, missing="model")
            values = frame[col].to_numpy(dtype=float)
            s = Scaling(loc=float(np.nanmean(values)), scale=float(np.nanstd(values, ddof=1)))
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
                codes = frame[m.name].to_numpy(float)  # NaN stays NaN (missing='model')
                M[:, k] = [lookup[int(v)] if v == v else np.nan for v in codes]
        y = spec.outcome
        if y.family == "normal":
            Y = standardise(y.name)
        elif y.family == "bernoulli":
            Y = frame[y.name].to_numpy(float)
        elif frame[y.name].isna().any():  # counts with missing values stay float (NaN marks them)
            Y = frame[y.name].to_numpy(float)
        else:
            Y = frame[y.name].to_numpy(float).astype(np.int64)
        c_cols: list[np.ndarray] = []
        model_values = {spec.outcome.name: np.asarray(Y, dtype=float), x.name: X}  # the lags' sources
        for c in spec.confounders:
            if c.kind == "numeric":
                model_values[c.name] = standardise(c.name)
                c_cols.append(model_values[c.name])
            else:  # treatment coding, then centred so intercepts refer to the average row
                for level in c.levels:
                    if level != c.reference:
                        indicator = (frame[c.name] == level).to_numpy(float)
                        term = f"{c.name}[{level}]"
                        scaling[term] = Scaling(loc=float(indicator.mean()), scale=1.0)
                        c_cols.append(indicator - scaling[term].loc)
        if previous is not None and spec.lag_terms:  # the [time] lag terms, centred like the indicators
            first = previous < 0
            for term in spec.lag_terms:
                if term == FIRST_WAVE:
                    raw = first.astype(float)
                else:
                    name, _, level = term[len("lag("):].partition(")")
                    source = (frame[name] == level[1:-1]).to_numpy(float) if level else model_values[name]
                    raw = np.where(first, 0.0, source[np.maximum(previous, 0)])
                scaling[term] = Scaling(loc=float(raw.mean()), scale=1.0)
                c_cols.append(raw - scaling[term].loc)
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
            # mapped from the labels as text, as they were checked (integer codes 1, 2 match
            # stages "1", "2"); mapping the raw values left such codes NaN, cast to garbage
            data_vars["stage_idx"] = ("obs", frame[cols.stage].astype(str).map(lookup).to_numpy(np.int64))
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

    def path_scale(self, parent: str | Any, child: str | Any, *, times: str | Any = None) -> Any:
        """The one rule between a path on the model scale and on the original scale.

        A coefficient of ``parent`` in the equation of ``child`` is
        ``model = original * sd(parent) / sd(child)`` (:meth:`unit_sd`: per SD of a
        standardised variable, per unit otherwise), so the factor returned converts an
        original-scale path to the model scale and dividing by it converts back. Binary,
        ordinal and count variables keep their link scale (their SD is 1). Arrays of
        names broadcast.

        A product term (an ``[[interactions]]`` term, or a path moderated by a confounder)
        has the product ``parent x times`` for its parent, whose SD is the product of the
        two: ``sd(parent) sd(times) / sd(child)``. A lower-order path of a model with
        product terms is then the path where the product's other variable is 0 on the
        model scale: at its mean for a standardised variable or a category indicator
        (both centred), at 0 for a binary exposure or a binary or ordinal mediator.

        Parameters
        ----------
        parent, child : str or array-like of str
            Variable names (or confounder terms).
        times : str or array-like of str, optional
            The product's second variable.

        Returns
        -------
        float or numpy.ndarray
            ``sd(parent) / sd(child)``, times ``sd(times)`` for a product.
        """
        scale = self.unit_sd(parent) / self.unit_sd(child)
        return scale if times is None else scale * self.unit_sd(times)

    def stage_counts(self) -> pd.Series:
        """Rows per stage, in the spec's stage order."""
        idx = self.dataset["stage_idx"].to_numpy()
        counts = np.bincount(idx, minlength=len(self.spec.stage_levels))
        return pd.Series(counts, index=pd.Index(self.spec.stage_levels, name="stage"), name="rows")

    def summary(self) -> pd.DataFrame:
        """Per stage: rows, persons, exposure mean and outcome mean in original units."""
        stage_col = self.spec.columns.stage
        f = self.frame
        groups = f.groupby(f[stage_col].astype(str), sort=False) if stage_col else f.groupby(np.zeros(len(f)))
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

    def missing(self) -> pd.DataFrame:
        """Missing values of each used column, counted per stage, and how each was handled.

        Counted on the rows given to :meth:`from_frame` (the kept rows and
        :attr:`dropped` together), so a fit file, which keeps both, keeps this record.

        Returns
        -------
        pandas.DataFrame
            One row per stage (the spec's order) and a last row ``"all"``; one column
            per used variable (exposure, mediators, outcome, confounders); missing
            counts. ``attrs["handled"]`` maps each column with missing values to what was
            done with them, ``attrs["rows"]`` holds the rows per stage.
        """
        full = pd.concat([self.frame, self.dropped]) if len(self.dropped) else self.frame
        stage_col = self.spec.columns.stage
        levels = list(self.spec.stage_levels)
        stages = full[stage_col].astype(str) if stage_col else pd.Series(levels[0], index=full.index)
        columns = [self.spec.exposure.name, *self.spec.mediator_names, self.spec.outcome.name,
                   *(c.name for c in self.spec.confounders)]
        counts = full[columns].isna().groupby(stages.to_numpy(), sort=False).sum().reindex(levels, fill_value=0)
        counts.loc["all"] = counts.sum()
        counts.index.name = "stage"
        counts = counts.astype(int)
        rows = stages.value_counts().reindex(levels, fill_value=0)
        counts.attrs["rows"] = {**{str(k): int(v) for k, v in rows.items()}, "all": len(full)}
        mode = self.missing_mode
        modelled = set(modelled_columns(self.spec)) if mode == "model" else set()
        how = {
            self.spec.outcome.name: "modelled: the row's outcome contributes nothing to the likelihood "
                                    "(missing at random)",
            **{m.name: "modelled: a latent value drawn by the model where the row's outcome is observed, "
                       "else left out of the mediator's likelihood (missing at random)"
               for m in self.spec.mediators if m.family == "normal"},
            **{m.name: "modelled: summed over its values in the row's likelihood where the row's outcome is "
                       "observed (each draw's value drawn from its posterior weights downstream), else left "
                       "out of the mediator's likelihood (missing at random)"
               for m in self.spec.mediators if m.family != "normal"},
            **{c: "imputed: a latent value drawn by the model from its stage means and the person's other "
                  "waves, and from the row's mediators and outcome (missing at random)"
               for c in [*imputed_confounders(self.spec), self.spec.exposure.name]},
        }
        dropped_how = ("row dropped (a binary or split exposure, or a categorical confounder, is not imputed)"
                       if mode == "model" else "row dropped (missing='drop')")
        counts.attrs["handled"] = {
            col: how[col] if col in modelled else dropped_how for col in columns if counts.loc["all", col] > 0
        }
        return counts

    # -- time (spec [time]) --------------------------------------------------------------
    def previous_wave(self) -> np.ndarray:
        """Each row's previous wave: its position on ``obs``, -1 at a person's first wave.

        Only for a spec with a ``[time]`` table (waves whole numbers and consecutive within
        each person, checked by :meth:`from_frame`).
        """
        if "previous_obs" not in self.dataset:
            raise DataError(
                "this panel has no time structure: its spec has no [time] table. Declare the lags in "
                "the spec's [time] table (lags = [...]) and rebuild the panel with Panel.from_frame."
            )
        return self.dataset["previous_obs"].values

    def lagged(self, name: str) -> np.ndarray:
        """The previous wave's value of a lagged variable, on the model scale (NaN at first waves).

        Parameters
        ----------
        name : str
            One of the spec's ``time.lags``: the outcome, the exposure, a numeric confounder
            (model scale, as in ``dataset``) or the stage column (the stage code).

        Returns
        -------
        float array (obs,)
        """
        spec = self.spec
        lags = spec.time.lags if spec.time is not None else ()
        if name not in lags:
            raise DataError(
                f"{_q(name)} is not a lag of this panel's spec (time.lags = {_values(lags)}).{suggest_closest(name, lags)} "
                "Add it to the spec's [time] lags."
            )
        ds = self.dataset
        if name == spec.outcome.name:
            values = np.asarray(ds["Y"].values, dtype=float)
        elif name == spec.exposure.name:
            values = np.asarray(ds["X"].values, dtype=float)
        elif name == spec.columns.stage:
            values = ds["stage_idx"].values.astype(float)
        elif name in spec.confounder_terms:
            values = ds["C"].sel(confounder=name).values
        else:
            raise DataError(
                f"lag {_q(name)} is a categorical confounder: its previous wave is several indicator terms "
                f"({_values([t for t in spec.confounder_terms if t.startswith(name + '[')])}); pass one of them."
            )
        previous = self.previous_wave()
        return np.where(previous >= 0, values[np.maximum(previous, 0)], np.nan)

    def transitions(self) -> pd.DataFrame:
        """Moves between stages from one wave to the next: counts, from stage (rows) to stage (columns)."""
        return transition_counts(self.dataset["stage_idx"].values, self.previous_wave(), tuple(self.spec.stage_levels))

    @property
    def missing_mode(self) -> str:
        """How :meth:`from_frame` treated missing values: ``"refuse"``, ``"drop"`` or ``"model"``."""
        return str(self.dataset.attrs.get("missing", "drop" if len(self.dropped) else "refuse"))

    def latent_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """The missing normal mediator values the model draws as latent values.

        A normal mediator's missing value in a row whose outcome is observed (it enters
        the outcome's equation there). Where the outcome is missing too, the value enters
        no likelihood and is left out (under missing at random it carries nothing). A
        binary or ordinal mediator's missing values are summed out instead
        (:func:`carepaths.structural.mixtures.mixture_groups`).

        Returns
        -------
        rows, mediators : int arrays (cell,)
            Row position (on ``obs``) and mediator index of each cell, row by row.
        """
        y_obs, m_obs = self.observed()
        normal = np.array([m.family == "normal" for m in self.spec.mediators])
        rows, mediators = np.nonzero(~m_obs & y_obs[:, None] & normal[None, :])
        return rows.astype(np.int64), mediators.astype(np.int64)

    def latent_confounders(self) -> tuple[np.ndarray, np.ndarray]:
        """The missing confounder values the model imputes (``missing="model"``).

        Returns
        -------
        rows, columns : int arrays (cell,)
            Row position (on ``obs``) and column of ``C`` (``panel.dataset["C"]``) of each
            missing numeric confounder value, row by row.
        """
        rows, columns = np.nonzero(np.isnan(self.dataset["C"].values))
        return rows.astype(np.int64), columns.astype(np.int64)

    def latent_exposure(self) -> np.ndarray:
        """The rows (positions on ``obs``) whose missing exposure the model imputes (``missing="model"``)."""
        return np.flatnonzero(np.isnan(np.asarray(self.dataset["X"].values, dtype=float))).astype(np.int64)

    def observed(self) -> tuple[np.ndarray, np.ndarray]:
        """Which model values are observed: ``(Y observed (obs,), M observed (obs, mediator))``.

        All True unless the panel was built with ``missing="model"``.
        """
        ds = self.dataset
        return ~np.isnan(np.asarray(ds["Y"].values, dtype=float)), ~np.isnan(ds["M"].values)

    def missing_columns(self) -> tuple[pd.DataFrame, str]:
        """The columns of :meth:`missing` with any missing value, and how each was handled, in words.

        Returns
        -------
        table : pandas.DataFrame
            :meth:`missing` restricted to those columns (no columns when nothing is missing).
        handled : str
            ``"column: how; ..."`` (empty when nothing is missing).
        """
        table = self.missing()
        used = [col for col in table.columns if table.loc["all", col] > 0]
        handled = "; ".join(f"{col}: {how}" for col, how in table.attrs["handled"].items())
        return table[used], handled

    def original_units(self, Y: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Outcome and mediator values on the model's scale, in original units.

        Parameters
        ----------
        Y : numpy.ndarray
            (rows, ...): the outcome as :attr:`dataset` holds it.
        M : numpy.ndarray
            (rows, mediators, ...): the mediators as :attr:`dataset` holds them (NaN marks a
            missing value and stays NaN).

        Returns
        -------
        Y, M : numpy.ndarray
            Normal variables through their scaling constants, ordinal codes as their
            categories, binary values and counts as they are.
        """
        spec = self.spec
        if spec.outcome.family == "normal":
            Y = self.scaling[spec.outcome.name].to_original(Y)
        M = np.array(M, dtype=float)
        for k, med in enumerate(spec.mediators):
            if med.family == "normal":
                M[:, k] = self.scaling[med.name].to_original(M[:, k])
            elif med.family == "ordinal":
                codes = M[:, k].copy()
                seen = ~np.isnan(codes)  # missing values (missing="model") stay NaN
                M[:, k] = np.nan
                M[:, k][seen] = np.asarray(med.categories, dtype=float)[codes[seen].astype(int)]
        return Y, M

    def with_model_values(self, M: np.ndarray, Y: np.ndarray) -> Panel:
        """The same panel with new mediator and outcome values given on the model's scale.

        The exposure, confounders, stages, persons and every scaling constant are kept, so
        the new values mean on the model's scale exactly what they were drawn as (the
        simulation-based calibration of :mod:`carepaths.studies` draws them from the model
        itself); :attr:`frame` gets them in original units through the same constants.

        Parameters
        ----------
        M : numpy.ndarray
            (rows, mediators): standardised for a normal mediator, 0/1 for bernoulli,
            0..K-1 codes for ordinal.
        Y : numpy.ndarray
            (rows,): standardised for a normal outcome, 0/1 for bernoulli, counts.

        Returns
        -------
        Panel

        Raises
        ------
        DataError
            For a shape other than the panel's, non-finite values, or a panel whose
            confounders hold lags of the outcome or mediators (they would no longer agree).
        """
        spec = self.spec
        M, Y = np.asarray(M, dtype=float), np.asarray(Y, dtype=float)
        if M.shape != self.dataset["M"].shape or Y.shape != self.dataset["Y"].shape:
            raise DataError(f"with_model_values: expected M {self.dataset['M'].shape} and Y "
                            f"{self.dataset['Y'].shape} (rows, mediators), got {M.shape} and {Y.shape}.")
        if not (np.all(np.isfinite(M)) and np.all(np.isfinite(Y))):
            raise DataError("with_model_values: M and Y must be finite (no missing values).")
        lagged = {spec.outcome.name, *spec.mediator_names}
        if any(term.startswith("lag(") and term[4:].partition(")")[0] in lagged for term in spec.lag_terms):
            raise DataError("with_model_values: the spec's [time] lags the outcome or a mediator, whose lagged "
                            "values would no longer match the new ones.")
        frame = self.frame.copy()
        Y_units, M_units = self.original_units(Y, M)
        for k, name in enumerate(spec.mediator_names):
            frame[name] = M_units[:, k].astype(frame[name].dtype)
        y = spec.outcome
        frame[y.name] = Y_units.astype(frame[y.name].dtype)
        dataset = self.dataset.copy()
        dataset["M"] = (("obs", "mediator"), M)
        dataset["Y"] = ("obs", Y if y.family in ("normal", "bernoulli") else Y.astype(np.int64))
        return Panel(spec, dataset, self.scaling, frame, self.dropped)

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
    """Every used column present, exactly once; a near miss (case, whitespace) is named."""
    have = [str(c) for c in df.columns]
    twice = [c for c in used if int((df.columns == c).sum()) > 1]
    if twice:
        raise DataError(
            f"column(s) {_values(twice)} appear more than once in the DataFrame, so carepaths "
            "cannot tell which one the spec means. Rename or drop the extra copies (e.g. "
            "df = df.loc[:, ~df.columns.duplicated()] if they are identical)."
        )
    missing = [c for c in used if c not in df.columns]
    if missing:
        hints = ""
        for c in missing[:5]:
            spaced = [h for h in have if h.strip() == c]
            if spaced:
                hint = (f" the data have {_q(spaced[0])}, with surrounding whitespace: strip the "
                        "names (df.columns = df.columns.str.strip()).")
            else:
                hint = suggest_closest(c, have) if len(c) <= 120 else ""
            hints += f" For {_q(c)}:{hint or ' no similar column.'}"
        shown = ", ".join(h if len(h) <= 120 and h == h.strip() else _q(h) for h in have[:30])
        more = f", ... ({len(have)} in all)" if len(have) > 30 else ""
        raise DataError(
            f"missing column(s) {_values(missing)}: the spec names them but the DataFrame has no "
            f"such column.{hints} Rename the column in the data or change the spec. "
            f"Columns present: {shown}{more}."
        )


_ROLE = {"person": "the person id", "wave": "the wave", "stage": "the stage", "cluster": "the cluster id"}


def _value_kind(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "booleans"
    if isinstance(value, int | float | np.integer | np.floating):
        return "numbers"
    if isinstance(value, str):
        return "text"
    return f"{type(value).__name__} objects"


def _check_types(frame: pd.DataFrame, spec: Spec) -> None:
    """Id and label columns hold one type of value (numbers or text, not both).

    pandas keeps ``1`` and ``"1"`` apart (two persons) while text conversion merges them,
    and a saved fit stores such a column as one type: either way the rows would silently
    be regrouped, so mixed columns are refused, naming an example of each type.
    """
    cols = spec.columns
    checked = [(getattr(cols, k), f"{_ROLE[k]}, columns.{k}") for k in ("person", "wave", "stage", "cluster")]
    checked += [(c.name, "a categorical confounder") for c in spec.confounders if c.kind == "categorical"]
    for col, role in checked:
        if col is None:
            continue
        series = frame[col]
        if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
            continue
        present = series[series.notna()]
        if pd.api.types.is_object_dtype(series):
            kinds = present.map(_value_kind).astype(object)
        else:  # a string dtype holds text only
            kinds = pd.Series("text", index=present.index, dtype=object)
        found = list(dict.fromkeys(kinds))
        odd = [k for k in found if k not in ("numbers", "text", "booleans")]
        if len(found) > 1 or odd:
            parts = []
            for kind in found:
                mask = (kinds == kind).reindex(series.index, fill_value=False)
                example = _q(present[kinds == kind].iloc[0])
                parts.append(f"{kind} such as {example} ({_rows(frame.index, mask)})")
            alike = ""
            as_text = present.astype(str)
            kinds_per_text = kinds.groupby(as_text.to_numpy()).nunique()
            alike_texts = kinds_per_text[kinds_per_text > 1]
            if len(alike_texts):
                same = present[as_text == alike_texts.index[0]]
                same_kinds = kinds[same.index]
                pair = " and ".join(_q(same[same_kinds == k].iloc[0]) for k in dict.fromkeys(same_kinds))
                alike = (f" {pair} look alike as text but are different values to pandas, so rows "
                         "would be grouped wrongly.")
            what = "mixes " + " and ".join(found) if len(found) > 1 else f"holds {found[0]}"
            raise DataError(
                f"column {_q(col)} ({role}) {what}: {'; '.join(parts)}.{alike} An id or label "
                "column must hold one type (numbers or text), or a fit saved from it could not "
                f"be loaded back. Make it one type upstream, e.g. df[{_q(col)}] = "
                f"df[{_q(col)}].astype(str), after checking that equal-looking values are meant "
                "to be the same."
            )
        if col in (cols.person, cols.cluster) and "text" in found:
            text = present[kinds == "text"].astype(str)
            stripped = text.str.strip()
            twins = stripped[stripped.duplicated(keep=False)]
            for key in dict.fromkeys(twins):
                variants = list(dict.fromkeys(text[stripped == key]))
                if len(variants) > 1:
                    mask = series.isin(variants)
                    raise DataError(
                        f"column {_q(col)} ({role}) has ids that differ only in surrounding "
                        f"whitespace: {_values(variants)} ({_rows(frame.index, mask)}). They "
                        "would count as different units. Strip them upstream: "
                        f"df[{_q(col)}] = df[{_q(col)}].str.strip()."
                    )


def _check_not_all_missing(frame: pd.DataFrame) -> None:
    """A used column with no value at all cannot be modelled, dropped or imputed."""
    empty = [col for col in frame.columns if frame[col].isna().all()]
    if empty:
        named = f"column '{empty[0]}' has" if len(empty) == 1 else f"columns {_values(empty)} have"
        raise DataError(
            f"{named} no values at all: all {len(frame)} rows are missing. "
            "The spec uses them, so the model needs observed values: check that the right file and "
            "column were read (a misspelt header in the source?), or remove the variable from the spec."
        )


def _check_identifiers_present(frame: pd.DataFrame, spec: Spec) -> None:
    """Person, wave, stage and cluster must be known in every row, even with ``dropna=True``."""
    roles = {"person": "person id", "wave": "wave", "stage": "stage", "cluster": "cluster id"}
    for role, what in roles.items():
        col = getattr(spec.columns, role)
        if col is None:
            continue
        gap = frame[col].isna()
        if gap.any():
            why = {
                "person": "without it a row cannot be linked to the person's other waves",
                "wave": "without it the row's place in the person's sequence is unknown",
                "stage": "the stage decides which paths apply to the row",
                "cluster": "without it the row's cluster effect is unknown",
            }[role]
            raise DataError(
                f"column '{col}' (the {what}) is missing in {int(gap.sum())} row(s) ({_rows(frame.index, gap)}): "
                f"{why}, so carepaths neither models nor drops such a row (dropna=True does not apply to "
                f"identifiers). Fill it from the study record, or remove those rows before Panel.from_frame "
                "and report them."
            )


MISSING_MODES = ("refuse", "drop", "model")


def _missing_mode(dropna: Any, missing: Any) -> str:
    """The ``missing=`` mode of :meth:`Panel.from_frame` (``dropna=True`` is ``"drop"``)."""
    if not isinstance(dropna, bool | np.bool_):
        raise DataError(f"dropna must be True or False, got {dropna!r}.")
    if missing is None:
        return "drop" if dropna else "refuse"
    if missing not in MISSING_MODES:
        raise DataError(
            f"missing must be one of {list(MISSING_MODES)}, got {missing!r}: 'refuse' raises on a missing "
            "value, 'drop' drops its row (reported), 'model' models missing outcomes and mediators."
        )
    if dropna and missing != "drop":
        raise DataError(f"dropna=True and missing={missing!r} disagree: pass one of them (dropna=True means 'drop').")
    return str(missing)


def modelled_columns(spec: Spec) -> list[str]:
    """The columns whose missing values ``missing="model"`` keeps and models.

    The outcome, the mediators, a continuous exposure and the numeric confounders (a
    binary exposure or categorical confounder would have to be summed out of every
    equation of its row, the normal mediators' integrated densities included, which is
    not implemented). A bernoulli or ordinal mediator is listed here whatever the spec's
    person intercepts; :func:`_handle_missing` refuses it where they are integrated out.
    """
    exposure = [spec.exposure.name] if imputed_exposure(spec) else []
    return [spec.outcome.name, *spec.mediator_names, *exposure, *imputed_confounders(spec)]


def imputed_exposure(spec: Spec) -> bool:
    """Whether ``missing="model"`` imputes a missing exposure: a continuous one, not split
    within/between persons (a person mean with a latent value in it is not modelled)."""
    return spec.exposure.kind == "continuous" and not spec.structure.center_exposure_within_person


def imputed_confounders(spec: Spec) -> list[str]:
    """The confounders whose missing values ``missing="model"`` imputes: the numeric ones."""
    return [c.name for c in spec.confounders if c.kind == "numeric"]


def _handle_missing(frame: pd.DataFrame, spec: Spec, mode: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    missing = frame.isna()
    if not missing.to_numpy().any():
        return frame, frame.iloc[0:0]
    if mode == "refuse":
        parts = [
            f"'{col}': {int(missing[col].sum())} missing ({_rows(frame.index, missing[col])})"
            for col in frame.columns
            if missing[col].any()
        ]
        raise DataError(
            "missing values (NaN/None) in used columns: " + "; ".join(parts) + ". carepaths "
            "never drops or imputes silently: pass missing='model' to model missing outcomes and "
            "mediators (missing at random; docs/data.md), missing='drop' (or dropna=True) to drop "
            "those rows and get them reported, or impute them upstream (e.g. multiple imputation)."
        )
    if mode == "model":
        for m in spec.mediators:
            if m.family != "normal" and missing[m.name].any() and spec.integrates_person_intercepts:
                raise DataError(
                    f"column {_q(m.name)} (a {m.family} mediator) has {int(missing[m.name].sum())} missing "
                    f"value(s) ({_rows(frame.index, missing[m.name])}): missing='model' sums a missing binary "
                    "or ordinal mediator out of its row's likelihood given the person effects, and with "
                    "structure.person_intercepts = \"integrated\" (the default) the person intercepts are "
                    "integrated out, so a row has no likelihood of its own. Set structure.person_intercepts = "
                    "\"sampled\" in the spec, pass missing='drop' to drop those rows (reported), or impute "
                    "the column upstream."
                )
        droppable = [col for col in frame.columns if col not in modelled_columns(spec)]
        bad = missing[droppable].any(axis=1)
    else:
        bad = missing.any(axis=1)
    if not bad.any():
        return frame, frame.iloc[0:0]
    dropped = frame.loc[bad]
    kept = frame.loc[~bad]
    per_col = {col: int(missing.loc[bad, col].sum()) for col in frame.columns if missing.loc[bad, col].any()}
    why = ("missing='model' does not impute a missing binary or within/between-split exposure or categorical "
           "confounder: dropped"
           if mode == "model" else "dropped")
    warnings.warn(
        f"{why} {int(bad.sum())} of {len(frame)} rows with missing values "
        f"(per column: {per_col}; {_rows(frame.index, bad)}). They are listed in "
        "Panel.dropped and counted in Panel.missing().",
        DroppedRowsWarning,
        stacklevel=3,
    )
    return kept, dropped


def _check_lags_observed(frame: pd.DataFrame, spec: Spec) -> None:
    """A lagged variable's missing value would be a missing term of the next wave: refused."""
    for name in spec.time.lags if spec.time is not None else ():
        gaps = frame[name].isna().to_numpy()
        if gaps.any():
            raise DataError(
                f"column {_q(name)} is lagged (spec key 'time.lags') and has {int(gaps.sum())} missing value(s) "
                f"({_rows(frame.index, gaps)}): its value is a term of the person's next wave, and a missing "
                "lag is not modelled yet. Pass missing='drop' only if those are the persons' last waves "
                "(dropping another wave leaves a gap), remove it from time.lags, or impute it upstream."
            )


def _check_observed(frame: pd.DataFrame, spec: Spec) -> None:
    """With missing values modelled, each stage still needs observed outcomes and mediators."""
    columns = [c for c in modelled_columns(spec) if frame[c].isna().any()]
    if not columns:
        return
    stage_col = spec.columns.stage
    stages = frame[stage_col].astype(str) if stage_col else pd.Series(spec.stage_levels[0], index=frame.index)
    observed = frame[columns].notna().groupby(stages.to_numpy(), sort=False).sum()
    for col in columns:
        for stage in spec.stage_levels:
            n = int(observed[col].get(stage, 0))
            if n < 2:
                raise DataError(
                    f"column {_q(col)} has {n} observed value(s) in stage {_q(stage)} (the rest are "
                    "missing): its paths in that stage cannot be estimated from fewer than 2. Check "
                    "the column, or merge the stage with another."
                )


def _numeric_columns(spec: Spec) -> list[str]:
    cols = [spec.exposure.name, *spec.mediator_names, spec.outcome.name]
    cols += [c.name for c in spec.confounders if c.kind == "numeric"]
    if spec.columns.wave is not None:
        cols.append(spec.columns.wave)
    return cols


def _numeric_role(spec: Spec, col: str) -> str:
    if col == spec.exposure.name:
        return "exposure"
    if col in spec.mediator_names:
        return "mediator"
    if col == spec.outcome.name:
        return "outcome"
    if col == spec.columns.wave:
        return "wave"
    return "confounder"


def _toml_str(text: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


def _labels_fix(spec: Spec, col: str, labels: list[str]) -> str:
    """How to declare or recode a column of text labels, by its role, as one line."""
    role = _numeric_role(spec, col)
    shown = ", ".join(_toml_str(v) for v in labels[:MAX_VALUES_SHOWN])
    if len(labels) > MAX_VALUES_SHOWN:
        shown += f", ... (all {len(labels)} levels)"
    first = labels[0]
    if role == "confounder":
        many = (
            f" With {len(labels)} distinct values this may be an id or free text rather than a "
            "confounder: check the column."
            if len(labels) > 20 else ""
        )
        return (
            f"the spec declares confounder {_q(col)} numeric (the default kind). If it is a "
            "category, declare it categorical with its levels: write [[confounders]] "
            f"name = {_toml_str(col)} kind = \"categorical\" levels = [{shown}] "
            f"reference = {_toml_str(first)} (one key per line; the reference is the level the "
            f"others are compared with).{many} Use pd.to_numeric only for numbers stored as text."
        )
    if role == "exposure":
        return (
            "the exposure must be numbers. Recode it: two labels to 0/1 with kind = \"binary\" "
            f"in [exposure] (e.g. df[{_q(col)}] = (df[{_q(col)}] == {_q(labels[-1])}).astype(int)), "
            "an ordered scale to its scores."
        )
    if role == "mediator":
        return (
            "a mediator must be numbers. Recode it: two labels to 0/1 (family = \"bernoulli\"), "
            "ordered labels to integer codes (family = \"ordinal\" with categories = [1, 2, 3]), "
            f"e.g. df[{_q(col)}] = df[{_q(col)}].map({{{_q(first)}: 1, ...}})."
        )
    if role == "outcome":
        return (
            "the outcome must be numbers. Recode it: two labels to 0/1 (family = \"bernoulli\"), "
            f"e.g. df[{_q(col)}] = (df[{_q(col)}] == {_q(labels[-1])}).astype(int); counts to integers."
        )
    return (
        "the wave must be numbers in time order. Recode the labels, e.g. "
        f"df[{_q(col)}] = df[{_q(col)}].map({{{_q(first)}: 1, ...}})."
    )


def _check_numeric(frame: pd.DataFrame, spec: Spec) -> None:
    for col in _numeric_columns(spec):
        series = frame[col]
        if pd.api.types.is_complex_dtype(series):
            raise DataError(
                f"column {_q(col)} holds complex numbers (dtype {series.dtype}); carepaths needs "
                f"real numbers and does not drop the imaginary part. Convert it yourself, e.g. "
                f"df[{_q(col)}] = df[{_q(col)}].to_numpy().real, if that is what it means."
            )
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            values = series.to_numpy(dtype=float)
            inf = np.isinf(values)  # missing values were dropped or are modelled (missing="model")
            if inf.any():
                raise DataError(
                    f"column {_q(col)} has {int(inf.sum())} infinite value(s) "
                    f"({_rows(frame.index, inf)}). Expected finite numbers; infinities are "
                    "usually a division by zero upstream: fix or remove those values."
                )
            continue
        if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(series):
            raise DataError(
                f"column {_q(col)} must be numeric but holds dates or durations (dtype "
                f"{series.dtype}). Convert them to numbers yourself, e.g. years since baseline: "
                f"(df[{_q(col)}] - df[{_q(col)}].min()).dt.days / 365.25; carepaths does not coerce."
            )
        is_text = series.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        try:
            parsed = pd.to_numeric(series, errors="coerce").notna().to_numpy(dtype=bool)
        except (TypeError, ValueError):  # values pandas cannot even try (lists, dicts)
            parsed = np.zeros(len(series), dtype=bool)
        idx = frame.index
        if not is_text.any():
            bad = ~parsed
            if bad.any():
                raise DataError(
                    f"column {_q(col)} must be numeric but has dtype {series.dtype} with "
                    f"{int(bad.sum())} value(s) that are not numbers, such as "
                    f"{_q(series[bad].iloc[0])} of type {type(series[bad].iloc[0]).__name__} "
                    f"({_rows(idx, bad)}). Fix those values; carepaths does not coerce."
                )
            raise DataError(
                f"column {_q(col)} must be numeric but has dtype {series.dtype} (numbers in a "
                f"column of Python objects, e.g. {_q(series.iloc[0])}). Convert it yourself: "
                f"df[{_q(col)}] = df[{_q(col)}].astype(float); carepaths does not coerce."
            )
        if parsed.all():
            raise DataError(
                f"column {_q(col)} must be numeric but has dtype {series.dtype}: its values are "
                f"numbers stored as text, e.g. {_q(series.iloc[0])}. Convert it yourself with "
                f"df[{_q(col)}] = pd.to_numeric(df[{_q(col)}]); carepaths does not coerce."
            )
        if parsed.mean() >= 0.5:
            bad = ~parsed
            raise DataError(
                f"column {_q(col)} must be numeric but has dtype {series.dtype} with "
                f"{int(bad.sum())} non-numeric value(s) such as {_q(series[bad].iloc[0])} "
                f"({_rows(idx, bad)}). Fix or remove those values, then convert it yourself "
                f"(e.g. pd.to_numeric(df[{_q(col)}])); carepaths does not coerce."
            )
        labels = sorted({str(v) for v in series})
        raise DataError(
            f"column {_q(col)} holds text labels ({_values(labels)}), not numbers: "
            f"{_labels_fix(spec, col, labels)}"
        )


def _label_hint(series: pd.Series, unknown: list[str], declared: tuple[str, ...]) -> str:
    """Why labels did not match: surrounding whitespace, or numbers printed with a decimal."""
    spaced = [u for u in unknown if u != u.strip() and u.strip() in declared]
    if spaced:
        return (f" {_q(spaced[0])} is {_q(spaced[0].strip())} with surrounding whitespace: strip "
                f"the labels (df[{_q(series.name)}] = df[{_q(series.name)}].str.strip()).")
    if pd.api.types.is_float_dtype(series):
        return (f" The column holds floats, which print as e.g. {_q(unknown[0])}: if the labels "
                f"are whole numbers, convert it with df[{_q(series.name)}].astype(int) first.")
    return ""


def _check_values(frame: pd.DataFrame, spec: Spec) -> None:
    idx = frame.index
    stage_col = spec.columns.stage
    if stage_col is not None:
        labels = frame[stage_col].astype(str)
        bad = ~labels.isin(spec.stages)
        if bad.any():
            unknown = sorted(set(labels[bad]))
            raise DataError(
                f"column {_q(stage_col)} has stage label(s) {_values(unknown)} not in the spec's "
                f"stages {_values(spec.stages)} ({_rows(idx, bad)})."
                f"{_label_hint(frame[stage_col], unknown, spec.stages)} "
                "Recode them in the data or add them to 'stages' in the spec."
            )

    binary = []
    if spec.exposure.kind == "binary":
        binary.append((spec.exposure.name, "a binary exposure"))
    binary += [(m.name, "a bernoulli mediator") for m in spec.mediators if m.family == "bernoulli"]
    if spec.outcome.family == "bernoulli":
        binary.append((spec.outcome.name, "a bernoulli outcome"))
    for col, role in binary:
        values = frame[col].to_numpy(dtype=float)
        bad = (values != 0) & (values != 1) & ~np.isnan(values)
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
        bad = ((values < 0) | (values != np.round(values))) & ~np.isnan(values)
        if bad.any():
            raise DataError(
                f"column '{col}' is a negative-binomial count outcome and must hold "
                f"non-negative integers, but has {sorted(set(values[bad].tolist()))[:5]} "
                f"({_rows(idx, bad)}). Fix those counts, or use family = \"normal\" for a "
                "continuous outcome."
            )
        raw = frame[col].to_numpy()
        # compared in the column's own dtype, so an int64 or uint64 count is not rounded first
        huge = raw > MAX_EXACT_COUNT if pd.api.types.is_integer_dtype(frame[col]) else values > MAX_EXACT_COUNT
        if huge.any():
            raise DataError(
                f"column {_q(col)} is a count outcome with count(s) above 2**53 = "
                f"{MAX_EXACT_COUNT:,} (e.g. {_q(raw[huge][0])}, {_rows(idx, huge)}), which the "
                "model's float64 arrays cannot hold exactly (and int64 not at all beyond "
                "2**63). Such a count is almost surely an error or a missing-value code: fix it."
            )

    for m in spec.mediators:
        if m.family != "ordinal":
            continue
        values = frame[m.name].to_numpy(dtype=float)
        bad = ~np.isin(values, np.asarray(m.categories, dtype=float)) & ~np.isnan(values)
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
            unknown = sorted(set(labels[bad]))
            raise DataError(
                f"column {_q(c.name)} has level(s) {_values(unknown[:5])} that the spec "
                f"does not list ({_rows(idx, bad)}); declared levels: {_values(c.levels)}."
                f"{_label_hint(frame[c.name], unknown, c.levels)} Add them to the confounder's "
                "'levels' or recode the data."
            )
        absent = [lvl for lvl in c.levels if not (labels == lvl).any()]
        observed = [lvl for lvl in c.levels if lvl not in absent]
        if len(observed) == 1:
            raise DataError(
                f"column {_q(c.name)}: only level {_q(observed[0])} occurs in the data; declared "
                f"level(s) {_values(absent)} never occur. The confounder is constant here, so it "
                "adjusts for nothing and its coefficients cannot be estimated: remove it from "
                "the spec's confounders (or check the data)."
            )
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
    _check_scales(frame, spec)
    for col in (spec.exposure.name, *spec.mediator_names):
        if frame[col].nunique() < 2:
            raise DataError(
                f"column {_q(col)} is constant (every row is {_q(frame[col].iloc[0])}): a constant "
                "exposure or mediator carries no information about its path. Check the column, "
                "or remove it from the spec."
            )
    if frame[spec.outcome.name].nunique() < 2:
        y = spec.outcome.name
        raise DataError(
            f"column {_q(y)} is constant (the outcome; every row is {_q(frame[y].iloc[0])}): a "
            "constant outcome carries no information about any effect on it. Check the column "
            "(the wrong one, or a filter that kept only one outcome value?)."
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
        _check_within_stages(frame, spec)
    if cols.person is not None:
        _check_within_persons(frame, spec)


def _standardised(spec: Spec) -> list[tuple[str, str]]:
    """(column, role) of every column the panel standardises."""
    out = []
    if spec.exposure.kind == "continuous":
        out.append((spec.exposure.name, "the exposure"))
    out += [(m.name, "a normal mediator") for m in spec.mediators if m.family == "normal"]
    if spec.outcome.family == "normal":
        out.append((spec.outcome.name, "a normal outcome"))
    out += [(c.name, "a numeric confounder") for c in spec.confounders if c.kind == "numeric"]
    return out


_CONSTANT_WHY = {
    "the exposure": "a constant exposure carries no information about its path",
    "a normal mediator": "a constant exposure or mediator carries no information about its path",
    "a normal outcome": "a constant outcome carries no information about any effect on it",
    "a numeric confounder": "a constant confounder adjusts for nothing",
}


def _check_scales(frame: pd.DataFrame, spec: Spec) -> None:
    """Every standardised column has a finite, non-zero SD well above rounding error."""
    idx = frame.index
    for col, role in _standardised(spec):
        values = frame[col].to_numpy(dtype=float)
        values = values[~np.isnan(values)]  # an outcome or mediator may be missing (missing="model")
        col_idx = idx[~frame[col].isna().to_numpy()]
        with np.errstate(over="ignore", invalid="ignore"):
            mean = float(values.mean())
            sd = float(values.std(ddof=1))
        largest = int(np.argmax(np.abs(values)))
        if not (np.isfinite(mean) and np.isfinite(sd)):
            mask = np.zeros(len(values), dtype=bool)
            mask[largest] = True
            raise DataError(
                f"column {_q(col)} ({role}) has values too large to standardise: their SD "
                f"overflows float64 (largest value {values[largest]:.6g}, {_rows(col_idx, mask)}). "
                "Check those values (a code such as 1e300 for 'missing'?) or rescale the "
                f"column, e.g. df[{_q(col)}] / 1e6."
            )
        if sd == 0:
            raise DataError(
                f"column {_q(col)} is constant ({role}; every row is {_q(frame[col].iloc[0])}): "
                f"{_CONSTANT_WHY[role]}, and its standardised values would be NaN (its SD is 0). "
                "Check the column, or remove it from the spec."
            )
        if sd <= NEAR_CONSTANT * abs(values[largest]):
            raise DataError(
                f"column {_q(col)} ({role}) is constant within floating-point error: its SD "
                f"{sd:.3g} is below {NEAR_CONSTANT:g} of its values' size ({abs(values[largest]):.6g}), "
                "so its differences are rounding error and standardising would turn them into "
                f"data. {_CONSTANT_WHY[role].capitalize()}: check the column, or remove it from "
                "the spec."
            )


def _check_within_stages(frame: pd.DataFrame, spec: Spec) -> None:
    """A variable that only changes between stages carries nothing within one."""
    stage_col = spec.columns.stage
    assert stage_col is not None
    x, y = spec.exposure.name, spec.outcome.name
    roles = {x: "the exposure", **{m.name: f"a {m.family} mediator" for m in spec.mediators}, y: "the outcome"}
    groups = frame.groupby(frame[stage_col].astype(str), sort=False)
    distinct = groups[list(roles)].nunique().reindex(list(spec.stages))
    firsts = groups[list(roles)].first().reindex(list(spec.stages))
    for col, role in roles.items():
        if (distinct[col] <= 1).all():
            each = ", ".join(f"{s}: {_q(firsts.loc[s, col])}" for s in spec.stages)
            why = {
                x: "its effects cannot be told apart from the stages' own differences",
                y: "no path into it can be estimated within a stage",
            }.get(col, "its paths cannot be told apart from the stage intercepts"
                  + (" and its residual SD would be 0" if role == "a normal mediator" else ""))
            raise DataError(
                f"column {_q(col)} ({role}) is constant within every stage ({each}): it varies "
                f"only between stages, so {why}. Check the column (a stage-level value copied "
                "to every row?); a variable that changes only with the stage is not a "
                "person-wave variable of this model: remove it from the spec."
            )
    if not spec.structure.stage_specific_paths:
        return
    for col, role in roles.items():
        if col == y:
            continue
        flat = [s for s in spec.stages if distinct.loc[s, col] <= 1]
        if flat:
            raise DataError(
                f"column {_q(col)} ({role}) is constant within stage(s) {_values(flat)} (every row "
                f"of {_q(flat[0])} is {_q(firsts.loc[flat[0], col])}): with stage-specific paths "
                "(structure.stage_specific_paths, the default) its paths in that stage cannot be "
                "estimated. Set stage_specific_paths = false in [structure] to share the paths "
                "across stages, or merge the stage with another (in the data and 'stages')."
            )


def _check_within_persons(frame: pd.DataFrame, spec: Spec) -> None:
    """Person effects need repeated rows; within-person terms need within-person variation."""
    person = spec.columns.person
    assert person is not None
    structure = spec.structure
    sizes = frame.groupby(person, sort=False).size()
    if structure.person_effects != "none" and (sizes == 1).all():
        raise DataError(
            f"column {_q(person)} (the person id): every person has one row, so person effects "
            f"(structure.person_effects = {structure.person_effects!r}) cannot be told apart from "
            "the residual. Set person_effects = \"none\" in [structure] (a cross-sectional "
            "study), or check the person ids."
        )
    needs = []
    if structure.center_exposure_within_person:
        needs.append("center_exposure_within_person = true (the within-person path)")
    if structure.person_effects == "slopes":
        needs.append('person_effects = "slopes" (person-specific paths)')
    if needs:
        x = spec.exposure.name
        if (frame.groupby(person, sort=False)[x].nunique() <= 1).all():
            raise DataError(
                f"column {_q(x)} (the exposure) never varies within a person (column "
                f"{_q(person)}), so {' and '.join(needs)} cannot be estimated. Change that "
                "setting in [structure], or check the data."
            )


def _check_finite(panel: Panel) -> None:
    """The last guard: every model array is finite after coding and scaling."""
    ds = panel.dataset
    spec = panel.spec
    term_of = {t: c.name for c in spec.confounders for t in c.terms}
    single = {"X": spec.exposure.name, "X_within": spec.exposure.name,
              "X_between": spec.exposure.name, "Y": spec.outcome.name}
    for var in ("X", "X_within", "X_between", "M", "Y", "C"):
        if var not in ds:
            continue
        values = np.asarray(ds[var].values, dtype=float)
        # NaN marks a modelled missing outcome, mediator or confounder (missing="model"); nothing else
        modelled = var in ("M", "Y", "C", "X") and ds.attrs.get("missing") == "model"
        bad = np.isinf(values) if modelled else ~np.isfinite(values)
        if not bad.any():
            continue
        if values.ndim == 2:
            j = int(np.flatnonzero(bad.any(axis=0))[0])
            label = str(ds[var][ds[var].dims[1]].values[j])
            column, rows = term_of.get(label, label), bad[:, j]
        else:
            column, rows = single[var], bad
        raise DataError(
            f"column {_q(column)}: after coding and scaling, {int(rows.sum())} of its model "
            f"values ({var}) are not finite ({_rows(ds['row'].to_index(), rows)}). carepaths "
            "refuses them rather than fit NaN or infinity: check the column's values (extreme "
            "magnitudes?), and please report it, since the checks before should have caught it."
        )
