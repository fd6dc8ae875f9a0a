"""Figures of carepaths results.

Conventions, for every plot here: all arguments are keyword-only; the function returns
the :class:`matplotlib.figure.Figure` it drew (it never shows or saves it); and it has a
*data twin*, ``<name>_data`` with the same arguments, that returns the numbers the plot
draws, so tests and reports can check them without reading pixels. Intervals are the
package's one definition (:mod:`carepaths.intervals`).

Predictive checks (:class:`carepaths.checks.predictive.Checks`):

* :func:`plot_stage_checks` — one panel per statistic and stage: the replicated
  statistic's distribution, its interval, the observed value and the p-value;
* :func:`plot_ppc_dist` — replicated vs observed distributions of each variable by stage
  (ArviZ-plots ``plot_ppc_dist``);
* :func:`plot_loo_pit` — the LOO-PIT ECDF of the outcome (ArviZ-plots ``plot_loo_pit``).

Effects (:class:`carepaths.counterfactual.effects.Effects`):

* :func:`plot_effects_forest` — the effect decomposition by stage as a forest plot: TE,
  NDE, NIE, each mechanism's interventional indirect effect and the interdependence
  remainder, posterior mean and interval, one panel per stage (optionally with known
  true effects).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from carepaths.exceptions import CarepathsError, suggest_closest
from carepaths.intervals import interval_label

__all__ = [
    "ROLE_COLOURS",
    "plot_causal_graph",
    "plot_stage_checks",
    "stage_checks_data",
    "plot_ppc_dist",
    "ppc_dist_data",
    "plot_loo_pit",
    "loo_pit_data",
    "plot_effects_forest",
    "effects_forest_data",
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


def _require_checks(checks: Any) -> None:
    if not all(callable(getattr(checks, name, None)) for name in ("table", "select_rows", "statistic_draws")):
        raise CarepathsError(
            f"checks must be a carepaths Checks (from fit.check(seed=...) or "
            f"model.prior_check(seed=...)), got {type(checks).__name__}."
        )


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
def stage_checks_data(
    *,
    checks: Any,
    variable: str | None = None,
    statistics: Sequence[str] | None = None,
    stages: Sequence[str] | None = None,
    bins: int = 30,
) -> pd.DataFrame:
    """The numbers :func:`plot_stage_checks` draws: one row per panel.

    Parameters
    ----------
    checks : Checks
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
    """
    _require_checks(checks)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise CarepathsError(f"bins must be a positive integer, got {bins!r}.")
    rows = checks.select_rows(variable=variable, statistics=statistics, stages=stages)
    counts, edges = [], []
    for row in rows.itertuples():
        values = checks.statistic_draws(variable=row.variable, statistic=row.statistic, stage=row.stage)
        values = values[np.isfinite(values)]
        c, e = np.histogram(values, bins=bins) if values.size else (np.zeros(bins, int), np.linspace(0, 1, bins + 1))
        counts.append(c)
        edges.append(e)
    rows = rows.drop(columns="wave")
    rows["counts"] = counts
    rows["edges"] = edges
    return rows


def plot_stage_checks(
    *,
    checks: Any,
    variable: str | None = None,
    statistics: Sequence[str] | None = None,
    stages: Sequence[str] | None = None,
    bins: int = 30,
) -> Any:
    """Observed statistic against its predictive distribution, one panel per stage.

    Rows of panels are statistics, columns are stages. Each panel shows the histogram of
    the replicated statistic, its interval (shaded), the observed value (vertical line)
    and the predictive p-value; a flagged check has a red line and title.

    Parameters
    ----------
    checks : Checks
    variable, statistics, stages, bins
        As in :func:`stage_checks_data`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    data = stage_checks_data(checks=checks, variable=variable, statistics=statistics, stages=stages, bins=bins)
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
        ax.set_title(f"{row.stage}: p = {row.p_value:.3f}", fontsize=9, color=color)
        ax.set_yticks([])
    for ax in axes[~used]:  # a statistic without that stage (e.g. between_person: "all" only)
        ax.set_visible(False)
    kind = checks.kind
    fig.suptitle(
        f"{data['variable'].iloc[0]}: {kind} predictive checks by stage "
        f"(shaded: {interval_label()}; line: observed)", fontsize=10,
    )
    return fig


