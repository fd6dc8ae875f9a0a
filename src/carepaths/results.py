"""The interface every carepaths result shares, and the ArviZ summaries behind its tables.

Every result object (:class:`~carepaths.Effects`,
:class:`~carepaths.Comparison`, :class:`~carepaths.Checks`) is a
:class:`Result`:

``.summary()``
    The table of the result as a DataFrame indexed by what each row is about (stage,
    effect, intervention, ...), with the package interval (:mod:`carepaths.intervals`);
    its ``attrs`` say the interval and how to read the columns.
``.to_frame()``
    The same numbers as a tidy DataFrame, ready for a paper table: one row per estimate,
    every identifier a column, columns named for the table (``estimate``, ``lower``,
    ``upper``, ...).
``.plot(**kwargs)``
    The result's main figure (:mod:`carepaths.figures`), a matplotlib Figure.
``repr()``
    One line saying what the result is; a result computed from a fit that did not
    converge says ``NOT CONVERGED`` in it.
``.draws``
    The draws everything is computed from (an xarray object whose sample dims are
    :attr:`Result.sample_dims`), with ``.converged`` and ``.warning``.

Summaries go through ``arviz_stats``: :func:`summarize` is ``arviz_stats.summary`` with
the package interval passed explicitly (never ArviZ's own default), and
:func:`diagnose` gives R-hat and bulk and tail ESS. This module sits at the bottom of
the package (it imports only :mod:`carepaths.exceptions` and :mod:`carepaths.intervals`),
so the figures and every result can use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.exceptions import CarepathsError, suggest_closest
from carepaths.intervals import arviz_interval

__all__ = [
    "Result",
    "NOT_CONVERGED",
    "SAMPLE_DIMS",
    "SUMMARY_STATS",
    "HAS_STAGES",
    "has_stages",
    "check_seed",
    "check_choice",
    "format_probability",
    "probability_text",
    "summarize",
    "diagnose",
    "element_label",
    "flatten_variables",
    "stack_variables",
    "summary_table",
    "select_check_rows",
]

#: The banner of every table, repr and figure computed from a fit that did not converge.
NOT_CONVERGED = "NOT CONVERGED"
#: The sample dims of posterior draws.
SAMPLE_DIMS = ("chain", "draw")
#: What :func:`summarize` computes, in order: posterior mean, SD and the package interval.
SUMMARY_STATS = ("mean", "sd", "lower", "upper")
#: The attribute of effect and comparison draws that says whether the spec has stages
#: (1) or not (0). Without stages the draws keep their one-group ``stage`` dim inside, and
#: every table, tidy frame and figure leaves the stage out.
HAS_STAGES = "has_stages"


def has_stages(draws: Any) -> bool:
    """Whether draws come from a spec with stages (:data:`HAS_STAGES`; true when unsaid)."""
    return bool(int(getattr(draws, "attrs", {}).get(HAS_STAGES, 1)))


# ----------------------------------------------------------------------------- argument checks
def check_seed(seed: Any, *, argument: str = "seed") -> None:
    """Refuse a seed that is not a non-negative integer, naming the argument and the fix.

    Raises
    ------
    CarepathsError
        For a bool, a float, a string, None or a negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise CarepathsError(f"{argument} must be an integer >= 0 (e.g. {argument}=1), got {seed!r}.")


def check_choice(value: Any, argument: str, options: Sequence[Any]) -> None:
    """Refuse a value that is not one of ``options``, naming the argument and the closest option.

    Raises
    ------
    CarepathsError
        ``"<argument> must be one of a, b; got 'x'. Did you mean 'a'?"``.
    """
    ok = any(value is o if o is None else (isinstance(value, str) and value == o) for o in options)
    if not ok:
        names = [str(o) if o is None else repr(o) for o in options]
        hint = suggest_closest(value, [o for o in options if isinstance(o, str)]) if isinstance(value, str) else ""
        raise CarepathsError(f"{argument} must be one of {', '.join(names)}; got {value!r}.{hint}")


