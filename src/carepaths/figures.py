"""Every figure of carepaths.

Conventions, for every figure here: all arguments are keyword-only; the function returns
the :class:`matplotlib.figure.Figure` it drew (it never shows or saves it; where ArviZ-plots
draws it, the figure of ArviZ's ``PlotCollection``); it takes data (Datasets, DataTrees,
DataFrames, a networkx graph), never a result object, so every result can call it from
its ``.plot()``; and each has a *data twin*, ``<name>_data`` with the same arguments,
that returns the numbers the figure draws, so tests and reports can check them without
reading pixels. Intervals are the package's one definition (:mod:`carepaths.intervals`),
passed to ArviZ explicitly. Draws of a spec without stages (their ``has_stages``
attribute is 0, :data:`carepaths.results.HAS_STAGES`) are drawn and tabled without a
stage: no row, label or index level names the one group they have.

Drawn by ArviZ-plots (``arviz_plots``):

* :func:`plot_effects_forest` — the effect decomposition (TE, NDE, NIE, each mechanism's
  interventional indirect effect, the interdependence remainder) by stage, as a forest
  plot (``plot_forest``), optionally with known true effects
  (:meth:`carepaths.Effects.plot`);
* :func:`plot_comparison` — each intervention's change against the status quo by stage,
  as a forest plot (``plot_forest``; :meth:`carepaths.Comparison.plot`);
* :func:`plot_ppc_dist` — replicated vs observed distributions of each variable by stage
  (``plot_ppc_dist``; :meth:`carepaths.Checks.plot_ppc`);
* :func:`plot_loo_pit` — the LOO-PIT ECDF of the outcome (``plot_loo_pit``;
  :meth:`carepaths.Checks.plot_loo_pit`).

carepaths' own matplotlib, where ArviZ-plots has no such figure:

* :func:`plot_causal_graph` — the causal graph of a spec (ArviZ draws no graphs);
* :func:`plot_sensitivity` — each effect against the mediator-outcome error correlation
  ``rho``, one panel per effect and stage, with its interval and the points where the
  mean and the interval reach 0 (:meth:`carepaths.Sensitivity.plot`); ArviZ has no figure
  of a summary against a sensitivity parameter;
* :func:`plot_stage_checks` — one panel per check statistic and stage: the replicated
  statistic's histogram, its interval, the observed value and the predictive p-value,
  red when flagged (:meth:`carepaths.Checks.plot`). ArviZ's ``plot_ppc_tstat`` computes
  one reduction over all observations of a variable; these statistics are computed per
  stage and wave and from several columns at once (the exposure slope within a stage,
  the SD of person means), and the panel shows the p-value and flag of the check table.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.exceptions import CarepathsError, suggest_closest
from carepaths.intervals import INTERVAL_PROB, arviz_interval, interval_bounds, interval_label
from carepaths.results import (
    NOT_CONVERGED,
    flatten_variables,
    has_stages,
    select_check_rows,
    stack_variables,
    summarize,
)

__all__ = [
    "ROLE_COLOURS",
    "EFFECT_ORDER",
    "plot_causal_graph",
    "plot_components_forest",
    "plot_stage_checks",
    "stage_checks_data",
    "plot_ppc_dist",
    "ppc_dist_data",
    "plot_loo_pit",
    "loo_pit_data",
    "plot_effects_forest",
    "effects_forest_data",
    "plot_comparison",
    "comparison_data",
    "plot_sensitivity",
    "sensitivity_data",
    "plot_trajectories",
    "trajectories_data",
]


#: Fill colour of each node role of a causal graph (plots and DOT text alike).
ROLE_COLOURS = {
    "exposure": "#9ecae1",
    "mediator": "#c7e9c0",
    "outcome": "#fdae6b",
    "confounder": "#d9d9d9",
    "stage": "#dadaeb",
    "other": "#ffffff",
    "latent": "#ffffff",
}

#: The effect variables of effect draws, in table and figure order (``IIE`` is split by
#: mechanism into ``IIE[<mechanism>]``).
EFFECT_ORDER = ("TE", "NDE", "NIE", "NDE (treated)", "NIE (control)", "IIE", "interdependence")

#: The ArviZ group holding the pointwise LOO results that :func:`loo_pit_data` reads.
LOO_POINTWISE = "loo_pointwise"


# ----------------------------------------------------------------------------- causal graph
def plot_causal_graph(*, dag: Any, layout: Any, title: str = "", ax: Any = None) -> Any:
    """Draw a causal graph with matplotlib (``CausalGraph.plot`` calls this).

    Parameters
    ----------
    dag : networkx.DiGraph
        Nodes with a ``role`` attribute (a key of :data:`ROLE_COLOURS`); edges with a
        ``kind`` attribute (``"latent"`` and ``"graph"`` edges are dashed).
    layout : dict of str to (float, float)
        The position of every node (``CausalGraph.layout()``).
    title : str
        The axes title.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; by default a new figure (not registered with pyplot, so a
        notebook shows it once, as the returned value).

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the drawing. Each node is one text artist whose ``gid`` is
        the node name.

    Raises
    ------
    TypeError
        If ``ax`` is given and is not a matplotlib Axes.
    """
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    if ax is None:
        fig = Figure(figsize=(9, 5.5), layout="constrained")
        ax = fig.add_subplot()
    elif not isinstance(ax, Axes):
        raise TypeError(
            f"plot(ax=...) needs a matplotlib Axes, got {type(ax).__name__}; pass e.g. "
            "fig.add_subplot(), or leave ax out for a new figure."
        )
    fig = ax.get_figure(root=True)
    pos = layout
    for a, b, attrs in dag.edges(data=True):
        dashed = attrs["kind"] in ("latent", "graph")
        ax.annotate(
            "",
            xy=pos[b],
            xytext=pos[a],
            arrowprops={
                "arrowstyle": "-|>",
                "color": "0.45" if dashed else "0.25",
                "linestyle": "--" if dashed else "-",
                "shrinkA": 14,
                "shrinkB": 14,
                "lw": 0.9,
            },
        )
    for node, attrs in dag.nodes(data=True):
        role = attrs["role"]
        ax.text(
            *pos[node],
            "U" if role == "latent" else node,
            ha="center",
            va="center",
            fontsize=9,
            gid=node,
            bbox={
                "boxstyle": "circle" if role == "latent" else "round,pad=0.3",
                "fc": ROLE_COLOURS[role],
                "ec": "0.3",
                "ls": "--" if role in ("latent", "other") else "-",
            },
        )
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_axis_off()
    present = [r for r in ROLE_COLOURS if any(d["role"] == r for _, d in dag.nodes(data=True))]
    ax.legend(
        handles=[Patch(fc=ROLE_COLOURS[r], ec="0.3", label=r) for r in present],
        loc="lower left",
        fontsize=8,
        frameon=False,
    )
    ax.set_title(title)
    return fig


# ----------------------------------------------------------------------------- per-stage panels
def _check_inputs(table: Any, draws: Any) -> None:
    if not isinstance(draws, xr.DataArray) or not {"variable", "statistic", "stage", "wave"} <= set(draws.coords):
        raise CarepathsError(
            "draws must be the replicated statistics of a predictive check (checks.draws: a "
            f"DataArray with dims check and sample), got {type(draws).__name__}."
        )


def _statistic_draws(draws: xr.DataArray, row: Any) -> np.ndarray:
    mask = (
        (draws["variable"].values == row.variable) & (draws["statistic"].values == row.statistic)
        & (draws["stage"].values == row.stage) & (draws["wave"].values == row.wave)
    )
    return draws.values[np.flatnonzero(mask)[0]]


def stage_checks_data(
    *,
    table: pd.DataFrame,
    draws: xr.DataArray,
    variable: str | None = None,
    statistics: Sequence[str] | None = None,
    stages: Sequence[str] | None = None,
    bins: int = 30,
) -> pd.DataFrame:
    """The numbers :func:`plot_stage_checks` draws: one row per panel.

    Parameters
    ----------
    table : pandas.DataFrame
        The check table, ``checks.table()``.
    draws : xarray.DataArray
        The replicated statistics, ``checks.draws``.
    variable : str, optional
        Outcome (default) or a mediator.
    statistics : sequence of str, optional
        Which statistics (rows of panels); default every per-stage statistic the
        variable has.
    stages : sequence of str, optional
        Which stages (columns of panels); default every stage and ``"all"``.
    bins : int
        Histogram bins of the replicated statistic.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable``, ``statistic``, ``stage``, ``observed``, ``mean``,
        ``lower``, ``upper``, ``p_value``, ``flag`` (the rows of ``checks.table()``),
        and ``counts`` / ``edges`` (the histogram of the replicated values, arrays).
        ``attrs``: ``kind`` and ``interval``.

    Raises
    ------
    CarepathsError
        On an unknown variable, statistic or stage, bad ``bins``, or inputs that are not
        a check table and its draws.
    """
    _check_inputs(table, draws)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise CarepathsError(f"bins must be a positive integer, got {bins!r}.")
    rows = select_check_rows(table, variable=variable, statistics=statistics, stages=stages)
    counts, edges = [], []
    for row in rows.itertuples():
        values = _statistic_draws(draws, row)
        values = values[np.isfinite(values)]
        c, e = np.histogram(values, bins=bins) if values.size else (np.zeros(bins, int), np.linspace(0, 1, bins + 1))
        counts.append(c)
        edges.append(e)
    rows = rows.drop(columns="wave")
    rows["counts"] = counts
    rows["edges"] = edges
    rows.attrs.update(kind=table.attrs.get("kind", ""), interval=interval_label())
    return rows


def plot_stage_checks(
    *,
    table: pd.DataFrame,
    draws: xr.DataArray,
    variable: str | None = None,
    statistics: Sequence[str] | None = None,
    stages: Sequence[str] | None = None,
    bins: int = 30,
) -> Any:
    """Observed statistic against its predictive distribution, one panel per stage.

    carepaths' own matplotlib (ArviZ's ``plot_ppc_tstat`` reduces all observations of a
    variable at once; these statistics are per stage and wave, and the panels show the
    check table's p-values and flags). Rows of panels are statistics, columns are
    stages. Each panel shows the histogram of the replicated statistic, its interval
    (shaded), the observed value (vertical line) and the predictive p-value; a flagged
    check has a red line and title.

    Parameters
    ----------
    table, draws, variable, statistics, stages, bins
        As in :func:`stage_checks_data`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    data = stage_checks_data(table=table, draws=draws, variable=variable, statistics=statistics,
                             stages=stages, bins=bins)
    stats = list(dict.fromkeys(data["statistic"]))
    stage_cols = list(dict.fromkeys(data["stage"]))
    fig, axes = plt.subplots(
        len(stats), len(stage_cols), figsize=(2.8 * len(stage_cols), 2.2 * len(stats)),
        squeeze=False, layout="constrained",
    )
    used = np.zeros(axes.shape, dtype=bool)
    for row in data.itertuples():
        i, j = stats.index(row.statistic), stage_cols.index(row.stage)
        ax = axes[i, j]
        if not used[i].any():
            ax.set_ylabel(row.statistic)
        used[i, j] = True
        ax.stairs(row.counts, row.edges, fill=True, color="C0", alpha=0.5)
        ax.axvspan(row.lower, row.upper, color="C0", alpha=0.12, lw=0)
        color = "C3" if row.flag else "black"
        ax.axvline(row.observed, color=color, lw=2)
        where = "" if stage_cols == ["all"] else f"{row.stage}: "  # no stage to name without stages
        ax.set_title(f"{where}p = {row.p_value:.3f}", fontsize=9, color=color)
        ax.set_yticks([])
    for ax in axes[~used]:  # a statistic without that stage (e.g. between_person: "all" only)
        ax.set_visible(False)
    by_stage = "" if stage_cols == ["all"] else " by stage"
    fig.suptitle(
        f"{data['variable'].iloc[0]}: {data.attrs['kind']} predictive checks{by_stage} "
        f"(shaded: {interval_label()}; line: observed)", fontsize=10,
    )
    return fig