# ----------------------------------------------------------------------------- distributions
def _ppc_variables(checks: Any, variables: Sequence[str] | None) -> list[str]:
    tree = checks.replicated
    names = list(tree["observed_data"].to_dataset().data_vars)
    if variables is None:
        observed = tree["observed_data"].to_dataset()
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


def _ppc_tree(checks: Any, variables: list[str]) -> Any:
    """The replicated data relabelled so that ArviZ facets by stage, in stage order."""
    import xarray as xr

    group = f"{checks.kind}_predictive"
    tree = checks.replicated
    predictive = tree[group].to_dataset()[variables]
    observed = tree["observed_data"].to_dataset()[variables]
    stages = list(dict.fromkeys(_stage_order(checks)))
    labels = np.array([f"{stages.index(s) + 1}: {s}" for s in predictive["stage"].values])
    drop = [c for c in ("stage", "person") if c in predictive.coords]
    predictive = predictive.drop_vars(drop).assign_coords(obs=labels)
    observed = observed.drop_vars(drop).assign_coords(obs=labels)
    return xr.DataTree.from_dict({group: predictive, "observed_data": observed}), len(stages)


def _stage_order(checks: Any) -> list[str]:
    stages = [s for s in checks.table().index.get_level_values("stage") if s != "all"]
    return stages or ["all"]