# ----------------------------------------------------------------------------- probabilities in words
def format_probability(p: float, n_draws: int) -> str:
    """A posterior probability for a sentence: two decimals, or a bound when every draw agrees.

    Parameters
    ----------
    p : float
        The probability (a share of draws).
    n_draws : int
        The number of draws it is a share of.

    Returns
    -------
    str
        ``"= 0.97"``; ``"> 0.999"`` when every one of 1,000 or more draws agrees (``"= 1"``
        would claim certainty the draws cannot give) and ``"< 0.001"`` when none does;
        with fewer draws the bound has two decimals (``"> 0.99"``). Probabilities within
        0.005 of 0 or 1 get three decimals, so none prints as 0.00 or 1.00.
    """
    digits = 3 if n_draws >= 1000 else 2
    bound = math.floor((1.0 - 1.0 / max(n_draws, 1)) * 10**digits) / 10**digits
    if p >= 1.0:
        return f"> {bound:.{digits}f}"
    if p <= 0.0:
        return f"< {1 - bound:.{digits}f}"
    if 0.005 <= p < 0.995:
        return f"= {p:.2f}"
    near = f"{p:.3f}"  # two decimals would print 1.00 or 0.00
    if near == "1.000":
        return "> 0.999"
    if near == "0.000":
        return "< 0.001"
    return f"= {near}"


def probability_text(p: float, n_draws: int, *, digits: int = 3) -> str:
    """A posterior probability for a table cell: never ``1.000`` or ``0.000``.

    ``0.934`` (``digits`` decimals) where that does not round to 0 or 1; otherwise the
    bound of :func:`format_probability` (``"> 0.999"``, ``"< 0.01"``); empty for NaN.
    """
    if p is None or not np.isfinite(p):
        return ""
    text = f"{p:.{digits}f}"
    if float(text) in (0.0, 1.0) or p <= 0.0 or p >= 1.0:
        return format_probability(p, n_draws).removeprefix("= ")
    return text


# ----------------------------------------------------------------------------- ArviZ summaries
def summarize(
    data: xr.Dataset | xr.DataArray, *, sample_dims: Sequence[str] = SAMPLE_DIMS, skipna: bool = False
) -> xr.Dataset:
    """Posterior mean, SD and the package interval of every variable and element.

    ``arviz_stats.summary(kind="stats")`` with ``ci_kind``/``ci_prob`` passed from
    :func:`carepaths.intervals.arviz_interval` (ArviZ's rcParams are not read), unrounded.

    Parameters
    ----------
    data : xarray.Dataset or xarray.DataArray
        Draws, with the ``sample_dims`` and any other dims.
    sample_dims : sequence of str
        The dims to reduce (default ``("chain", "draw")``).
    skipna : bool
        Ignore NaN draws (ArviZ's ``skipna``).

    Returns
    -------
    xarray.Dataset
        Each variable with a leading dim ``summary`` = ``mean``, ``sd``, ``lower``,
        ``upper`` (:data:`SUMMARY_STATS`) and its other dims.
    """
    import arviz_stats as azs

    if isinstance(data, xr.DataArray):
        data = data.to_dataset(name=data.name or "x")
    out = azs.summary(
        data, kind="stats", fmt="xarray", round_to="none", sample_dims=list(sample_dims),
        skipna=skipna, **arviz_interval(),
    )
    return out.assign_coords(summary=list(SUMMARY_STATS))


def diagnose(data: xr.Dataset, *, sample_dims: Sequence[str] = SAMPLE_DIMS) -> xr.Dataset:
    """R-hat and bulk and tail ESS of every variable and element (``arviz_stats``).

    Parameters
    ----------
    data : xarray.Dataset
        Draws with dims ``chain`` and ``draw`` (as ``sample_dims``) and any others.
    sample_dims : sequence of str

    Returns
    -------
    xarray.Dataset
        Each variable with a leading dim ``diagnostic`` = ``r_hat``, ``ess_bulk``,
        ``ess_tail`` (``arviz_stats.rhat`` with its rank-normalised split R-hat, and
        ``arviz_stats.ess``).
    """
    import arviz_stats as azs

    dims = list(sample_dims)
    parts = [
        azs.rhat(data, sample_dims=dims),
        azs.ess(data, sample_dims=dims, method="bulk"),
        azs.ess(data, sample_dims=dims, method="tail"),
    ]
    return xr.concat(parts, dim="diagnostic").assign_coords(diagnostic=["r_hat", "ess_bulk", "ess_tail"])


# ----------------------------------------------------------------------------- tables from draws
def element_label(name: str, values: Sequence[Any] = ()) -> str:
    """The name of one element of a variable: ``"a[encouragement, crisis]"``, or ``name``."""
    return f"{name}[{', '.join(str(v) for v in values)}]" if len(values) else name