# ----------------------------------------------------------------------------- distributions
def _predictive_group(replicated: Any) -> str:
    if not isinstance(replicated, xr.DataTree) or "observed_data" not in replicated.children:
        raise CarepathsError(
            "replicated must be the replicated data of a predictive check (checks.replicated: a "
            f"DataTree with a posterior_predictive or prior_predictive group), got {type(replicated).__name__}."
        )
    for group in ("posterior_predictive", "prior_predictive"):
        if group in replicated.children:
            return group
    raise CarepathsError("replicated has no posterior_predictive or prior_predictive group.")


def _ppc_variables(replicated: xr.DataTree, variables: Sequence[str] | None) -> list[str]:
    observed = replicated["observed_data"].to_dataset()
    names = [str(v) for v in observed.data_vars]
    if variables is None:
        chosen = [v for v in names if not np.isin(observed[v].values, (0.0, 1.0)).all()]
        if not chosen:
            raise CarepathsError(
                "every variable is binary, and a density of 0/1 values says nothing: use "
                "plot_stage_checks (rates by stage) instead, or name variables=[...]."
            )
        return chosen
    for v in variables:
        if v not in names:
            raise CarepathsError(f"no variable {v!r}.{suggest_closest(str(v), names)} Variables: {', '.join(names)}.")
    return list(variables)