def ppc_dist_data(*, checks: Any, variables: Sequence[str] | None = None) -> pd.DataFrame:
    """The data :func:`plot_ppc_dist` hands to ArviZ, summarised per variable and stage.

    Parameters
    ----------
    checks : Checks
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
    _require_checks(checks)
    chosen = _ppc_variables(checks, variables)
    group = f"{checks.kind}_predictive"
    predictive = checks.replicated[group].to_dataset()
    observed = checks.replicated["observed_data"].to_dataset()
    stage_of_row = observed["stage"].values
    rows = []
    for v in chosen:
        for stage in list(dict.fromkeys(_stage_order(checks))):
            mask = stage_of_row == stage if stage != "all" else np.ones(len(stage_of_row), bool)
            rows.append((v, stage, int(mask.sum()), float(observed[v].values[mask].mean()),
                         float(predictive[v].values[..., mask].mean())))
    return pd.DataFrame(rows, columns=["variable", "stage", "n_obs", "observed_mean", "predictive_mean"])


def plot_ppc_dist(
    *,
    checks: Any,
    variables: Sequence[str] | None = None,
    kind: str = "kde",
    num_samples: int = 50,
) -> Any:
    """Replicated against observed distributions of each variable, one panel per stage.

    Drawn by ArviZ-plots' ``plot_ppc_dist``: ``num_samples`` replicated data sets
    (thin lines) and the observed data (thick line), for the rows of each stage.

    Parameters
    ----------
    checks : Checks
    variables : sequence of str, optional
        As in :func:`ppc_dist_data`.
    kind : {"kde", "ecdf", "hist"}
        Representation of each distribution (use ``"ecdf"`` for ordinal or count data).
    num_samples : int
        Replicated data sets overlaid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import arviz_plots as azp

    _require_checks(checks)
    if kind not in ("kde", "ecdf", "hist"):
        raise CarepathsError(f"kind must be 'kde', 'ecdf' or 'hist', got {kind!r}.")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise CarepathsError(f"num_samples must be a positive integer, got {num_samples!r}.")
    chosen = _ppc_variables(checks, variables)
    tree, n_stages = _ppc_tree(checks, chosen)
    n_samples = checks.draws.sizes["sample"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ArviZ's discrete/binary advice
        pc = azp.plot_ppc_dist(
            tree, group=f"{checks.kind}_predictive", backend="matplotlib", kind=kind,
            num_samples=min(num_samples, n_samples), cols=["__variable__", "obs"], col_wrap=n_stages,
            figure_kwargs={"layout": "constrained", "figsize": (3.2 * n_stages, 2.4 * len(chosen))},
        )
    return pc.viz["figure"].item()


# ----------------------------------------------------------------------------- LOO-PIT
def loo_pit_data(*, checks: Any) -> pd.DataFrame:
    """The LOO-PIT values :func:`plot_loo_pit` draws the ECDF of, with each row's Pareto k.

    Returns
    -------
    pandas.DataFrame
        One row per person-wave: ``stage``, ``loo_pit`` (in [0, 1]; uniform for a
        calibrated model) and ``pareto_k``.

    Raises
    ------
    CarepathsError
        For a prior check (no posterior, no LOO).
    """
    _require_checks(checks)
    if checks.loo_pit is None:
        raise CarepathsError("a prior check has no LOO-PIT: run fit.check(seed=...) on a fitted model.")
    return pd.DataFrame({
        "stage": checks.replicated["observed_data"].to_dataset()["stage"].values,
        "loo_pit": np.asarray(checks.loo_pit.values, dtype=float),
        "pareto_k": np.asarray(checks.loo.pareto_k).reshape(-1),
    })


def plot_loo_pit(*, checks: Any, coverage: bool = False) -> Any:
    """ECDF of the outcome's LOO-PIT values against uniformity (ArviZ-plots ``plot_loo_pit``).

    Parameters
    ----------
    checks : Checks
        From ``fit.check``.
    coverage : bool
        Plot the coverage of central predictive intervals instead of the PIT ECDF.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import arviz_plots as azp

    loo_pit_data(checks=checks)  # validates
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pc = azp.plot_loo_pit(checks.loo_data, var_names=[checks.outcome], coverage=bool(coverage), backend="matplotlib")
    return pc.viz["figure"].item()


# ----------------------------------------------------------------------------- effects by stage
def _levels(summary: pd.DataFrame, level: str, wanted: Sequence[str] | None) -> list[str]:
    available = [str(v) for v in dict.fromkeys(summary.index.get_level_values(level))]
    if wanted is None:
        return available
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise CarepathsError(f"{level} {unknown} not in these effects; choose from {available}.")
    return list(wanted)


def effects_forest_data(
    *,
    effects: Any,
    stages: Sequence[str] | None = None,
    which: Sequence[str] | None = None,
    truth: pd.DataFrame | None = None,
    outcome: str | None = None,
) -> pd.DataFrame:
    """The numbers :func:`plot_effects_forest` draws: one row per stage and effect.

    Parameters
    ----------
    effects : Effects
        From :meth:`carepaths.Fit.effects`.
    stages : sequence of str, optional
        Stages (panels) in order; default every stage of the effects, ``"pooled"`` last.
    which : sequence of str, optional
        Effects (rows) in order, e.g. ``["TE", "NDE", "NIE"]``; default all of them:
        TE, NDE, NIE, each mechanism's interventional indirect effect ``IIE[...]`` and
        the interdependence remainder.
    truth : pandas.DataFrame, optional
        Known true effects, a ``true`` column indexed by ``(stage, effect)`` as
        :meth:`carepaths.Simulation.effects_table` returns them; drawn as crosses.
    outcome : str, optional
        The outcome's name, for the title only.

    Returns
    -------
    pandas.DataFrame
        Index ``(stage, effect)`` in drawing order; columns ``mean``, ``lower``,
        ``upper`` (the package interval), ``row`` (y position, 0 at the top) and, with
        ``truth``, ``true``. ``attrs``: ``scale``, ``contrast``, ``population``, ``null``
        (0 for differences, 1 for ratios), ``interval`` and ``converged``.

    Raises
    ------
    CarepathsError
        If a requested stage or effect is not in the effects, or ``truth`` has no
        ``true`` column.
    """
    summary = effects.summary()
    stage_list = _levels(summary, "stage", stages)
    rows = _levels(summary, "effect", which)
    data = summary.loc[[(s, e) for s in stage_list for e in rows], ["mean", "lower", "upper"]].copy()
    data["row"] = np.tile(np.arange(len(rows)), len(stage_list))
    if truth is not None:
        if "true" not in truth.columns:
            raise CarepathsError("truth needs a 'true' column indexed by (stage, effect).")
        data["true"] = truth["true"].reindex(data.index).to_numpy(dtype=float)
    data.attrs.update(
        scale=effects.scale,
        contrast=summary.attrs.get("contrast", ""),
        population=summary.attrs.get("population", ""),
        null=0.0 if effects.scale == "difference" else 1.0,
        interval=interval_label(),
        converged=bool(effects.converged),
        outcome=outcome or "the outcome",
    )
    return data


def plot_effects_forest(
    *,
    effects: Any,
    stages: Sequence[str] | None = None,
    which: Sequence[str] | None = None,
    truth: pd.DataFrame | None = None,
    outcome: str | None = None,
) -> Any:
    """Forest plot of the effect decomposition, one panel per stage.

    Each row is an effect: a point at the posterior mean and a bar over the package
    interval; the dashed vertical line is no effect (0, or 1 on a ratio scale). TE is
    black, NDE blue, NIE red, the per-mechanism effects grey. Effects from a fit that
    did not converge are overprinted with a red NOT CONVERGED.

    Parameters
    ----------
    effects : Effects
    stages, which, truth, outcome
        As in :func:`effects_forest_data`.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per stage (its title is the stage), sharing the effect rows.
    """
    from matplotlib.figure import Figure

    data = effects_forest_data(effects=effects, stages=stages, which=which, truth=truth, outcome=outcome)
    stage_list = list(dict.fromkeys(data.index.get_level_values("stage")))
    rows = list(dict.fromkeys(data.index.get_level_values("effect")))
    fig = Figure(figsize=(2.6 * len(stage_list) + 1.8, 0.32 * len(rows) + 2.0), layout="constrained")
    axes = fig.subplots(1, len(stage_list), sharey=True, squeeze=False)[0]
    colours = {"TE": "#1b1b1b", "NDE": "#1f77b4", "NIE": "#d62728"}
    for ax, stage in zip(axes, stage_list, strict=True):
        at = data.xs(stage, level="stage")
        for effect, row in at.iterrows():
            colour = colours.get(str(effect), "#7f7f7f")
            ax.plot([row["lower"], row["upper"]], [row["row"], row["row"]], color=colour, lw=1.6)
            ax.plot([row["mean"]], [row["row"]], "o", color=colour, ms=5)
            if "true" in at.columns and np.isfinite(row["true"]):
                ax.plot([row["true"]], [row["row"]], "x", color="#2ca02c", ms=7, mew=1.6)
        ax.axvline(data.attrs["null"], color="0.5", lw=0.8, ls="--")
        ax.set_title(str(stage))
        ax.grid(axis="x", color="0.9")
        ax.set_xlabel(str(data.attrs["scale"]).replace("_", " "), fontsize=8)
        ax.tick_params(labelsize=8)
    axes[0].set_yticks(range(len(rows)), rows)
    axes[0].set_ylim(len(rows) - 0.5, -0.5)
    legend = f"points: posterior means; bars: {interval_label()}"
    if "true" in data.columns:
        legend += "; green crosses: true effects"
    fig.suptitle(
        f"Effect of {data.attrs['contrast'] or 'the exposure contrast'} on {data.attrs['outcome']}, "
        f"by stage ({data.attrs['population']} population)\n{legend}",
        fontsize=9,
    )
    if not data.attrs["converged"]:
        fig.text(0.5, 0.5, "NOT CONVERGED: these numbers are unreliable", color="#c00000",
                 fontsize=14, ha="center", va="center", alpha=0.6, rotation=12)
    return fig