def flatten_variables(
    data: xr.Dataset, *, keep: Sequence[str] = (), sample_dims: Sequence[str] = SAMPLE_DIMS
) -> xr.Dataset:
    """One variable per element of every dim that is neither a sample dim nor kept.

    ``IIE`` (chain, draw, stage, mechanism) with ``keep=("stage",)`` becomes
    ``IIE[encouragement]``, ``IIE[discouragement]``, ... (chain, draw, stage), in place of
    ``IIE`` and in the order of the mechanism coordinate; other variables keep their place.
    """
    out: dict[str, xr.DataArray] = {}
    fixed = {*sample_dims, *keep}
    for name, var in data.data_vars.items():
        split = [d for d in var.dims if d not in fixed]
        if not split:
            out[str(name)] = var
            continue
        stacked = var.stack(_element=split)
        for i in range(stacked.sizes["_element"]):
            index = stacked["_element"].values[i]
            values = index if isinstance(index, tuple) else (index,)
            out[element_label(str(name), values)] = stacked.isel(_element=i, drop=True)
    return xr.Dataset(out)


def stack_variables(
    data: xr.Dataset, *, by: Sequence[str], name: str, column: str | None = None
) -> pd.DataFrame:
    """A Dataset whose variables share dims ``by`` (and ``column``) as a long table.

    Parameters
    ----------
    data : xarray.Dataset
        Every variable has exactly the dims ``by`` (plus ``column`` when given).
    by : sequence of str
        The dims that become the outer index levels, in order.
    name : str
        The index level naming the variable.
    column : str, optional
        A dim whose coordinate becomes the columns; without it the one column is ``value``.

    Returns
    -------
    pandas.DataFrame
        Index ``(*by, name)`` in ``by``-major order (for each combination of ``by``, every
        variable in the Dataset's order).
    """
    array = data.to_dataarray(dim=name)
    order = [*by, name, *([column] if column else [])]
    array = array.transpose(*order)
    levels = [[str(v) for v in array[d].values] for d in (*by, name)]
    index = pd.MultiIndex.from_product(levels, names=[*by, name]) if by else pd.Index(levels[0], name=name)
    columns = [str(v) for v in array[column].values] if column else ["value"]
    return pd.DataFrame(array.values.reshape(len(index), len(columns)), index=index, columns=columns)


def summary_table(
    data: xr.Dataset, *, by: Sequence[str], name: str, null: float | None = None,
    sample_dims: Sequence[str] = SAMPLE_DIMS,
) -> pd.DataFrame:
    """Mean, SD and the package interval per variable and element of ``by`` (and P(> null)).

    Parameters
    ----------
    data : xarray.Dataset
        Draws; every variable has the dims ``sample_dims`` and ``by`` (split others first
        with :func:`flatten_variables`).
    by, name
        As in :func:`stack_variables`.
    null : float, optional
        With a null, a last column ``P(>null)`` (e.g. ``P(>0)``): the share of draws above it.
    sample_dims : sequence of str

    Returns
    -------
    pandas.DataFrame
        Index ``(*by, name)``; columns ``mean``, ``sd``, ``lower``, ``upper`` (and
        ``P(>null)``).
    """
    table = stack_variables(summarize(data, sample_dims=sample_dims), by=by, name=name, column="summary")
    if null is not None:
        above = (data > null).mean(dim=list(sample_dims))
        table[f"P(>{null:g})"] = stack_variables(above, by=by, name=name)["value"].to_numpy()
    return table