def _stage_order(replicated: xr.DataTree) -> list[str]:
    """The stages in the spec's order (the tree's ``stages`` attribute), else as they appear."""
    stages = replicated.attrs.get("stages")
    if stages is None:
        stages = dict.fromkeys(replicated["observed_data"].to_dataset()["stage"].values.tolist())
    return [str(s) for s in stages]


def _ppc_tree(replicated: xr.DataTree, variables: list[str]) -> tuple[xr.DataTree, int]:
    """The replicated data relabelled so that ArviZ facets by stage, in stage order."""
    group = _predictive_group(replicated)
    predictive = replicated[group].to_dataset()[variables]
    observed = replicated["observed_data"].to_dataset()[variables]
    stages = _stage_order(replicated)
    if stages == ["all"]:  # a spec without stages: no stage to name
        labels = np.full(predictive.sizes["obs"], "all rows")
    else:
        labels = np.array([f"{stages.index(s) + 1}: {s}" for s in predictive["stage"].values])
    drop = [c for c in ("stage", "person") if c in predictive.coords]
    predictive = predictive.drop_vars(drop).assign_coords(obs=labels)
    observed = observed.drop_vars(drop).assign_coords(obs=labels)
    return xr.DataTree.from_dict({group: predictive, "observed_data": observed}), len(stages)


def ppc_dist_data(*, replicated: xr.DataTree, variables: Sequence[str] | None = None) -> pd.DataFrame:
    """The data :func:`plot_ppc_dist` hands to ArviZ, summarised per variable and stage.

    Parameters
    ----------
    replicated : xarray.DataTree
        The replicated data of a predictive check, ``checks.replicated``.
    variables : sequence of str, optional
        Default every non-binary variable (mediators, and the outcome unless binary).

    Returns
    -------
    pandas.DataFrame
        One row per variable and stage: ``n_obs``, ``observed_mean`` (mean of the
        observed values plotted), ``predictive_mean`` (mean over all replicated values
        of the stage's rows; the plot overlays a random subset of draws), equal to the
        ``observed`` and ``mean`` of the ``mean`` statistic in ``checks.table()``.
    """
    group = _predictive_group(replicated)
    chosen = _ppc_variables(replicated, variables)
    predictive = replicated[group].to_dataset()
    observed = replicated["observed_data"].to_dataset()
    stage_of_row = observed["stage"].values
    rows = []
    for v in chosen:
        for stage in _stage_order(replicated):
            mask = stage_of_row == stage if stage != "all" else np.ones(len(stage_of_row), bool)
            rows.append((v, stage, int(mask.sum()), float(observed[v].values[mask].mean()),
                         float(predictive[v].values[..., mask].mean())))
    return pd.DataFrame(rows, columns=["variable", "stage", "n_obs", "observed_mean", "predictive_mean"])


