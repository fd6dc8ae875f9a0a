"""A study's results: coverage tables, power curves and rank uniformity, from its records.

Every table counts the replicates whose fit did not converge (``not_converged``) and the
result says so loudly; the numbers include those replicates, as a study of what a user's
analysis would report must.

* :meth:`StudyResult.coverage`: per quantity, the share of replicates whose interval (the
  plan's level) covers the truth, with its binomial Monte Carlo SE;
* :meth:`StudyResult.power`: per design, the share of replicates whose posterior supports
  the claim, with a 95% Clopper-Pearson interval for that share;
* :meth:`StudyResult.ranks`: per quantity, two tests that the truth's rank among the
  posterior draws is uniform, what a correctly computed posterior gives when the truth is
  drawn from the prior (an SBC study; with a fixed truth, ranks show bias instead): a
  chi-square test of the binned ranks, and ArviZ's ECDF test (``pot_c``) of the normalised
  ranks, which :meth:`StudyResult.plot` draws (``arviz_plots.plot_ecdf_pit``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carepaths.studies.design import StudyPlan
from carepaths.studies.replicate import RANK_DRAWS
from carepaths.studies.store import read_records

__all__ = ["StudyResult", "load_study"]


class StudyResult:
    """The finished replicates of a study in a folder.

    Attributes
    ----------
    folder : pathlib.Path
    plan : StudyPlan
    records : list of dict
        One per finished replicate (:func:`carepaths.studies.replicate.run_replicate`).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.records = read_records(self.folder)  # refuses a folder without a study
        self.plan = StudyPlan.from_json((self.folder / "study.json").read_text(encoding="utf-8"))

    @property
    def complete(self) -> bool:
        """Whether every replicate of the plan has its record."""
        return len(self.records) == len(self.plan.tasks())

    @property
    def not_converged(self) -> int:
        """Replicates whose fit did not converge."""
        return sum(not r["converged"] for r in self.records)

    def __repr__(self) -> str:
        warn = (f"; WARNING: {self.not_converged} replicate fit(s) did NOT CONVERGE (counted in every table)"
                if self.not_converged else "")
        return (f"<StudyResult {self.plan.kind}: {len(self.records)} of {len(self.plan.tasks())} replicates in "
                f"{self.folder}{warn}>")

    def table(self) -> pd.DataFrame:
        """Every quantity of every replicate: one row each (design, replicate, quantity, ...)."""
        rows = []
        for r in self.records:
            for q in r["quantities"]:
                rows.append({"design": r["design"], "persons": r["persons"], "waves": r["waves"],
                             "replicate": r["replicate"], "converged": r["converged"], **q})
        return pd.DataFrame(rows)

    def coverage(self) -> pd.DataFrame:
        """Coverage of the truth by the plan's intervals, per design and quantity.

        Returns
        -------
        pandas.DataFrame
            Index ``(persons, quantity)``; columns ``replicates``, ``coverage``, ``mc_se``
            (binomial), ``mean_z`` (mean of (mean - truth) / sd), ``not_converged``;
            ``attrs["level"]``.
        """
        t = self.table()
        t["covered"] = (t["lower"] <= t["truth"]) & (t["truth"] <= t["upper"])
        t["z"] = (t["mean"] - t["truth"]) / t["sd"]
        g = t.groupby(["persons", "quantity"], sort=False)
        out = pd.DataFrame({"replicates": g.size(), "coverage": g["covered"].mean(), "mean_z": g["z"].mean(),
                            "not_converged": g["converged"].apply(lambda c: int((~c).sum()))})
        out["mc_se"] = np.sqrt(out["coverage"] * (1 - out["coverage"]) / out["replicates"])
        out.attrs["level"] = self.plan.level
        return out[["replicates", "coverage", "mc_se", "mean_z", "not_converged"]]

    def power(self) -> pd.DataFrame:
        """The share of replicates whose posterior supports the claim, per design.

        Returns
        -------
        pandas.DataFrame
            One row per design: ``persons``, ``waves``, ``replicates``, ``supported``,
            ``power``, ``lower``, ``upper`` (95% Clopper-Pearson), ``mean_probability``,
            ``not_converged``; ``attrs["claim"]`` and ``attrs["threshold"]``.
        """
        from scipy.stats import binomtest

        from carepaths.exceptions import CarepathsError

        if self.plan.kind != "power":
            raise CarepathsError(f"power() needs a power study; this one is a {self.plan.kind} study.")
        rows = []
        for d, (persons, waves) in enumerate(self.plan.designs):
            mine = [r for r in self.records if r["design"] == d]
            if not mine:
                continue
            k, n = sum(r["supported"] for r in mine), len(mine)
            ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
            rows.append({"persons": persons, "waves": waves, "replicates": n, "supported": k, "power": k / n,
                         "lower": ci.low, "upper": ci.high,
                         "mean_probability": float(np.mean([r["claim_probability"] for r in mine])),
                         "not_converged": sum(not r["converged"] for r in mine)})
        out = pd.DataFrame(rows)
        out.attrs["claim"], out.attrs["threshold"] = self.plan.claim, self.plan.threshold
        return out

    def ranks(self, bins: int | None = None) -> pd.DataFrame:
        """Chi-square test of uniform ranks of the truth among the posterior draws, per quantity.

        Parameters
        ----------
        bins : int, optional
            Equal-width bins of the ranks 0..99 (default: at most 10, with at least 5
            replicates expected per bin).

        Returns
        -------
        pandas.DataFrame
            Index ``(persons, quantity)``: ``replicates``, ``chi2``, ``p_value``, ``bins``.
        """
        import arviz_stats  # noqa: F401  (the .azstats accessor)
        from scipy.stats import chisquare

        t = self.table()
        rows = []
        for (persons, quantity), g in t.groupby(["persons", "quantity"], sort=False):
            n = len(g)
            k = bins or max(2, min(10, n // 5))
            counts = np.bincount(np.minimum(g["rank"].to_numpy() * k // (RANK_DRAWS + 1), k - 1), minlength=k)
            stat, p = chisquare(counts)
            rows.append({"persons": persons, "quantity": quantity, "replicates": n, "chi2": float(stat),
                         "p_value": float(p), "bins": k})
        out = pd.DataFrame(rows).set_index(["persons", "quantity"])
        ecdf = []
        for persons in out.index.get_level_values("persons").unique():
            pit = self.pit(persons)
            p_values = pit.azstats.uniformity_test(dim=["chain", "draw"], method="pot_c")[0]["pit"]
            ecdf.extend(float(p_values.sel(quantity=q)) for q in out.loc[persons].index)
        out["ecdf_p_value"] = ecdf
        return out

    def pit(self, persons: int | None = None) -> Any:
        """The truth's normalised ranks per replicate, as ArviZ's SBC plots take them.

        A rank r among ``RANK_DRAWS`` draws becomes ``(r + u) / (RANK_DRAWS + 1)`` with
        ``u`` uniform on (0, 1) (fixed seed: the same records give the same values), which is
        uniform on (0, 1) exactly when the ranks are uniform on 0..``RANK_DRAWS``.

        Parameters
        ----------
        persons : int, optional
            The design (default: the first).

        Returns
        -------
        xarray.Dataset
            ``pit`` (chain=1, draw=replicate, quantity).
        """
        import xarray as xr

        t = self.table()
        persons = int(t["persons"].iloc[0]) if persons is None else persons
        wide = t[t["persons"] == persons].pivot(index="replicate", columns="quantity", values="rank")
        wide = wide[list(dict.fromkeys(t["quantity"]))]
        jitter = np.random.default_rng(20261207).uniform(size=wide.shape)
        values = (wide.to_numpy(dtype=float) + jitter) / (RANK_DRAWS + 1)
        return xr.Dataset({"pit": (("chain", "draw", "quantity"), values[None])},
                          coords={"draw": wide.index.to_numpy(), "quantity": list(wide.columns)})

    def plot(self) -> Any:
        """The study's figure: rank ECDFs (SBC), power curve with its intervals, or coverage per quantity.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        if self.plan.kind == "sbc":
            import arviz_plots as azp
            import xarray as xr
            from arviz_base import rc_context

            pit = self.pit()
            with rc_context({"plot.max_subplots": max(40, pit.sizes["quantity"])}):  # 42 for the default spec
                pc = azp.plot_ecdf_pit(xr.DataTree.from_dict({"prior_sbc": pit}), backend="matplotlib", col_wrap=6)
            fig = pc.viz["figure"].item()
            fig.set_size_inches(18, 2.4 * -(-pit.sizes["quantity"] // 6) + 0.6)
            for ax in fig.axes:  # "pit\n<quantity>": the quantity is the panel's name
                ax.set_title(ax.get_title().split("\n")[-1], fontsize=9)
            fig.tight_layout(rect=(0, 0, 1, 0.95))
            title = "SBC: rank ECDF minus uniform, with ArviZ's uniformity test (pot_c)"
            if self.not_converged:
                title += f"; {self.not_converged} replicate fit(s) NOT CONVERGED"
            fig.suptitle(title, color="red" if self.not_converged else "black")
            return fig
        if self.plan.kind == "power":
            p = self.power()
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.errorbar(p["persons"], p["power"], yerr=[p["power"] - p["lower"], p["upper"] - p["power"]],
                        marker="o", capsize=3)
            ax.set_xlabel("persons")
            ax.set_ylabel(f"P(posterior probability >= {self.plan.threshold:g})")
            ax.set_ylim(0, 1)
            ax.set_title(f"power: {self.plan.claim}")
        else:
            c = self.coverage().reset_index()
            fig, ax = plt.subplots(figsize=(6, 0.25 * len(c) + 1))
            labels = [f"{q} (n={p})" if len(set(c["persons"])) > 1 else q for p, q in zip(c["persons"], c["quantity"])]
            ax.errorbar(c["coverage"], range(len(c)), xerr=2 * c["mc_se"], fmt="o", capsize=2)
            ax.axvline(self.plan.level, color="grey", linestyle="--")
            ax.set_yticks(range(len(c)), labels)
            ax.set_xlabel(f"coverage of the {self.plan.level:.0%} intervals (±2 MC SE)")
            ax.set_xlim(0, 1)
        if self.not_converged:
            fig.suptitle(f"{self.not_converged} replicate fit(s) NOT CONVERGED", color="red")
        fig.tight_layout()
        return fig


def load_study(out: str | Path) -> StudyResult:
    """The results of the study in a folder (finished replicates only; see ``.complete``).

    Parameters
    ----------
    out : str or path

    Returns
    -------
    StudyResult
    """
    return StudyResult(out)
