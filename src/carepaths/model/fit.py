"""A fitted model: the posterior, convergence diagnostics, save and load.

A :class:`Fit` holds the posterior as an :class:`xarray.DataTree` (what PyMC 6 and ArviZ
1.x return), the spec, the panel and the priors. Convergence is checked once, on
creation; a fit that did not converge warns once (:class:`ConvergenceWarning`), and
``fit.converged`` is False with the failed checks in ``fit.convergence_failures``.

Thresholds (``CONVERGENCE_THRESHOLDS``), on population-level parameters (everything but
person and cluster effects): R-hat <= 1.01, bulk and tail ESS >= 400, no divergent
transitions, E-BFMI >= 0.3 in every chain, no tree-depth saturation.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.checks.predictive import Checks, check_seed, compute_checks, thin
from carepaths.counterfactual.comparison import Comparison, compare
from carepaths.counterfactual.effects import Effects, compute_effects
from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, ConvergenceWarning
from carepaths.model.priors import Prior
from carepaths.spec import Contrast, Spec
from carepaths.structural.parameters import ParameterSet

__all__ = ["Fit", "load_fit", "ConvergenceWarning", "CONVERGENCE_THRESHOLDS", "FORMAT_VERSION"]

#: Version 2 names the random-slope SDs and correlations ``sd_slope`` and ``corr_slope``
#: (version 1: ``chol_slope_stds`` and ``chol_slope_corr``); version 1 files still load.
FORMAT_VERSION = 2
_RENAMED_IN_2 = {"chol_slope_stds": "sd_slope", "chol_slope_corr": "corr_slope"}
CONVERGENCE_THRESHOLDS = {
    "max_r_hat": 1.01,
    "min_ess_bulk": 400.0,
    "min_ess_tail": 400.0,
    "max_divergences": 0,
    "min_e_bfmi": 0.3,
    "max_tree_depth_hits": 0,
}
_PANEL_GROUP = "carepaths_panel"


def spec_hash(spec: Spec) -> str:
    """SHA-256 of the spec's canonical JSON: identifies the spec a fit belongs to."""
    text = json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _population_vars(posterior: xr.Dataset) -> list[str]:
    return [
        name
        for name, var in posterior.data_vars.items()
        if not ({"person", "cluster"} & set(var.dims)) and not name.startswith("z_")
        and name != "chol_slope"
    ]


def _e_bfmi(energy: np.ndarray) -> np.ndarray:
    """E-BFMI per chain: mean squared energy change over the energy variance."""
    diff = np.diff(energy, axis=1)
    return (diff**2).mean(axis=1) / energy.var(axis=1)


