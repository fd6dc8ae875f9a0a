"""Comparing interventions on every posterior draw: :func:`compare` and :class:`Comparison`.

For each intervention (or combination) and each stage, the expected outcome with the
intervention in place, its difference from the status quo (on the outcome's scale and
per 1,000 persons: extra or fewer persons in care, or visits, per 1,000 person-waves),
the package interval (:mod:`carepaths.intervals`), the posterior probability that it is
better than the status quo, and the probability that it is the best of those compared.
"Better" is a value judgement the user states: ``better="higher"`` (default: more care
use) or ``"lower"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.counterfactual.interventions import intervention_means, model_transform, validate
from carepaths.counterfactual.population import LINK_DTYPE, Chunk, RowData, group_averaging, map_chunks
from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, ConvergenceWarning
from carepaths.intervals import interval_bounds, interval_label
from carepaths.structural.parameters import ParameterSet

__all__ = ["Comparison", "compare"]

STATUS_QUO = "status quo"


@dataclass(frozen=True)
class Comparison:
    """Interventions compared with the status quo, per stage, on every posterior draw.

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
    """

    draws: xr.Dataset
    descriptions: dict[str, str]
    better: str
    converged: bool
    warning: str = ""

    @property
    def interventions(self) -> list[str]:
        """The compared interventions (without the status quo)."""
        return [str(n) for n in self.draws["intervention"].values if n != STATUS_QUO]

    def _flat(self, name: str) -> np.ndarray:
        values = self.draws[name].values
        return values.reshape(-1, *values.shape[2:])  # (sample, intervention, stage)

    def summary(self) -> pd.DataFrame:
        """One row per intervention and stage.

        Columns: ``expected`` (posterior mean of the expected outcome), ``difference``
        and its interval ``lower``/``upper``, the same per 1,000 persons (binary and
        count outcomes), ``P(better)`` than the status quo and ``P(best)`` among the
        interventions compared (ties count for none).
        """
        expected, diff = self._flat("expected"), self._flat("difference")
        names = [str(n) for n in self.draws["intervention"].values]
        stages = [str(s) for s in self.draws["stage"].values]
        sign = 1.0 if self.better == "higher" else -1.0
        compared = diff[:, 1:, :] * sign  # (sample, intervention, stage)
        best = np.zeros_like(compared, dtype=float)
        if compared.shape[1]:
            top = compared.max(axis=1, keepdims=True)
            unique = (compared == top).sum(axis=1, keepdims=True) == 1
            best = ((compared == top) & unique).astype(float)
        per_1000 = self.draws.attrs["per_1000"]
        rows = []
        for j, name in enumerate(names):
            for s, stage in enumerate(stages):
                d = diff[:, j, s]
                lower, upper = interval_bounds(d)
                row = {
                    "intervention": name, "stage": stage, "expected": expected[:, j, s].mean(),
                    "difference": d.mean(), "lower": lower, "upper": upper,
                }
                if per_1000:
                    row.update(per_1000=1000 * d.mean(), per_1000_lower=1000 * lower, per_1000_upper=1000 * upper)
                row["P(better)"] = np.nan if j == 0 else float(np.mean(sign * d > 0))
                row["P(best)"] = np.nan if j == 0 else float(best[:, j - 1, s].mean())
                rows.append(row)
        table = pd.DataFrame(rows).set_index(["intervention", "stage"])
        if not self.converged:
            table["warning"] = "NOT CONVERGED"
        table.attrs.update(interval=interval_label(), better=self.better, warning=self.warning,
                           outcome=self.draws.attrs["outcome"], population=self.draws.attrs["population"])
        return table

    def plot_data(self) -> pd.DataFrame:
        """The numbers :meth:`plot` draws: difference (per 1,000 when available) and interval."""
        table = self.summary().drop(index=STATUS_QUO, level="intervention")
        if "per_1000" in table:
            return table[["per_1000", "per_1000_lower", "per_1000_upper"]].set_axis(
                ["estimate", "lower", "upper"], axis=1
            )
        return table[["difference", "lower", "upper"]].set_axis(["estimate", "lower", "upper"], axis=1)

    def plot(self, *, figsize: tuple[float, float] | None = None) -> Any:
        """Forest plot: each intervention's change against the status quo, one panel per stage.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        data = self.plot_data()
        stages = list(dict.fromkeys(data.index.get_level_values("stage")))
        names = list(dict.fromkeys(data.index.get_level_values("intervention")))
        fig, axes = plt.subplots(
            1, len(stages), sharey=True, squeeze=False,
            figsize=figsize or (3.2 * len(stages), 0.6 * len(names) + 1.6),
        )
        unit = "per 1,000 person-waves" if "per_1000" in self.summary() else "difference"
        for ax, stage in zip(axes[0], stages, strict=True):
            at = data.xs(stage, level="stage").loc[names]
            y = np.arange(len(names))[::-1]
            ax.errorbar(at["estimate"], y, xerr=[at["estimate"] - at["lower"], at["upper"] - at["estimate"]],
                        fmt="o", color="C0", capsize=3)
            ax.axvline(0.0, color="0.5", lw=0.8, ls="--")
            ax.set_title(stage)
            ax.set_xlabel(f"change in {self.draws.attrs['outcome']} {unit}")
            ax.set_yticks(y, names)
        title = f"Interventions vs status quo ({interval_label()})"
        if not self.converged:
            title += " - NOT CONVERGED"
        fig.suptitle(title)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        banner = "" if self.converged else ", NOT CONVERGED"
        return f"<Comparison of {len(self.interventions)} interventions (better = {self.better}){banner}>"


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
        Seed of the Monte Carlo noise; same fit and seed, same numbers.
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
        arguments.
    """
    from threadpoolctl import threadpool_limits

    spec = panel.spec
    if better not in ("higher", "lower"):
        raise CarepathsError(f"better must be 'higher' or 'lower', got {better!r}.")
    if population not in ("marginal", "conditional"):
        raise CarepathsError(f"population must be 'marginal' or 'conditional', got {population!r}.")
    entries = validate(spec, interventions)
    rows = RowData.from_panel(panel)
    stage_idx = rows.stage_idx
    x_obs = rows.x
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
                spec, chunk.params, chunk.rows, x_obs[:, None], chunk.latents, tf,
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
                     per_1000=int(spec.outcome.family != "normal"), interval=interval_label())
    message = ""
    if warning:
        message = "This comparison comes from a fit that did NOT converge: " + warning
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    descriptions = {label: "; ".join(iv.describe() for iv in parts) for label, parts in entries}
    return Comparison(draws=out, descriptions=descriptions, better=better, converged=not warning, warning=message)


def _transform(spec: Any, panel: Panel, iv: Any, stage_idx: np.ndarray) -> Any:
    scaling = panel.scaling.get(iv.target)
    loc, scale = (scaling.loc, scaling.scale) if scaling is not None else (0.0, 1.0)
    mask = None
    if iv.stages:
        codes = [list(spec.stages).index(s) for s in iv.stages]
        mask = np.isin(stage_idx, codes)
    return model_transform(spec, iv, loc=loc, scale=scale, sd_observed=scale, stage_mask=mask)