def plot_ppc_dist(
    *,
    replicated: xr.DataTree,
    variables: Sequence[str] | None = None,
    kind: str = "kde",
    num_samples: int = 50,
) -> Any:
    """Replicated against observed distributions of each variable, one panel per stage.

    Drawn by ArviZ-plots' ``plot_ppc_dist``: ``num_samples`` replicated data sets
    (thin lines) and the observed data (thick line), for the rows of each stage.

    Parameters
    ----------
    replicated : xarray.DataTree
        ``checks.replicated``.
    variables : sequence of str, optional
        As in :func:`ppc_dist_data`.
    kind : {"kde", "ecdf", "hist"}
        Representation of each distribution (use ``"ecdf"`` for ordinal or count data).
    num_samples : int
        Replicated data sets overlaid.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ArviZ's PlotCollection.
    """
    import arviz_plots as azp

    group = _predictive_group(replicated)
    if kind not in ("kde", "ecdf", "hist"):
        raise CarepathsError(f"kind must be 'kde', 'ecdf' or 'hist', got {kind!r}.")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise CarepathsError(f"num_samples must be a positive integer, got {num_samples!r}.")
    chosen = _ppc_variables(replicated, variables)
    tree, n_stages = _ppc_tree(replicated, chosen)
    sizes = replicated[group].sizes
    n_samples = int(sizes["chain"] * sizes["draw"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ArviZ's discrete/binary advice
        pc = azp.plot_ppc_dist(
            tree, group=group, backend="matplotlib", kind=kind,
            num_samples=min(num_samples, n_samples), cols=["__variable__", "obs"], col_wrap=n_stages,
            figure_kwargs={"layout": "constrained", "figsize": (3.2 * n_stages, 2.4 * len(chosen))},
        )
    return pc.viz["figure"].item()


# ----------------------------------------------------------------------------- LOO-PIT
def _loo_outcome(loo_data: Any) -> str:
    if not isinstance(loo_data, xr.DataTree) or LOO_POINTWISE not in loo_data.children:
        raise CarepathsError(
            "a prior check has no LOO-PIT: run fit.check(seed=...) on a fitted model and pass "
            "its checks.loo_data."
        )
    return str(next(iter(loo_data["observed_data"].to_dataset().data_vars)))


def loo_pit_data(*, loo_data: xr.DataTree) -> pd.DataFrame:
    """The LOO-PIT values :func:`plot_loo_pit` draws the ECDF of, with each row's Pareto k.

    Parameters
    ----------
    loo_data : xarray.DataTree
        ``checks.loo_data`` of a posterior check: what LOO was computed from, with the
        group ``loo_pointwise`` (LOO-PIT and Pareto k of every row, and its stage).

    Returns
    -------
    pandas.DataFrame
        One row per person-wave: ``stage``, ``loo_pit`` (in [0, 1]; uniform for a
        calibrated model; randomised within the step of a discrete outcome) and
        ``pareto_k`` (of the row, or of its person when LOO leaves out persons:
        ``attrs["loo"]``).

    Raises
    ------
    CarepathsError
        For a prior check (no posterior, no LOO).
    """
    _loo_outcome(loo_data)
    pointwise = loo_data[LOO_POINTWISE].to_dataset()
    data = pd.DataFrame({
        "stage": pointwise["stage"].values,
        "loo_pit": np.asarray(pointwise["loo_pit"].values, dtype=float),
        "pareto_k": np.asarray(pointwise["pareto_k"].values, dtype=float),
    })
    data.attrs["loo"] = str(loo_data[LOO_POINTWISE].attrs.get("loo", "row"))
    return data


def plot_loo_pit(*, loo_data: xr.DataTree, coverage: bool = False) -> Any:
    """ECDF of the outcome's LOO-PIT values against uniformity (ArviZ-plots ``plot_ecdf_pit``).

    The values drawn are those of :func:`loo_pit_data` (the check's own: leave-one-person-
    or row-out weights, and randomised within the step of a discrete outcome, so a
    calibrated binary or count model stays inside the envelope), handed to ArviZ-plots'
    ``plot_ecdf_pit`` as ``plot_loo_pit`` does after computing its own. A row without a
    finite value (its unit's PSIS weights failed) is left out.

    Parameters
    ----------
    loo_data : xarray.DataTree
        ``checks.loo_data`` of a posterior check.
    coverage : bool
        Plot the coverage of central predictive intervals instead of the PIT ECDF.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ArviZ's PlotCollection.
    """
    import arviz_plots as azp

    outcome = _loo_outcome(loo_data)
    values = loo_pit_data(loo_data=loo_data)["loo_pit"].to_numpy()
    values = values[np.isfinite(values)]  # a unit whose PSIS weights failed has no PIT to draw
    tree = xr.DataTree.from_dict({"loo_pit": xr.Dataset({outcome: ("obs", values)})})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pc = azp.plot_ecdf_pit(
            tree, var_names=[outcome], group="loo_pit", sample_dims=["obs"], coverage=bool(coverage),
            backend="matplotlib",
            visuals={"xlabel": {"text": "ETI %" if coverage else "LOO-PIT"}, "ylabel": {}, "remove_axis": False},
        )
    return pc.viz["figure"].item()


# ----------------------------------------------------------------------------- forest plots
def _levels(values: Sequence[str], what: str, wanted: Sequence[str] | None) -> list[str]:
    available = [str(v) for v in values]
    if wanted is None:
        return available
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise CarepathsError(f"{what} {unknown} not in these draws; choose from {available}.")
    return list(wanted)


def _forest(
    rows: xr.Dataset, *, stages: list[str], title: str, xlabel: str, null: float, converged: bool,
    truth: pd.Series | None = None, show_stage: bool = True,
) -> Any:
    """ArviZ-plots' forest of ``rows`` (one variable per row group, dims chain, draw, stage).

    Rows are grouped by variable, each with one line per stage (alternately shaded); the
    thick bar is the 50% and the thin bar the package interval, the point the mean. A
    dashed line marks ``null``; ``truth`` (indexed by (stage, variable)) adds crosses.
    Without ``show_stage`` (a spec without stages: one stage) the rows carry no stage
    label.
    """
    import textwrap

    import arviz_plots as azp

    n_rows = len(rows.data_vars) * len(stages)
    names = {str(v): textwrap.fill(str(v), 24) for v in rows.data_vars}  # long labels on several lines
    rows = rows.rename(names)
    show_stage = show_stage or len(stages) > 1
    if show_stage:
        rows, labels, coords = rows, ["__variable__", "stage"], {"stage": stages}
    else:
        rows, labels, coords = rows.sel(stage=stages[0], drop=True), ["__variable__"], None
    pc = azp.plot_forest(
        rows, combined=True, backend="matplotlib", coords=coords,
        labels=labels, shade_label="stage" if len(stages) > 1 else None,
        point_estimate="mean", ci_kind=arviz_interval()["ci_kind"], ci_probs=(0.5, INTERVAL_PROB),
        figure_kwargs={"figsize": (9.0, 0.27 * n_rows + 1.6), "width_ratios": [1.3, 2.0]},
    )
    fig = pc.viz["figure"].item()
    ax = pc.get_target(None, {"column": "forest"})
    ax.axvline(null, color="0.4", lw=0.9, ls="--", zorder=1)
    ax.set_xlabel(xlabel, fontsize=9)
    if truth is not None:
        y = pc.get_aes_as_dataset("y")
        for name, label in names.items():
            for stage in stages:
                value = truth.get((stage, name), np.nan)
                if np.isfinite(value):
                    at = y[label].sel(stage=stage) if show_stage else y[label]
                    ax.plot([value], [float(at)], "x", color="#2ca02c", ms=8, mew=2, zorder=5)
    fig.suptitle(title, fontsize=9)
    if not converged:
        fig.text(0.5, 0.5, f"{NOT_CONVERGED}: these numbers are unreliable", color="#c00000",
                 fontsize=14, ha="center", va="center", alpha=0.6, rotation=12)
    return fig


def _forest_data(rows: xr.Dataset, stages: list[str]) -> pd.DataFrame:
    """The mean and package interval of each row of :func:`_forest`, in drawing order."""
    summary = summarize(rows.sel(stage=stages))
    table = stack_variables(summary, by=("stage",), name="effect", column="summary")
    order = [(stage, str(effect)) for effect in rows.data_vars for stage in stages]
    out = table.loc[order, ["mean", "lower", "upper"]].copy()
    out["row"] = np.arange(len(out))
    return out


def _effect_rows(draws: xr.Dataset, which: Sequence[str] | None) -> xr.Dataset:
    if not isinstance(draws, xr.Dataset) or "stage" not in draws.dims:
        raise CarepathsError(
            f"draws must be effect draws (effects.draws: a Dataset with a stage dim), got {type(draws).__name__}."
        )
    rows = flatten_variables(draws[[n for n in EFFECT_ORDER if n in draws]], keep=("stage",))
    return rows[_levels(list(rows.data_vars), "effects", which)]


def effects_forest_data(
    *,
    draws: xr.Dataset,
    stages: Sequence[str] | None = None,
    which: Sequence[str] | None = None,
    truth: pd.DataFrame | None = None,
    outcome: str | None = None,
    converged: bool | None = None,
) -> pd.DataFrame:
    """The numbers :func:`plot_effects_forest` draws: one row per effect and stage.

    Parameters
    ----------
    draws : xarray.Dataset
        Effect draws, ``effects.draws`` (:meth:`carepaths.Fit.effects`): ``TE``, ``NDE``,
        ``NIE``, ``interdependence`` (chain, draw, stage) and ``IIE`` (chain, draw, stage,
        mechanism), with attrs ``scale``, ``contrast`` and ``population``.
    stages : sequence of str, optional
        Stages in order; default every stage of the draws, ``"pooled"`` last.
    which : sequence of str, optional
        Effects (row groups) in order, e.g. ``["TE", "NDE", "NIE"]``; default all of them:
        TE, NDE, NIE, each mechanism's interventional indirect effect ``IIE[...]`` and
        the interdependence remainder.
    truth : pandas.DataFrame, optional
        Known true effects, a ``true`` column indexed by ``(stage, effect)`` as
        :meth:`carepaths.Simulation.effects_table` returns them; drawn as crosses.
    outcome : str, optional
        The outcome's name, for the title only.
    converged : bool, optional
        Whether the draws come from a converged fit; default the draws' ``converged``
        attribute (true when absent). Unconverged effects are marked NOT CONVERGED.

    Returns
    -------
    pandas.DataFrame
        Index ``(stage, effect)`` in drawing order (by effect, then stage), ``effect``
        alone for draws without stages; columns ``mean``, ``lower``, ``upper`` (the
        package interval, the numbers of ``effects.summary()``), ``row`` (position, 0 at
        the top) and, with ``truth``, ``true``. ``attrs``: ``scale``, ``contrast``,
        ``population``, ``null`` (0 for differences, 1 for ratios), ``interval``,
        ``converged``, ``outcome`` and ``has_stages``.

    Raises
    ------
    CarepathsError
        If a requested stage or effect is not in the draws, or ``truth`` has no ``true``
        column.
    """
    data = _effects_forest_table(draws=draws, stages=stages, which=which, truth=truth, outcome=outcome,
                                 converged=converged)
    return data if data.attrs["has_stages"] else data.droplevel("stage")


def _effects_forest_table(
    *,
    draws: xr.Dataset,
    stages: Sequence[str] | None,
    which: Sequence[str] | None,
    truth: pd.DataFrame | None,
    outcome: str | None,
    converged: bool | None,
) -> pd.DataFrame:
    """:func:`effects_forest_data` with the stage level always in the index."""
    rows = _effect_rows(draws, which)
    stage_list = _levels(draws["stage"].values, "stages", stages)
    data = _forest_data(rows, stage_list)
    if truth is not None:
        if "true" not in truth.columns:
            raise CarepathsError("truth needs a 'true' column indexed by (stage, effect).")
        data["true"] = truth["true"].reindex(data.index).to_numpy(dtype=float)
    scale = str(draws.attrs.get("scale", "difference"))
    data.attrs.update(
        scale=scale,
        contrast=str(draws.attrs.get("contrast", "")),
        population=str(draws.attrs.get("population", "")),
        null=0.0 if scale == "difference" else 1.0,
        interval=interval_label(),
        converged=bool(draws.attrs.get("converged", True)) if converged is None else bool(converged),
        outcome=outcome or str(draws.attrs.get("outcome", "the outcome")),
        has_stages=has_stages(draws),
    )
    return data


def plot_effects_forest(
    *,
    draws: xr.Dataset,
    stages: Sequence[str] | None = None,
    which: Sequence[str] | None = None,
    truth: pd.DataFrame | None = None,
    outcome: str | None = None,
    converged: bool | None = None,
) -> Any:
    """Forest plot of the effect decomposition by stage (ArviZ-plots ``plot_forest``).

    One group of rows per effect (TE, NDE, NIE, each mechanism's IIE, interdependence),
    one row per stage in it (alternately shaded): the point is the posterior mean, the
    thin bar the package interval and the thick bar the central 50%; the dashed
    vertical line is no effect (0, or 1 on a ratio scale). Green crosses are known true
    effects. Effects from a fit that did not converge are overprinted with a red NOT
    CONVERGED.

    Parameters
    ----------
    draws, stages, which, truth, outcome, converged
        As in :func:`effects_forest_data`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ArviZ's PlotCollection: a labels axes and the forest axes.
    """
    data = _effects_forest_table(draws=draws, stages=stages, which=which, truth=truth, outcome=outcome,
                                 converged=converged)
    stage_list = list(dict.fromkeys(data.index.get_level_values("stage")))
    rows = _effect_rows(draws, list(dict.fromkeys(data.index.get_level_values("effect"))))
    legend = f"points: posterior means; bars: {interval_label()} (thick: central 50%)"
    if "true" in data.columns:
        legend += "; green crosses: true effects"
    by_stage = ", by stage" if data.attrs["has_stages"] else ""
    title = (
        f"Effect of {data.attrs['contrast'] or 'the exposure contrast'} on {data.attrs['outcome']}"
        f"{by_stage} ({data.attrs['population']} population)\n{legend}"
    )
    return _forest(
        rows, stages=stage_list, title=title, xlabel=data.attrs["scale"].replace("_", " "),
        null=data.attrs["null"], converged=data.attrs["converged"],
        truth=data["true"] if "true" in data.columns else None, show_stage=data.attrs["has_stages"],
    )


def plot_components_forest(
    *, draws: xr.Dataset, names: Sequence[str], converged: bool | None = None, title: str | None = None,
) -> Any:
    """Forest plot of named effect components by stage (e.g. the four-way decomposition).

    Parameters
    ----------
    draws : xarray.Dataset
        One variable per component, dims (chain, draw, stage), on the difference scale;
        attrs ``contrast`` (and ``mediator``, ``mstar`` for the title).
    names : sequence of str
        The components, in row order.
    converged : bool, optional
        Default the draws' ``converged`` attribute; unconverged draws are marked.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    missing = [n for n in names if n not in draws]
    if missing:
        raise CarepathsError(f"the draws have no component(s) {missing}; they have {list(draws.data_vars)}.")
    stages = [str(s) for s in draws["stage"].values]
    default = f"{draws.attrs.get('contrast', '')}: components by stage\npoints: posterior means; bars: {interval_label()}"
    return _forest(
        draws[list(names)], stages=stages, title=title or default, xlabel="difference", null=0.0,
        converged=bool(draws.attrs.get("converged", True)) if converged is None else bool(converged),
        show_stage=has_stages(draws),
    )


def _comparison_rows(draws: xr.Dataset, per_1000: bool | None) -> tuple[xr.Dataset, bool]:
    if not isinstance(draws, xr.Dataset) or "difference" not in draws or "intervention" not in draws.dims:
        raise CarepathsError(
            "draws must be comparison draws (comparison.draws: a Dataset with 'difference' over "
            f"intervention and stage), got {type(draws).__name__}."
        )
    scaled = bool(draws.attrs.get("per_1000", 0)) if per_1000 is None else bool(per_1000)
    diff = draws["difference"].isel(intervention=slice(1, None))  # the status quo is first
    if scaled:
        diff = 1000 * diff
    rows = xr.Dataset({str(n): diff.sel(intervention=n, drop=True) for n in diff["intervention"].values})
    return rows, scaled


def comparison_data(*, draws: xr.Dataset, per_1000: bool | None = None, converged: bool | None = None) -> pd.DataFrame:
    """The numbers :func:`plot_comparison` draws: each intervention's change from the status quo.

    Parameters
    ----------
    draws : xarray.Dataset
        Comparison draws, ``comparison.draws`` (:meth:`carepaths.Fit.compare`):
        ``difference`` (chain, draw, intervention, stage), the status quo first.
    per_1000 : bool, optional
        Per 1,000 person-waves (per 1,000 persons when the data have one wave: the draws'
        ``unit`` attribute); default the draws' ``per_1000`` attribute (binary and count
        outcomes).
    converged : bool, optional
        Whether the fit converged (default true); unconverged draws are marked.

    Returns
    -------
    pandas.DataFrame
        Index ``(intervention, stage)``, ``intervention`` alone for draws without
        stages, the status quo left out; columns ``estimate`` (posterior mean),
        ``lower``, ``upper`` (the package interval). ``attrs``: ``unit``, ``outcome``,
        ``interval``, ``converged``, ``has_stages``.
    """
    data = _comparison_table(draws=draws, per_1000=per_1000, converged=converged)
    return data if data.attrs["has_stages"] else data.droplevel("stage")


def _comparison_table(*, draws: xr.Dataset, per_1000: bool | None, converged: bool | None) -> pd.DataFrame:
    """:func:`comparison_data` with the stage level always in the index."""
    rows, scaled = _comparison_rows(draws, per_1000)
    stages = [str(s) for s in draws["stage"].values]
    table = stack_variables(summarize(rows), by=("stage",), name="intervention", column="summary")
    table = table.reorder_levels(["intervention", "stage"])
    order = [(str(name), stage) for name in rows.data_vars for stage in stages]
    data = table.loc[order, ["mean", "lower", "upper"]].set_axis(["estimate", "lower", "upper"], axis=1)
    data.attrs.update(
        unit=f"per 1,000 {draws.attrs.get('unit', 'person-waves')}" if scaled else "difference",
        interval=interval_label(), outcome=str(draws.attrs.get("outcome", "the outcome")),
        converged=True if converged is None else bool(converged), has_stages=has_stages(draws),
    )
    return data


def plot_comparison(
    *, draws: xr.Dataset, per_1000: bool | None = None, converged: bool | None = None,
) -> Any:
    """Forest plot of each intervention's change against the status quo, by stage.

    Drawn by ArviZ-plots' ``plot_forest``: one group of rows per intervention, one row
    per stage; the point is the posterior mean, the thin bar the package interval, the
    thick bar the central 50%; the dashed line is no change.

    Parameters
    ----------
    draws, per_1000, converged
        As in :func:`comparison_data`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ArviZ's PlotCollection.
    """
    data = _comparison_table(draws=draws, per_1000=per_1000, converged=converged)
    rows, _ = _comparison_rows(draws, per_1000)
    stages = [str(s) for s in draws["stage"].values]
    by_stage = " by stage" if data.attrs["has_stages"] else ""
    title = (f"Interventions vs status quo{by_stage}: change in {data.attrs['outcome']} {data.attrs['unit']}\n"
             f"points: posterior means; bars: {interval_label()} (thick: central 50%)")
    return _forest(rows, stages=stages, title=title,
                   xlabel=f"change in {data.attrs['outcome']} ({data.attrs['unit']})",
                   null=0.0, converged=data.attrs["converged"], show_stage=data.attrs["has_stages"])


# ----------------------------------------------------------------------------- sensitivity
def _sensitivity_effects(draws: xr.Dataset, effects: Sequence[str] | None) -> list[str]:
    available = [str(v) for v in draws.data_vars]
    if effects is None:
        wanted = [n for n in ("NIE", "NDE") if n in available]
        wanted += [n for n in available if n.startswith("IIE[")] if sum(n.startswith("IIE[") for n in available) > 1 else []
        return wanted
    if isinstance(effects, str):
        effects = [effects]
    unknown = [e for e in effects if e not in available]
    if unknown:
        raise CarepathsError(f"effects {unknown} are not in the sensitivity draws.{suggest_closest(str(unknown[0]), available)} "
                             f"Choose from {available}.")
    return list(effects)


def sensitivity_data(*, draws: xr.Dataset, effects: Sequence[str] | None = None) -> pd.DataFrame:
    """The numbers :func:`plot_sensitivity` draws: each effect's mean and interval at each rho.

    Parameters
    ----------
    draws : xarray.Dataset
        One variable per effect (``IIE`` split by mechanism), dims (chain, draw, rho, stage).
    effects : sequence of str, optional
        The effects drawn; default NIE, NDE and, with several mechanisms, each ``IIE[...]``.

    Returns
    -------
    pandas.DataFrame
        Index ``(stage, effect, rho)``; columns ``mean``, ``lower``, ``upper`` (the package
        interval).
    """
    names = _sensitivity_effects(draws, effects)
    summary = summarize(draws[names])
    table = stack_variables(summary.transpose("stage", "rho", "summary"), by=("stage", "rho"), name="effect",
                            column="summary")
    table = table.reorder_levels(["stage", "effect", "rho"])
    order = pd.MultiIndex.from_product([[str(s) for s in draws["stage"].values], names,
                                        [str(r) for r in draws["rho"].values]], names=["stage", "effect", "rho"])
    table = table.reindex(order)[["mean", "lower", "upper"]]
    table.index = table.index.set_levels(table.index.levels[2].astype(float), level="rho")
    table.attrs.update(interval=interval_label())
    return table


def plot_sensitivity(
    *, draws: xr.Dataset, crossings: pd.DataFrame | None = None, effects: Sequence[str] | None = None,
    converged: bool = True, mediators: str = "", title: str | None = None,
) -> Any:
    """Each effect against rho, one panel per effect (rows) and stage (columns).

    The line is the posterior mean, the band the package interval; the dashed horizontal
    line is 0. Where ``crossings`` is given, a dotted vertical line marks the rho at which
    the mean reaches 0 and a diamond the rho nearest 0 at which the interval first
    includes 0.

    Parameters
    ----------
    draws : xarray.Dataset
        As in :func:`sensitivity_data`; attrs ``contrast`` names the contrast.
    crossings : pandas.DataFrame, optional
        :meth:`carepaths.Sensitivity.crossings`: index ``(stage, effect)`` (or ``effect``
        without stages), columns ``rho_mean_zero`` and ``rho_interval_includes_zero``.
    effects : sequence of str, optional
        As in :func:`sensitivity_data`.
    converged : bool
        False marks every panel as not converged.
    mediators : str
        Whose error correlates with the outcome's, for the title.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    data = sensitivity_data(draws=draws, effects=effects)
    names = list(dict.fromkeys(data.index.get_level_values("effect")))
    stages = [str(s) for s in draws["stage"].values]
    staged = has_stages(draws) or len(stages) > 1
    fig, axes = plt.subplots(len(names), len(stages), figsize=(3.2 * len(stages) + 0.8, 2.3 * len(names) + 0.9),
                             sharex=True, squeeze=False, layout="constrained")
    for i, name in enumerate(names):
        for j, stage in enumerate(stages):
            ax = axes[i, j]
            rows = data.xs((stage, name), level=("stage", "effect"))
            rho = rows.index.to_numpy(dtype=float)
            ax.fill_between(rho, rows["lower"], rows["upper"], color="#9ecae1", alpha=0.6, lw=0)
            ax.plot(rho, rows["mean"], color="#08519c", lw=1.6)
            ax.axhline(0.0, color="0.4", lw=0.9, ls="--")
            ax.axvline(0.0, color="0.8", lw=0.7)
            if crossings is not None:
                key = (stage, name) if isinstance(crossings.index, pd.MultiIndex) else name
                if key in crossings.index:
                    r0, r_int = crossings.loc[key, ["rho_mean_zero", "rho_interval_includes_zero"]]
                    if np.isfinite(r0):
                        ax.axvline(r0, color="#c00000", lw=1.0, ls=":")
                        ax.annotate(f"mean 0 at {r0:.2f}", (r0, 0.0), xytext=(3, 4), textcoords="offset points",
                                    fontsize=7, color="#c00000")
                    if np.isfinite(r_int):
                        at = rows.loc[float(r_int), "mean"] if float(r_int) in rows.index else np.nan
                        ax.plot([r_int], [at], "D", color="#c00000", ms=4)
            ax.set_title(f"{name}, {stage}" if staged else name, fontsize=8)
            ax.tick_params(labelsize=7)
            if i == len(names) - 1:
                ax.set_xlabel("rho (mediator-outcome error correlation)", fontsize=8)
            if not converged:
                ax.text(0.5, 0.5, NOT_CONVERGED, transform=ax.transAxes, color="#c00000", fontsize=10,
                        ha="center", va="center", alpha=0.6, rotation=12)
    through = f" through {mediators}" if mediators else ""
    default = (f"{draws.attrs.get('contrast', '')}: effects as the unmeasured mediator-outcome confounding{through} "
               f"grows\nline: posterior mean; band: {interval_label()}; dotted: mean reaches 0; diamond: interval "
               "first includes 0")
    fig.suptitle(title or default, fontsize=9)
    return fig


# ----------------------------------------------------------------------------- trajectories
def trajectories_data(*, draws: xr.Dataset, converged: bool = True, variable: str = "care_use") -> pd.DataFrame:
    """The numbers :func:`plot_trajectories` draws: an estimand by world and wave.

    Parameters
    ----------
    draws : xarray.Dataset
        ``Trajectories.draws`` (:meth:`carepaths.Fit.trajectories`): the estimands over
        (sample, world, wave), the natural course first.
    converged : bool
        Whether the posteriors behind them converged; unconverged curves are marked.
    variable : str
        Which estimand (default ``care_use``, what the figure draws).

    Returns
    -------
    pandas.DataFrame
        Index ``(world, wave)``; columns ``estimate`` (posterior mean), ``sd``, ``lower``,
        ``upper`` (the package interval; NaN where the estimand is undefined, e.g. the
        first wave's continuation). ``attrs``: ``interval``, ``converged``.
    """
    if (not isinstance(draws, xr.Dataset) or variable not in draws
            or tuple(draws[variable].dims[:3]) != ("sample", "world", "wave")):
        raise CarepathsError(f"trajectories_data needs Trajectories.draws: {variable} over (sample, world, wave).")
    values = draws[variable].transpose("sample", ...)
    with warnings.catch_warnings():  # the first wave's continuation is NaN in every draw
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        lower, upper = interval_bounds(values.values, axis=0)
    index = values.isel(sample=0, drop=True).to_series().index
    data = pd.DataFrame({
        "estimate": values.mean("sample").to_series().to_numpy(),
        "sd": values.std("sample", ddof=1).to_series().to_numpy(),
        "lower": np.ravel(lower), "upper": np.ravel(upper),
    }, index=index)
    data.attrs.update(interval=interval_label(), converged=bool(converged))
    return data


def plot_trajectories(*, draws: xr.Dataset, converged: bool = True) -> Any:
    """Care use by wave, one line per world (the natural course dashed), with interval bands.

    Parameters
    ----------
    draws, converged
        As in :func:`trajectories_data`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    data = trajectories_data(draws=draws, converged=converged)
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    for i, (world, rows) in enumerate(data.groupby(level="world", sort=False)):
        waves = rows.index.get_level_values("wave")
        style = {"linestyle": "--", "color": "0.3"} if i == 0 else {}
        line, = ax.plot(waves, rows["estimate"], marker="o", label=str(world), **style)
        ax.fill_between(waves, rows["lower"], rows["upper"], alpha=0.15, color=line.get_color())
    ax.set_xlabel("wave")
    ax.set_ylabel("care use (share in care)")
    ax.set_xticks(sorted(set(data.index.get_level_values("wave"))))
    title = f"Care use by wave under each intervention\nlines: posterior means; bands: {interval_label()}"
    if not data.attrs["converged"]:
        title = "NOT CONVERGED: numbers unreliable\n" + title
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
