"""Time the effect decomposition on the reference workload (issue 4: <= 5 s).

Workload: the reference fit of ``fit_reference.py`` (default five-mechanism spec, 2,000
persons x 4 waves = 8,000 rows, 2 chains x 1,000 draws = 2,000 posterior draws), five
mechanisms, three stages. The posterior is fitted once and cached in
``benchmarks/.cache/reference_fit.nc`` (delete it to refit).

Measured in the same run:

* carepaths: ``fit.effects()`` (marginal population, the default) and
  ``fit.effects(population="conditional")`` — chunks of 32 draws through the batched
  equations, one BLAS thread, chunks spread over the CPUs' threads; also on one thread
  (``population.MAX_WORKERS = 1``), and the first call of the process, which also pays
  the one-time import of DoWhy by the identification step;
* baseline: the same g-computation one posterior draw at a time (the straightforward
  vectorised NumPy version: vectorised over rows, a Python loop over draws), with the
  same equations (:func:`carepaths.counterfactual.worlds.world_means`).

Run: ``.venv/bin/python benchmarks/effects.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache" / "reference_fit.nc"


def reference_fit():  # noqa: ANN201
    import carepaths
    from carepaths import MediationModel

    if CACHE.exists():
        return carepaths.load_fit(CACHE)
    spec = carepaths.load_spec()
    sim = carepaths.simulate(spec, 2000, 4, seed=20261125)
    fit = MediationModel(spec, sim.panel()).fit(draws=1000, tune=1000, chains=2, seed=20261125)
    CACHE.parent.mkdir(exist_ok=True)
    fit.save(CACHE)
    return fit


def baseline_effects(fit) -> np.ndarray:  # noqa: ANN001
    """Marginal-population world means one draw at a time (no batching)."""
    from carepaths.counterfactual import worlds as gcomputation
    from carepaths.structural import equations

    spec, ds = fit.spec, fit.panel.dataset
    p = fit.parameters()
    rng = np.random.default_rng(0)
    K = len(spec.mediators)
    person, stage_idx, C = ds["person_idx"].values, ds["stage_idx"].values, ds["C"].values
    n, n_persons = len(stage_idx), fit.panel.n_persons
    x0 = ds["X"].values
    x1 = x0 + 1.0
    out = np.empty((p.n_samples, 3, 4 + K))
    for i in range(p.n_samples):
        params = p.sample(i)
        u = (rng.standard_normal((n_persons, K)) * p.person["sd_u"][i])[person]
        v = (rng.standard_normal(n_persons) * p.person["sd_v"][i])[person]
        rows = gcomputation.Rows(C=C, stage_idx=stage_idx, u=u, v=v)
        latents = np.column_stack([
            equations.draw_latent(m.family, rng, (n,), sigma=params["sigma_m"][k])
            for k, m in enumerate(spec.mediators)
        ])
        w = gcomputation.world_means(spec, params, rows, x0, x1, latents)
        worlds = np.vstack([*(w[name] for name in gcomputation.WORLDS), w["swap"]])
        for s in range(3):
            out[i, s] = worlds[:, stage_idx == s].mean(axis=1)
    return out


def timed(fn, repeats: int) -> tuple[float, object]:  # noqa: ANN001
    best, result = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    fit = reference_fit()
    p = fit.posterior["posterior"]
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"workload: {p.sizes['chain'] * p.sizes['draw']} draws x {fit.panel.n_obs} rows x "
          f"{len(fit.spec.mediators)} mechanisms x {len(fit.spec.stage_levels)} stages; converged={fit.converged}")
    from carepaths.counterfactual import population

    t_first, _ = timed(lambda: fit.effects(), 1)  # includes the DoWhy import (identification)
    t_marg, eff = timed(lambda: fit.effects(), args.repeats)
    t_cond, _ = timed(lambda: fit.effects(population="conditional"), args.repeats)
    default_workers = population.MAX_WORKERS
    population.MAX_WORKERS = 1
    t_serial, _ = timed(lambda: fit.effects(), args.repeats)
    population.MAX_WORKERS = default_workers
    t_base, _ = timed(lambda: baseline_effects(fit), 1)

    default_chunk = population.CHUNK_SIZE
    chunk_times = {}
    for size in (4, 8, 16, 32, 64):
        population.CHUNK_SIZE = size
        chunk_times[size], _ = timed(lambda: fit.effects(), args.repeats)
    population.CHUNK_SIZE = default_chunk
    print(f"threads: {population.default_workers()}")
    print(f"{'method':<52}{'seconds':>10}{'x baseline':>12}")
    rows = [
        ("baseline: one draw at a time (marginal)", t_base),
        ("carepaths fit.effects() (marginal)", t_marg),
        ("carepaths fit.effects(population=conditional)", t_cond),
        ("carepaths fit.effects(), one thread", t_serial),
        ("carepaths fit.effects(), first call (+ DoWhy import)", t_first),
    ]
    for label, seconds in rows:
        print(f"{label:<52}{seconds:>10.2f}{t_base / seconds:>12.2f}")
    for size, seconds in chunk_times.items():
        print(f"{'  marginal, chunks of ' + str(size) + ' draws':<52}{seconds:>10.2f}{t_base / seconds:>12.2f}")
    print("target: <= 5 s")
    print(eff.summary().loc[["crisis", "recovery", "maintenance"], ["mean", "lower", "upper", "P(>0)"]]
          .xs("TE", level="effect"))


if __name__ == "__main__":
    main()