# ----------------------------------------------------------------------------- selecting check rows
def select_check_rows(
    table: pd.DataFrame, *, variable: str | None = None, statistics: Sequence[str] | None = None,
    stages: Sequence[str] | None = None, wave: str = "all",
) -> pd.DataFrame:
    """Rows of a predictive-check table for one variable and some statistics and stages.

    Parameters
    ----------
    table : pandas.DataFrame
        ``Checks.table()``: index ``(variable, statistic, stage, wave)`` (a missing
        ``stage`` or ``wave`` level, as a spec without stages or waves has, reads
        ``"all"``); ``attrs["outcome"]`` names the default variable.
    variable : str, optional
        Outcome or mediator name; default the outcome.
    statistics : sequence of str, optional
        Default every statistic the variable has, in the table's order.
    stages : sequence of str, optional
        Default every stage (and ``"all"``).
    wave : str
        ``"all"`` (per-stage statistics) or one wave label.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable``, ``statistic``, ``stage``, ``wave`` and the table's columns,
        ordered by the requested statistics, then stages.

    Raises
    ------
    CarepathsError
        Naming the unknown variable, statistic or stage and the valid ones.
    """
    levels = ["variable", "statistic", "stage", "wave"]
    if (
        not isinstance(table, pd.DataFrame) or not {"variable", "statistic"} <= set(table.index.names)
        or not set(table.index.names) <= set(levels)
    ):
        raise CarepathsError(
            "table must be a predictive-check table (checks.table() of fit.check() or "
            f"model.prior_check(seed=...)), got {type(table).__name__}."
        )
    if list(table.index.names) != levels:  # a level every row reads "all" in was left out
        frame = table.reset_index()
        for level in ("stage", "wave"):
            if level not in frame.columns:
                frame[level] = "all"
        attrs = dict(table.attrs)
        table = frame.set_index(levels)
        table.attrs = attrs
    variables = list(dict.fromkeys(table.index.get_level_values("variable")))
    variable = table.attrs.get("outcome", variables[0]) if variable is None else variable
    if variable not in variables:
        raise CarepathsError(
            f"no variable {variable!r} in these checks.{suggest_closest(str(variable), variables)} "
            f"Variables: {', '.join(variables)}."
        )
    sub = table.xs(variable, level="variable")
    sub = sub[sub.index.get_level_values("wave") == wave]
    have = list(dict.fromkeys(sub.index.get_level_values("statistic")))
    wanted = have if statistics is None else list(statistics)
    for s in wanted:
        if s not in have:
            raise CarepathsError(
                f"no statistic {s!r} for {variable!r}.{suggest_closest(str(s), have)} "
                f"Statistics of {variable!r}: {', '.join(have)}."
            )
    levels = list(dict.fromkeys(sub.index.get_level_values("stage")))
    wanted_stages = levels if stages is None else list(stages)
    for s in wanted_stages:
        if s not in levels:
            raise CarepathsError(
                f"no stage {s!r} in these checks.{suggest_closest(str(s), levels)} Stages: {', '.join(levels)}."
            )
    keep = sub.index.get_level_values("statistic").isin(wanted) & sub.index.get_level_values("stage").isin(wanted_stages)
    sub = sub[keep].reset_index()
    sub.insert(0, "variable", variable)
    order = {s: i for i, s in enumerate(wanted)}
    stage_order = {s: i for i, s in enumerate(wanted_stages)}
    sub = sub.sort_values(by=["statistic", "stage"], key=lambda c: c.map(order if c.name == "statistic" else stage_order))
    return sub.reset_index(drop=True)


# ----------------------------------------------------------------------------- the shared base
class Result:
    """The interface every carepaths result shares (see the module docstring).

    A subclass (a frozen dataclass declared with ``repr=False``, so this repr is kept)
    has the attributes ``draws``, ``converged`` and ``warning`` and implements
    :meth:`summary`, :meth:`plot` and :meth:`_describe`; it names its tidy columns in
    :attr:`frame_columns`.
    """

    #: The dims of :attr:`draws` that index draws (reduced by every summary).
    sample_dims: ClassVar[tuple[str, ...]] = SAMPLE_DIMS
    #: Column renames from :meth:`summary` to :meth:`to_frame` (e.g. ``mean`` -> ``estimate``).
    frame_columns: ClassVar[dict[str, str]] = {}

    draws: Any
    converged: bool
    warning: str

    def summary(self) -> pd.DataFrame:
        """The result's table (see the subclass)."""
        raise NotImplementedError

    def to_frame(self) -> pd.DataFrame:
        """The summary as a tidy table: one row per estimate, identifiers as columns.

        Returns
        -------
        pandas.DataFrame
            The index levels of :meth:`summary` as leading columns, then its columns
            renamed for a paper table (:attr:`frame_columns`), on a plain ``RangeIndex``;
            ``attrs`` as in :meth:`summary` (the interval among them).
        """
        table = self.summary()
        frame = table.reset_index().rename(columns=self.frame_columns)
        frame.attrs = dict(table.attrs)
        return frame

    def plot(self, **kwargs: Any) -> Any:
        """The result's main figure (see the subclass); returns a matplotlib Figure."""
        raise NotImplementedError

    @property
    def n_samples(self) -> int:
        """The number of draws (the product of the sizes of :attr:`sample_dims`)."""
        return int(np.prod([self.draws.sizes[d] for d in self.sample_dims]))

    def _describe(self) -> str:
        return f"{self.n_samples} draws"

    def __repr__(self) -> str:
        banner = "" if self.converged else f" -- {NOT_CONVERGED}: numbers unreliable"
        return f"<{type(self).__name__} {self._describe()}{banner}>"
