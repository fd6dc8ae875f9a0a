"""The counterfactual population that effects and interventions average over.

For chunks of posterior draws, :func:`map_population_chunks` builds everything the
structural equations need besides the exposure — the parameters in the batched layout
(draw axis last, see :mod:`carepaths.equations`), the rows' covariates, stages and person
effects (:class:`carepaths.gcomputation.Rows`) and the mediators' latent noise — as a
:class:`Chunk`, and evaluates a function of every chunk on several threads, with the same
numbers as a serial loop (each chunk has its own child generator).

``population="marginal"``
    New persons at the observed rows' covariates, stages and exposures: person (and
    cluster) effects are drawn from their population distribution and latent mediator
    noise from its family, fresh for every draw. Effects average per-row expectations,
    and a row's expectation involves only that row's person effects, so each row gets
    its own draw (the same expectations as drawing per person, with less Monte Carlo
    correlation).
``population="conditional"``
    The observed persons with their posterior person effects; the latent mediator noise
    is abducted from the observed mediators at the observed exposure (exact for normal
    mediators, a truncated-logistic draw for binary and ordinal ones), so the mediators
    at the observed exposure equal the data.

:func:`group_averaging` gives the matrix that averages per-row values over the rows of
each stage and over all rows (``"pooled"``, the stage mix of the data).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from carepaths import equations, gcomputation
from carepaths.parameters import PosteriorParams
from carepaths.spec import Spec

__all__ = [
    "Chunk", "map_population_chunks", "default_workers", "observed_person_effects",
    "group_averaging", "draws_last", "POOLED", "CHUNK_SIZE", "MAX_WORKERS", "LINK_DTYPE",
]

POOLED = "pooled"
CHUNK_SIZE = 32  # posterior draws evaluated together (arrays of rows x mediators x chunk)
MAX_WORKERS = 8  # threads of map_population_chunks (each holds one chunk's arrays)
# Precision of the inverse link over rows x draws x worlds in effects and comparisons:
# single precision evaluates the logit and log links 4x faster on this hardware, with a
# relative rounding of about 6e-8, far below Monte Carlo error; the per-stage averages
# and every contrast are then taken in double precision.
LINK_DTYPE = np.float32
T = TypeVar("T")


@dataclass(frozen=True)
class Chunk:
    """One chunk of posterior draws with its counterfactual population.

    Attributes
    ----------
    draws : slice
        Which posterior samples (chain-major) the chunk holds.
    params : dict of str to array
        Parameters with a trailing draw axis.
    rows : Rows
        Covariates, stages and person effects (draw axis last).
    latents : array (obs, mediator, draw)
        Latent mediator noise of the joint system.
    systems : list of arrays or None
        Independent latent noise per mechanism (marginal population with mediator
        edges, when requested), else None.
    """

    draws: slice
    params: dict[str, np.ndarray]
    rows: gcomputation.Rows
    latents: np.ndarray
    systems: list[np.ndarray] | None


def group_averaging(spec: Spec, panel: Any) -> tuple[np.ndarray, list[str]]:
    """Averaging matrix (group, obs) and group labels: each stage, then ``"pooled"``.

    Without stages there is one group, ``"pooled"``.
    """
    stage_idx = panel.dataset["stage_idx"].values
    S, n = len(spec.stage_levels), len(stage_idx)
    pooled = np.full((1, n), 1.0 / n)
    if S == 1:
        return pooled, [POOLED]
    onehot = np.eye(S)[stage_idx].T
    counts = onehot.sum(axis=1, keepdims=True)
    return np.vstack([onehot / np.maximum(counts, 1.0), pooled]), [*spec.stage_levels, POOLED]


def draws_last(values: np.ndarray) -> np.ndarray:
    """(draw, ...) -> contiguous (..., draw): the batched layout of the equations."""
    return np.ascontiguousarray(np.moveaxis(values, 0, -1))


def observed_person_effects(
    params: PosteriorParams, draws: slice, person: np.ndarray, cluster: np.ndarray | None
) -> tuple[Any, Any, Any, Any, Any]:
    """The observed persons' posterior effects per row, in the batched layout.

    Returns ``(u, v, a_i, b_i, c_i)``: mediator intercepts (obs, mediator, draw), outcome
    intercept plus cluster intercept (obs, draw), and the random-slope deviations; each
    is 0.0 when the model has no such effect.
    """
    pp, K = params.person, len(params.spec.mediators)
    u = a_i = b_i = c_i = v = 0.0
    if "v" in pp:
        v = draws_last(pp["v"][draws][:, person])
        u = draws_last(pp["u"][draws][:, person])
    if "slopes" in pp:
        slopes = draws_last(pp["slopes"][draws][:, person])
        a_i, b_i, c_i = slopes[:, :K], slopes[:, K : 2 * K], slopes[:, 2 * K]
    if cluster is not None:
        v = v + draws_last(pp["cluster"][draws][:, cluster])
    return u, v, a_i, b_i, c_i


def map_population_chunks(
    fit: Any,
    params: PosteriorParams,
    x_obs: np.ndarray,
    population: str,
    rng: np.random.Generator,
    work: Callable[[Chunk], T],
    *,
    systems: bool = False,
    chunk_size: int | None = None,
    workers: int | None = None,
) -> list[tuple[slice, T]]:
    """``work(chunk)`` for every chunk of posterior draws and its population, on threads.

    Each chunk is drawn and evaluated inside a worker thread (NumPy releases the GIL in
    its array loops and random generators) from its own child generator of ``rng``
    (``rng.spawn``, one per chunk in draw order), so the results are identical whatever
    the number of workers.

    Parameters
    ----------
    fit : Fit
    params : PosteriorParams
    x_obs : array (obs,)
        The observed exposure on the model scale (within-person part when split).
    population : {"marginal", "conditional"}
    rng : numpy.random.Generator
        Source of all Monte Carlo noise (same seed, same numbers).
    work : callable
        Maps a :class:`Chunk` to a (small) result, e.g. stage means of its worlds.
    workers : int, optional
        Threads (default :func:`default_workers`); 1 runs serially.
    systems : bool
        Also draw one independent latent system per mechanism when the spec has
        mediator edges (interventional effects need them; marginal population only).
    chunk_size : int, optional
        Draws per chunk (default :data:`CHUNK_SIZE`).

    Returns
    -------
    list of (slice, result)
        The draws of each chunk with ``work``'s result, in draw order.
    """
    source = _PopulationSource(fit, params, x_obs, population, systems)
    plan = list(_chunk_plan(params.n_samples, rng, chunk_size))

    def run(item: tuple[slice, np.random.Generator]) -> tuple[slice, T]:
        return item[0], work(source.chunk(*item))

    workers = default_workers() if workers is None else int(workers)
    if workers <= 1 or len(plan) == 1:
        return [run(item) for item in plan]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, plan))


def default_workers() -> int:
    """Threads for :func:`map_population_chunks`: the CPUs this process may use, at most
    :data:`MAX_WORKERS`."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_WORKERS))


