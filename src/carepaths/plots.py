"""Figures of carepaths results.

Conventions, for every plot here: all arguments are keyword-only; the function returns
the :class:`matplotlib.figure.Figure` it drew (it never shows or saves it); and it has a
*data twin*, ``<name>_data`` with the same arguments, that returns the numbers the plot
draws, so tests and reports can check them without reading pixels. Intervals are the
package's one definition (:mod:`carepaths.intervals`).

Predictive checks (:class:`carepaths.checks.Checks`):

* :func:`plot_stage_checks` — one panel per statistic and stage: the replicated
  statistic's distribution, its interval, the observed value and the p-value;
* :func:`plot_ppc_dist` — replicated vs observed distributions of each variable by stage
  (ArviZ-plots ``plot_ppc_dist``);
* :func:`plot_loo_pit` — the LOO-PIT ECDF of the outcome (ArviZ-plots ``plot_loo_pit``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from carepaths.exceptions import CarepathsError
from carepaths.intervals import interval_label

__all__ = [
    "plot_stage_checks",
    "stage_checks_data",
    "plot_ppc_dist",
    "ppc_dist_data",
    "plot_loo_pit",
    "loo_pit_data",
]


def _require_checks(checks: Any) -> None:
    from carepaths.checks import Checks

    if not isinstance(checks, Checks):
        raise CarepathsError(
            f"checks must be a carepaths Checks (from fit.check(seed=...) or "
            f"model.prior_check(seed=...)), got {type(checks).__name__}."
        )


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
    from carepaths.checks import select_rows, statistic_draws

    _require_checks(checks)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise CarepathsError(f"bins must be a positive integer, got {bins!r}.")
    rows = select_rows(checks, variable=variable, statistics=statistics, stages=stages)
    counts, edges = [], []
    for row in rows.itertuples():
        values = statistic_draws(checks, variable=row.variable, statistic=row.statistic, stage=row.stage)
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
            from carepaths.spec import suggest_closest

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