class Fit:
    """A fitted mediation model.

    Parameters
    ----------
    posterior : xarray.DataTree
        The sampler's output (groups ``posterior``, ``sample_stats``, ...).
    spec : Spec
    panel : Panel
    priors : mapping of str to Prior
    """

    def __init__(
        self, posterior: xr.DataTree, spec: Spec, panel: Panel, priors: Mapping[str, Prior], *, warn: bool = True
    ) -> None:
        self.posterior = posterior
        self.spec = spec
        self.panel = panel
        self.priors = dict(priors)
        self._params: ParameterSet | None = None
        self._checks = self._convergence_checks()
        if warn and not self.converged:
            warnings.warn(self.convergence_message(), ConvergenceWarning, stacklevel=3)

    # ------------------------------------------------------------------ diagnostics
    def parameter_diagnostics(self) -> pd.DataFrame:
        """R-hat, bulk and tail ESS for every population-level parameter element."""
        import arviz as az

        post = self.posterior["posterior"].to_dataset()
        names = _population_vars(post)
        rhat = az.rhat(post[names])
        bulk = az.ess(post[names], method="bulk")
        tail = az.ess(post[names], method="tail")
        rows = []
        for name in names:
            r, b, t = rhat[name], bulk[name], tail[name]
            for idx in np.ndindex(r.shape):
                if np.isnan(r.values[idx]) and np.all(post[name].values[(..., *idx)] == post[name].values[(0, 0, *idx)]):
                    continue  # a constant element (a correlation's diagonal) has no diagnostics
                label = name + ("[" + ",".join(
                    str(r.coords[d].values[i]) if d in r.coords else str(i) for d, i in zip(r.dims, idx, strict=True)
                ) + "]" if idx else "")
                rows.append((label, float(r.values[idx]), float(b.values[idx]), float(t.values[idx])))
        return pd.DataFrame(rows, columns=["parameter", "r_hat", "ess_bulk", "ess_tail"]).set_index("parameter")

    def _convergence_checks(self) -> pd.DataFrame:
        params = self.parameter_diagnostics()
        stats = self.posterior["sample_stats"].to_dataset()
        divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
        depth_var = next((v for v in ("maxdepth_reached", "reached_max_treedepth") if v in stats), None)
        depth_hits = int(stats[depth_var].sum()) if depth_var else 0
        e_bfmi = float(np.min(_e_bfmi(stats["energy"].values))) if "energy" in stats else np.nan
        t = CONVERGENCE_THRESHOLDS
        rows = [
            ("max R-hat", float(params["r_hat"].max()), f"<= {t['max_r_hat']}", params["r_hat"].max() <= t["max_r_hat"]),
            ("min ESS bulk", float(params["ess_bulk"].min()), f">= {t['min_ess_bulk']:g}", params["ess_bulk"].min() >= t["min_ess_bulk"]),
            ("min ESS tail", float(params["ess_tail"].min()), f">= {t['min_ess_tail']:g}", params["ess_tail"].min() >= t["min_ess_tail"]),
            ("divergences", float(divergences), f"<= {t['max_divergences']}", divergences <= t["max_divergences"]),
            ("min E-BFMI", e_bfmi, f">= {t['min_e_bfmi']}", bool(np.isnan(e_bfmi) or e_bfmi >= t["min_e_bfmi"])),
            ("tree depth hits", float(depth_hits), f"<= {t['max_tree_depth_hits']}", depth_hits <= t["max_tree_depth_hits"]),
        ]
        table = pd.DataFrame(rows, columns=["check", "value", "threshold", "ok"]).set_index("check")
        table["ok"] = table["ok"].astype(bool)
        return table

    def diagnostics(self) -> pd.DataFrame:
        """The convergence checks: value, threshold and whether each passed.

        Rows: max R-hat, min ESS bulk, min ESS tail (over population-level parameters),
        divergences, min E-BFMI (over chains), tree depth hits. Per-parameter numbers are
        in :meth:`parameter_diagnostics`.
        """
        return self._checks.copy()

    @property
    def converged(self) -> bool:
        """True when every check in :meth:`diagnostics` passed."""
        return bool(self._checks["ok"].all())

    @property
    def convergence_failures(self) -> list[str]:
        """The checks that failed, as readable lines."""
        return [
            f"{check} = {row.value:.4g} (needs {row.threshold})"
            for check, row in self._checks.iterrows()
            if not row.ok
        ]

    def convergence_message(self) -> str:
        """What failed and what usually helps (empty when converged)."""
        if self.converged:
            return ""
        return (
            "THE FIT DID NOT CONVERGE; its numbers are unreliable. Failed: "
            + "; ".join(self.convergence_failures)
            + ". What usually helps: more tuning and draws (tune=2000, draws=2000), a higher "
            "target_accept (0.95) for divergences, more chains, tighter priors on weakly "
            "identified paths, or pool_stages = true when a stage has few rows."
        )

    # ------------------------------------------------------------------ answers
    def parameters(self) -> ParameterSet:
        """The posterior draws translated for the structural equations (computed once)."""
        if self._params is None:
            self._params = ParameterSet.from_draws(self.spec, self.posterior["posterior"].to_dataset())
        return self._params

    def effects(
        self,
        contrast: Contrast | Mapping[str, object] | None = None,
        *,
        scale: str = "difference",
        by: str | None = "stage",
        population: str = "marginal",
        seed: int = 0,
        estimands: list[str] | tuple[str, ...] | None = None,
    ) -> Effects:
        """TE, NDE, NIE and per-mechanism effects by g-computation on every draw.

        See :func:`carepaths.counterfactual.effects.compute_effects` for the parameters.

        Returns
        -------
        Effects
            ``.draws`` (xarray Dataset) and ``.summary()`` (DataFrame).
        """
        return compute_effects(
            self.parameters(), self.panel, contrast, scale=scale, by=by, population=population, seed=seed,
            estimands=estimands, warning=self.convergence_message(),
        )

    def check(self, *, seed: int, draws: int | None = None) -> Checks:
        """Posterior predictive checks by stage, LOO and LOO-PIT.

        See :func:`carepaths.checks.predictive.compute_checks` and the module docstring
        of :mod:`carepaths.checks.predictive` for the statistics, p-values and flags.

        Parameters
        ----------
        seed : int
            Seed of the replication noise.
        draws : int, optional
            Posterior draws per chain to use (evenly thinned); default all.

        Returns
        -------
        Checks
            ``.table()``, ``.flagged``, ``.loo_summary()``, the replicated data and plots.
        """
        check_seed(seed)
        post = self.posterior["posterior"].to_dataset()
        post = post.isel(draw=thin(post.sizes["draw"], draws, "posterior draws per chain"))
        params = ParameterSet.from_draws(self.spec, post)
        return compute_checks(params, self.panel, post, seed=seed, warning=self.convergence_message())

    def compare(
        self,
        interventions: list[object],
        *,
        population: str = "marginal",
        seed: int = 0,
        better: str = "higher",
    ) -> Comparison:
        """Compare interventions with the status quo per stage, on every posterior draw.

        See :func:`carepaths.counterfactual.comparison.compare` for the parameters.

        Returns
        -------
        Comparison
            ``.summary()``, ``.draws``, ``.plot()``.
        """
        return compare(
            self.parameters(), self.panel, interventions, population=population, seed=seed, better=better,
            warning=self.convergence_message(),
        )

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | Path) -> Path:
        """Write the fit to a netCDF file (no pickle).

        The DataTree is written as is, with the panel's validated frame in its own group
        and the spec and priors as JSON in the root attributes, with a format version
        and the spec's hash. :func:`load_fit` reads it back exactly.
        """
        path = Path(path)
        tree = self.posterior.copy()
        frame = self.panel.frame
        panel_ds = xr.Dataset(
            {col: ("row", _netcdf_safe(frame[col])) for col in frame.columns},
            coords={"row": np.asarray(frame.index)},
        )
        tree[_PANEL_GROUP] = xr.DataTree(panel_ds)
        tree.attrs = {
            **{k: v for k, v in tree.attrs.items() if isinstance(v, str | int | float)},
            "carepaths_format_version": FORMAT_VERSION,
            "carepaths_spec": json.dumps(self.spec.to_dict()),
            "carepaths_spec_hash": spec_hash(self.spec),
            "carepaths_priors": json.dumps({k: p.to_dict() for k, p in self.priors.items()}),
        }
        tree.to_netcdf(path)
        return path

    def __repr__(self) -> str:
        post = self.posterior["posterior"]
        status = "converged" if self.converged else "NOT CONVERGED"
        return (
            f"<Fit {self.spec.name or '(unnamed)'}: {post.sizes['chain']} chains x "
            f"{post.sizes['draw']} draws, {status}>"
        )