def _chunk_plan(
    n_samples: int, rng: np.random.Generator, chunk_size: int | None
) -> list[tuple[slice, np.random.Generator]]:
    size = CHUNK_SIZE if chunk_size is None else int(chunk_size)
    starts = range(0, n_samples, size)
    children = rng.spawn(len(starts))
    return [(slice(s, min(s + size, n_samples)), child) for s, child in zip(starts, children)]


class _PopulationSource:
    """What every chunk shares (data, spec, posterior); :meth:`chunk` draws one chunk."""

    def __init__(self, fit: Any, params: PosteriorParams, x_obs: np.ndarray, population: str, systems: bool):
        spec, ds = fit.spec, fit.panel.dataset
        self.spec, self.params, self.population, self.systems = spec, params, population, systems
        self.stage_idx = ds["stage_idx"].values
        self.n_rows = len(self.stage_idx)
        self.C = ds["C"].values
        self.x_between = (
            ds["X_between"].values[:, None] if spec.structure.center_exposure_within_person else None
        )
        self.person = ds["person_idx"].values if "person_idx" in ds else np.arange(self.n_rows)
        self.cluster = ds["cluster_idx"].values if "cluster_idx" in ds else None
        self.M_obs = ds["M"].values
        self.families = [m.family for m in spec.mediators]
        self.x_col = x_obs[:, None]

    def chunk(self, sl: slice, rng: np.random.Generator) -> Chunk:
        spec, params, families, n_rows = self.spec, self.params, self.families, self.n_rows
        K, pp, B = len(families), params.person, sl.stop - sl.start
        p = {name: draws_last(value[sl]) for name, value in params.fixed.items()}
        u = a_i = b_i = c_i = v = 0.0
        merge = not spec.mediator_edges
        if self.population == "conditional":
            u, v, a_i, b_i, c_i = observed_person_effects(params, sl, self.person, self.cluster)
        else:
            # new persons: every effect is an average of per-row expectations, and a
            # row's expectation involves only that row's own person effects, so each
            # row gets its own draw (no gather by person; same expectations). Without
            # mediator edges a normal mediator's person intercept and residual are one
            # normal variable with variance sd_u^2 + sigma^2.
            sd_u = pp["sd_u"][sl].T if "v" in pp else np.zeros((K, B))  # (mediator, draw)
            if "v" in pp:
                v = rng.standard_normal((n_rows, B)) * pp["sd_v"][sl]
                explicit = [k for k, f in enumerate(families) if not (merge and f == "normal")]
                if explicit:
                    u = np.zeros((n_rows, K, B))
                    u[:, explicit] = rng.standard_normal((n_rows, len(explicit), B)) * sd_u[explicit]
            if "slopes" in pp:
                chol = np.linalg.cholesky(pp["slope_cov"][sl])  # (draw, slope, slope)
                z = rng.standard_normal((n_rows, B, 2 * K + 1))
                slopes = np.einsum("bij,rbj->rib", chol, z)
                a_i, b_i, c_i = slopes[:, :K], slopes[:, K : 2 * K], slopes[:, 2 * K]
            if self.cluster is not None:
                v = v + rng.standard_normal((n_rows, B)) * pp["sd_cluster"][sl]
        rows = gcomputation.Rows(
            C=self.C, stage_idx=self.stage_idx, u=u, a_i=a_i, b_i=b_i, c_i=c_i, v=v, x_between=self.x_between
        )
        extra = None
        if self.population == "conditional":
            latents = _abducted_latents(spec, p, rows, self.x_col, self.M_obs, rng)
        else:
            extra_sd = sd_u if merge else np.zeros((K, B))
            latents = _fresh_latents(families, p, rng, n_rows, B, extra_sd)
            if self.systems and spec.mediator_edges:
                extra = [_fresh_latents(families, p, rng, n_rows, B, extra_sd) for _ in range(K)]
        return Chunk(draws=sl, params=p, rows=rows, latents=latents, systems=extra)


