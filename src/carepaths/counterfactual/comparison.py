"""Comparing interventions on every posterior draw: :func:`compare` and :class:`Comparison`.

For each intervention (or combination) and each stage, the expected outcome with the
intervention in place, its difference from the status quo (on the outcome's scale and,
for binary and count outcomes, per 1,000: extra or fewer persons in care, or visits, per
1,000 person-waves of a panel, or per 1,000 persons when there is one wave), the package
interval (:mod:`carepaths.intervals`), the posterior probability that it is better than
the status quo, and the probability that it is the best of those compared (with two or
more compared). "Better" is a value judgement the user states: ``better="higher"``
(default: more care use) or ``"lower"``. Without stages the tables and figures have no
stage (:data:`carepaths.results.HAS_STAGES`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.counterfactual.interventions import intervention_means, model_transform, validate
from carepaths.counterfactual.population import LINK_DTYPE, Chunk, RowData, group_averaging, map_chunks
from carepaths.data import Panel
from carepaths.exceptions import ConvergenceWarning
from carepaths.intervals import interval_label
from carepaths.results import (
    HAS_STAGES,
    NOT_CONVERGED,
    Result,
    check_choice,
    check_seed,
    has_stages,
    summarize,
)
from carepaths.structural.parameters import ParameterSet

__all__ = ["Comparison", "compare", "STATUS_QUO", "per_1000_unit"]

STATUS_QUO = "status quo"


def per_1000_unit(panel: Panel) -> str:
    """What the per-1,000 columns count: ``"person-waves"`` of a panel, else ``"persons"``."""
    ds = panel.dataset
    n_waves = len(np.unique(ds["wave"].values)) if "wave" in ds.coords else 1
    return "person-waves" if n_waves > 1 else "persons"


@dataclass(frozen=True, repr=False)
class Comparison(Result):
    """Interventions compared with the status quo, per stage, on every posterior draw.

    A :class:`~carepaths.results.Result`: ``.summary()``, ``.to_frame()``, ``.plot()``
    and a repr that says NOT CONVERGED when the fit did not converge.

    Attributes
    ----------
    draws : xarray.Dataset
        ``expected`` (chain, draw, intervention, stage): the expected outcome under each
        intervention, the status quo first; ``difference`` (chain, draw, intervention,
        stage): intervention minus status quo (the status quo row is 0).
    descriptions : dict of str to str
        Each intervention in words.
    better : {"higher", "lower"}
        Which direction of the outcome counts as better.
    converged : bool
        Whether the fit converged (the summary carries a warning when not).
    warning : str
        Why the draws are not to be trusted (empty when converged).
    """

    draws: xr.Dataset
    descriptions: dict[str, str]
    better: str
    converged: bool
    warning: str = ""

    frame_columns: ClassVar[dict[str, str]] = {"difference": "estimate"}

    @property
    def interventions(self) -> list[str]:
        """The compared interventions (without the status quo)."""
        return [str(n) for n in self.draws["intervention"].values if n != STATUS_QUO]

    @property
    def has_stages(self) -> bool:
        """Whether the spec has stages (else the tables and figures have no stage)."""
        return has_stages(self.draws)

    @property
    def unit(self) -> str:
        """What the per-1,000 columns count: ``"person-waves"`` or ``"persons"`` (one wave)."""
        return str(self.draws.attrs.get("unit", "person-waves"))

    def summary(self) -> pd.DataFrame:
        """One row per intervention and stage (per intervention when the spec has no stages).

        Columns: ``expected`` (posterior mean of the expected outcome), ``difference``
        and its interval ``lower``/``upper`` (``arviz_stats.summary`` with the package
        interval), the same per 1,000 (binary and count outcomes; per 1,000 person-waves,
        or persons with one wave: ``attrs["per_1000"]``), ``P(better)`` than the status
        quo and, when two or more are compared, ``P(best)`` among them (ties count for
        none; with one it would be 1 by construction). The status quo's probabilities
        are NaN. ``attrs`` also hold ``n_draws``, what the probabilities are shares of.
        """
        draws = self.draws
        dims = list(self.sample_dims)
        stats = summarize(draws[["expected", "difference"]])
        sign = 1.0 if self.better == "higher" else -1.0
        compared = sign * draws["difference"].isel(intervention=slice(1, None))
        is_top = compared == compared.max("intervention")
        unique = is_top.sum("intervention") == 1
        p_best = (is_top & unique).mean(dims).reindex(intervention=draws["intervention"])
        p_better = (compared > 0).mean(dims).reindex(intervention=draws["intervention"])
        columns = {
            "expected": stats["expected"].sel(summary="mean"),
            "difference": stats["difference"].sel(summary="mean"),
            "lower": stats["difference"].sel(summary="lower"),
            "upper": stats["difference"].sel(summary="upper"),
        }
        if draws.attrs["per_1000"]:
            columns.update(per_1000=1000 * columns["difference"], per_1000_lower=1000 * columns["lower"],
                           per_1000_upper=1000 * columns["upper"])
        columns["P(better)"] = p_better.astype(float)
        if len(self.interventions) > 1:
            columns["P(best)"] = p_best.astype(float)
        index = pd.MultiIndex.from_product(
            [[str(i) for i in draws["intervention"].values], [str(s) for s in draws["stage"].values]],
            names=["intervention", "stage"],
        )
        table = pd.DataFrame(
            {name: value.transpose("intervention", "stage").values.reshape(-1) for name, value in columns.items()},
            index=index,
        )
        if not self.has_stages:
            table = table.droplevel("stage")
        if not self.converged:
            table["warning"] = NOT_CONVERGED
        table.attrs.update(interval=interval_label(), better=self.better, warning=self.warning,
                           outcome=draws.attrs["outcome"], population=draws.attrs["population"],
                           n_draws=self.n_samples)
        if draws.attrs["per_1000"]:
            table.attrs["per_1000"] = f"per 1,000 {self.unit}"
        return table

    def to_frame(self) -> pd.DataFrame:
        """The summary as a tidy table for a paper: one row per intervention and stage.

        Returns
        -------
        pandas.DataFrame
            Columns ``intervention``, ``stage`` (not when the spec has no stages),
            ``expected``, ``estimate`` (the posterior mean difference from the status
            quo), ``lower``, ``upper`` (the package interval), ``per_1000``,
            ``per_1000_lower``, ``per_1000_upper`` (binary and count outcomes),
            ``P(better)``, ``P(best)`` (two or more compared); ``warning`` when the fit
            did not converge.
        """
        return super().to_frame()

    def plot_data(self) -> pd.DataFrame:
        """The numbers :meth:`plot` draws: :func:`carepaths.figures.comparison_data`."""
        from carepaths.figures import comparison_data

        return comparison_data(draws=self.draws, converged=self.converged)

    def plot(self, *, figsize: tuple[float, float] | None = None, **kwargs: Any) -> Any:
        """Forest plot of each intervention's change by stage: :func:`carepaths.figures.plot_comparison`.

        Parameters
        ----------
        figsize : (float, float), optional
            Width and height in inches; default sized by the number of rows.
        **kwargs
            Passed on (``per_1000``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from carepaths.figures import plot_comparison

        fig = plot_comparison(draws=self.draws, converged=self.converged, **kwargs)
        if figsize is not None:
            fig.set_size_inches(*figsize)
        return fig

    def _describe(self) -> str:
        return f"of {len(self.interventions)} interventions (better = {self.better}), {self.n_samples} draws"


def compare(
    params: ParameterSet,
    panel: Panel,
    interventions: Sequence[Any],
    *,
    population: str = "marginal",
    seed: int = 0,
    better: str = "higher",
    warning: str = "",
) -> Comparison:
    """Compare interventions with the status quo on every posterior draw, per stage.

    :meth:`carepaths.Fit.compare` calls this with the fit's posterior.

    Parameters
    ----------
    params : ParameterSet
        Posterior draws (:meth:`carepaths.Fit.parameters`).
    panel : Panel
        The data the model was fitted to.
    interventions : list
        :class:`~carepaths.counterfactual.interventions.Intervention` objects; an entry that is itself a
        list applies its interventions together (named "a + b").
    population : {"marginal", "conditional"}
        New persons or the observed persons (as in :meth:`Fit.effects`).
    seed : int
        Seed of the Monte Carlo noise (a non-negative integer); same fit and seed, same numbers.
    better : {"higher", "lower"}
        Which direction of the outcome counts as better (default: more care use).
    warning : str
        Why these draws are not to be trusted (the fit did not converge), or empty.

    Returns
    -------
    Comparison

    Raises
    ------
    CarepathsError
        On invalid interventions (see :func:`carepaths.counterfactual.interventions.validate`) or
        arguments (``better``, ``population``, ``seed``), each named in the message.
    """
    from threadpoolctl import threadpool_limits

    spec = panel.spec
    check_choice(better, "better", ("higher", "lower"))
    check_choice(population, "population", ("marginal", "conditional"))
    check_seed(seed)
    entries = validate(spec, interventions)
    rows = RowData.from_panel(panel)
    stage_idx = rows.stage_idx
    x_between = None if rows.x_between is None else rows.x_between[:, None]
    transforms = [
        {iv.target: _transform(spec, panel, iv, stage_idx) for iv in parts} for _, parts in entries
    ]
    averaging, groups = group_averaging(spec, stage_idx)
    n_entries = len(entries) + 1
    expected = np.empty((params.n_samples, n_entries, len(groups)))
    rng = np.random.default_rng(seed)
    all_transforms = [{}, *transforms]

    def chunk_means(chunk: Chunk) -> np.ndarray:  # (draw, entry, group)
        means = [
            intervention_means(
                spec, chunk.params, chunk.rows, chunk.x, chunk.latents, tf,
                x_between=x_between, dtype=LINK_DTYPE,
            )
            for tf in all_transforms
        ]
        return np.stack([(averaging @ m.astype(float, copy=False)).T for m in means], axis=1)

    with threadpool_limits(limits=1, user_api="blas"):
        for draws, means in map_chunks(params, rows, population, rng, chunk_means):
            expected[draws] = means
    if spec.outcome.family == "normal":
        expected = panel.scaling[spec.outcome.name].to_original(expected)
    difference = expected - expected[:, :1]
    names = [STATUS_QUO, *(label for label, _ in entries)]
    shape = (params.chains, params.draws)
    dims = ("chain", "draw", "intervention", "stage")
    out = xr.Dataset(
        {"expected": (dims, expected.reshape(*shape, n_entries, len(groups))),
         "difference": (dims, difference.reshape(*shape, n_entries, len(groups)))},
        coords={"chain": np.arange(params.chains), "draw": np.arange(params.draws),
                "intervention": names, "stage": groups},
    )
    out.attrs.update(outcome=spec.outcome.name, population=population, seed=seed,
                     per_1000=int(spec.outcome.family != "normal"), unit=per_1000_unit(panel),
                     interval=interval_label(), **{HAS_STAGES: int(len(spec.stage_levels) > 1)})
    message = ""
    if warning:
        message = "This comparison comes from a fit that did NOT converge: " + warning
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    staged = len(spec.stage_levels) > 1
    descriptions = {label: "; ".join(iv.describe(staged=staged) for iv in parts) for label, parts in entries}
    return Comparison(draws=out, descriptions=descriptions, better=better, converged=not warning, warning=message)


def _transform(spec: Any, panel: Panel, iv: Any, stage_idx: np.ndarray) -> Any:
    scaling = panel.scaling.get(iv.target)
    loc, scale = (scaling.loc, scaling.scale) if scaling is not None else (0.0, 1.0)
    mask = None
    if iv.stages:
        codes = [list(spec.stages).index(s) for s in iv.stages]
        mask = np.isin(stage_idx, codes)
    return model_transform(spec, iv, loc=loc, scale=scale, sd_observed=scale, stage_mask=mask)