def _netcdf_safe(series: pd.Series) -> np.ndarray:
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        return series.astype(str).to_numpy(dtype=str)
    return series.to_numpy()


def load_fit(path: str | Path) -> Fit:
    """Read a fit written by :meth:`Fit.save`.

    Raises
    ------
    CarepathsError
        If the file is missing, was not written by carepaths, has an unknown format
        version, or its spec does not match the stored hash.
    """
    path = Path(path)
    if not path.is_file():
        raise CarepathsError(f"fit file {str(path)!r} does not exist. Check the path.")
    tree = xr.open_datatree(path).load()
    tree.close()
    attrs = tree.attrs
    version = attrs.get("carepaths_format_version")
    if version is None:
        raise CarepathsError(f"{str(path)!r} was not written by carepaths (no format version).")
    if int(version) not in (1, FORMAT_VERSION):
        raise CarepathsError(
            f"{str(path)!r} has carepaths format version {version}; this carepaths reads "
            f"version {FORMAT_VERSION}. Use the carepaths release that wrote it."
        )
    spec = Spec.from_dict(json.loads(attrs["carepaths_spec"]))
    if spec_hash(spec) != attrs.get("carepaths_spec_hash"):
        raise CarepathsError(
            f"{str(path)!r}: the stored spec does not match its hash; the file was modified "
            "or corrupted. Refit and save again."
        )
    priors = {k: Prior.from_dict(v) for k, v in json.loads(attrs["carepaths_priors"]).items()}
    panel_ds = tree[_PANEL_GROUP].to_dataset()
    frame = pd.DataFrame(
        {col: panel_ds[col].values for col in panel_ds.data_vars},
        index=pd.Index(panel_ds["row"].values),
    )
    for col in frame.columns:
        if frame[col].dtype.kind == "U":
            frame[col] = frame[col].astype(object)
    panel = Panel.from_frame(frame, spec)
    posterior = tree.copy()
    del posterior[_PANEL_GROUP]
    if int(version) == 1:
        renamed = posterior["posterior"].to_dataset()
        renamed = renamed.rename({k: v for k, v in _RENAMED_IN_2.items() if k in renamed})
        posterior["posterior"] = xr.DataTree(renamed)
    posterior.attrs = {k: v for k, v in attrs.items() if not k.startswith("carepaths_")}
    return Fit(posterior=posterior, spec=spec, panel=panel, priors=priors)