def _fresh_latents(
    families: Sequence[str], p: Mapping[str, np.ndarray], rng: np.random.Generator, n: int, B: int,
    extra_sd: np.ndarray,
) -> np.ndarray:
    """Latent noise (obs, mediator, draw); normal mediators' SD widened by ``extra_sd``."""
    latents = np.empty((n, len(families), B))
    normal = [k for k, f in enumerate(families) if f == "normal"]
    if normal:  # one call for all normal mediators
        sd = np.sqrt(p["sigma_m"][normal] ** 2 + extra_sd[normal] ** 2)  # (mediator, draw)
        latents[:, normal] = equations.draw_latent("normal", rng, (n, len(normal), B), sigma=sd)
    for k, family in enumerate(families):
        if family != "normal":
            latents[:, k] = equations.draw_latent(family, rng, (n, B))
    return latents


def _abducted_latents(
    spec: Spec, p: Mapping[str, np.ndarray], rows: gcomputation.Rows, x_obs: np.ndarray,
    M_obs: np.ndarray, rng: np.random.Generator,
) -> np.ndarray:
    eta_shape = (len(x_obs), p["c"].shape[-1])
    latents = np.empty((M_obs.shape[0], M_obs.shape[1], eta_shape[1]))
    for k, med in enumerate(spec.mediators):
        u_k = rows.u[:, k] if np.ndim(rows.u) else 0.0
        a_k = rows.a_i[:, k] if np.ndim(rows.a_i) else 0.0
        eta: Any = equations.mediator_predictor(
            p, k, x=x_obs, C=rows.C, stage_idx=rows.stage_idx, person_intercept=u_k,
            person_slope=a_k, x_between=rows.x_between,
            M=M_obs[:, :, None] if spec.mediator_edges else None,
        )
        latents[:, k] = equations.latent_from_observed(
            med.family, np.broadcast_to(eta, eta_shape), M_obs[:, k], rng, cutpoints=p["cutpoints"][k]
        )
    return latents
