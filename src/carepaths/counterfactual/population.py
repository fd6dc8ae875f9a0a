"""The one population sampler: the rows every counterfactual average runs over.

For chunks of parameter draws (:class:`~carepaths.structural.parameters.ParameterSet`),
:func:`map_chunks` builds everything the structural equations need besides the
exposure — the parameters in the batched layout (draw axis last), the rows' covariates,
stages and person effects (:class:`carepaths.counterfactual.worlds.Rows`) and the
mediators' latent noise — as a :class:`Chunk`, and evaluates a function of every chunk
on threads. Each chunk draws from its own child generator (``rng.spawn``, one per chunk
in draw order), so the numbers are the same whatever the number of threads. Posterior
effects and comparisons, the simulator's true effects and the predictive checks'
replicated data all come from here.

Populations
-----------
``"marginal"``
    New persons at the rows' covariates, stages and exposures: person (and cluster)
    effects from their population distribution, latent mediator noise from its family
    and link, fresh for every draw. Effects average per-row expectations, and a row's expectation
    involves only that row's person effects, so each row gets its own draw (the same
    expectations as drawing per person, with less Monte Carlo correlation).
``"conditional"``
    The observed persons with their posterior person effects; the latent mediator noise
    is abducted from the observed mediators at the observed exposure (exact for normal
    mediators, a truncated-logistic or truncated-normal draw for binary and ordinal ones,
    by their link), so the mediators at the observed exposure equal the data.
``"replicate"``
    The observed persons with their person effects, and fresh latent noise: replicated
    data for predictive checks. The person intercepts the model integrates out
    (:func:`~carepaths.structural.parameters.integrated_mediators`) are drawn from
    their conditional posterior given the data for a posterior, and per person from
    their population SD for a prior.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from scipy import special

from carepaths.counterfactual.worlds import Rows
from carepaths.data import Panel
from carepaths.spec import Spec
from carepaths.structural import equations, mixtures
from carepaths.structural.parameters import (
    MISSING_CONFOUNDERS,
    MISSING_EXPOSURE,
    MISSING_MEDIATORS,
    MISSING_WEIGHTS,
    ParameterSet,
    integrated_mediators,
    split_slopes,
)

__all__ = [
    "Chunk", "RowData", "map_chunks", "default_workers", "group_averaging",
    "person_intercept_posterior", "draw_person_intercepts", "compound_symmetric_loglik",
    "POOLED", "POPULATIONS", "CHUNK_SIZE", "MAX_WORKERS", "LINK_DTYPE",
]

POOLED = "pooled"
POPULATIONS = ("marginal", "conditional", "replicate")
#: Seed of the uniform numbers that draw the summed-out mediators' values from their
#: posterior weights (fixed: the same fit gives the same values in every run).
MIXTURE_SEED = 20261128
CHUNK_SIZE = 32  # parameter draws evaluated together (arrays of rows x mediators x chunk)
MAX_WORKERS = 8  # threads of map_chunks (each holds one chunk's arrays)
# Precision of the inverse link over rows x draws x worlds in effects and comparisons:
# single precision evaluates the logit and log links 4x faster on this hardware, with a
# relative rounding of about 6e-8, far below Monte Carlo error; the per-stage averages
# and every contrast are then taken in double precision.
LINK_DTYPE = np.float32
T = TypeVar("T")


@dataclass(frozen=True)
class RowData:
    """The rows a population is drawn at: covariates, stages, exposure, persons.

    Attributes
    ----------
    x : array (obs,)
        The exposure on the model scale (the within-person part when split).
    C : array (obs, confounder)
    stage_idx : int array (obs,)
    person : int array (obs,)
        Person index of each row (0-based; each row its own person without a person column).
    cluster : int array (obs,), optional
    x_between : array (obs,), optional
        The person-mean exposure when the exposure is split within/between.
    M : array (obs, mediator), optional
        Observed mediators on the model scale (needed by the conditional and replicate
        populations).
    y : array (obs,), optional
        The observed outcome on the model scale (needed to draw the observed persons'
        integrated-out intercepts).
    cells : (int array, int array), optional
        Rows and mediators of the missing mediator values the model drew as latent values
        (:meth:`carepaths.data.Panel.latent_cells`); ``M`` and ``y`` hold NaN where a value
        is missing (a panel built with ``missing="model"``).
    confounder_cells : (int array, int array), optional
        Rows and columns of the imputed confounder values
        (:meth:`carepaths.data.Panel.latent_confounders`); ``C`` holds NaN there.
    exposure_rows : int array, optional
        Rows of the imputed exposure values (:meth:`carepaths.data.Panel.latent_exposure`);
        ``x`` holds NaN there.
    """

    x: np.ndarray
    C: np.ndarray
    stage_idx: np.ndarray
    person: np.ndarray
    cluster: np.ndarray | None = None
    x_between: np.ndarray | None = None
    M: np.ndarray | None = None
    y: np.ndarray | None = None
    cells: tuple[np.ndarray, np.ndarray] | None = None
    confounder_cells: tuple[np.ndarray, np.ndarray] | None = None
    exposure_rows: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.stage_idx)

    @classmethod
    def from_panel(cls, panel: Panel) -> RowData:
        """The observed rows of a panel."""
        ds = panel.dataset
        split = panel.spec.structure.center_exposure_within_person
        n = panel.n_obs
        return cls(
            x=ds["X_within" if split else "X"].values,
            C=ds["C"].values,
            stage_idx=ds["stage_idx"].values,
            person=ds["person_idx"].values if "person_idx" in ds else np.arange(n),
            cluster=ds["cluster_idx"].values if "cluster_idx" in ds else None,
            x_between=ds["X_between"].values if split else None,
            M=ds["M"].values,
            y=ds["Y"].values,
            cells=panel.latent_cells() if panel.missing_mode == "model" else None,
            confounder_cells=panel.latent_confounders() if panel.missing_mode == "model" else None,
            exposure_rows=panel.latent_exposure() if panel.missing_mode == "model" else None,
        )


@dataclass(frozen=True)
class Chunk:
    """One chunk of parameter draws with its population.

    Attributes
    ----------
    draws : slice
        Which samples (chain-major) the chunk holds.
    params : dict of str to array
        The equations' arrays with a trailing draw axis.
    rows : Rows
        Covariates, stages and person effects (draw axis last).
    latents : array (obs, mediator, draw)
        Latent mediator noise of the joint system.
    systems : list of arrays or None
        Independent latent noise per mechanism (marginal population with mediator
        edges, when requested), else None.
    rng : numpy.random.Generator
        The chunk's own generator, after the population was drawn from it: further noise
        a chunk needs (replicated outcomes) comes from here, so it too is the same
        whatever the number of threads.
    person_loglik : array (person, draw), optional
        With the outcome's person intercepts integrated out of the model, in the
        conditional and replicate populations: each observed person's outcome
        log-likelihood with the intercept integrated out, ``log p(y_i | theta, M_i)``
        (model scale), what leave-one-person-out LOO needs.
    observed_M : array (obs, mediator, draw), optional
        In the conditional and replicate populations: the observed mediators, with each
        draw's latent values where the model drew missing ones and NaN where a value is
        missing and enters no likelihood (draw axis of length 1 without missing values).
    x : array (obs, draw)
        The observed exposure on the model scale, with each draw's imputed values where it
        is missing (draw axis of length 1 without missing values): what a contrast or
        intervention that starts from the observed exposure starts from
        (:func:`follow_exposure`).
    """

    draws: slice
    params: dict[str, np.ndarray]
    rows: Rows
    latents: np.ndarray
    systems: list[np.ndarray] | None
    rng: np.random.Generator
    person_loglik: np.ndarray | None = None
    observed_M: np.ndarray | None = None
    x: np.ndarray | None = None


def group_averaging(spec: Spec, stage_idx: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Averaging matrix (group, obs) and group labels: each stage, then ``"pooled"``.

    Without stages there is one group, ``"pooled"``.
    """
    S, n = len(spec.stage_levels), len(stage_idx)
    pooled = np.full((1, n), 1.0 / n)
    if S == 1:
        return pooled, [POOLED]
    onehot = np.eye(S)[stage_idx].T
    counts = onehot.sum(axis=1, keepdims=True)
    return np.vstack([onehot / np.maximum(counts, 1.0), pooled]), [*spec.stage_levels, POOLED]


def map_chunks(
    params: ParameterSet,
    rows: RowData,
    population: str,
    rng: np.random.Generator,
    work: Callable[[Chunk], T],
    *,
    systems: bool = False,
    chunk_size: int | None = None,
    workers: int | None = None,
) -> list[tuple[slice, T]]:
    """``work(chunk)`` for every chunk of parameter draws and its population, on threads.

    Each chunk is drawn and evaluated inside a worker thread (NumPy releases the GIL in
    its array loops and random generators) from its own child generator of ``rng``, so
    the results are identical whatever the number of workers.

    Parameters
    ----------
    params : ParameterSet
    rows : RowData
    population : {"marginal", "conditional", "replicate"}
        See the module docstring.
    rng : numpy.random.Generator
        Source of all Monte Carlo noise (same seed, same numbers).
    work : callable
        Maps a :class:`Chunk` to a (small) result, e.g. stage means of its worlds.
    systems : bool
        Also draw one independent latent system per mechanism when the spec has
        mediator edges (interventional effects need them; marginal population only).
    chunk_size : int, optional
        Draws per chunk (default :data:`CHUNK_SIZE`).
    workers : int, optional
        Threads (default :func:`default_workers`); 1 runs serially.

    Returns
    -------
    list of (slice, result)
        The draws of each chunk with ``work``'s result, in draw order.
    """
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {POPULATIONS}, got {population!r}")
    source = _Source(params, rows, population, systems)
    size = CHUNK_SIZE if chunk_size is None else int(chunk_size)
    starts = range(0, params.n_samples, size)
    plan = list(zip((slice(s, min(s + size, params.n_samples)) for s in starts), rng.spawn(len(starts)),
                    strict=True))

    def run(item: tuple[slice, np.random.Generator]) -> tuple[slice, T]:
        return item[0], work(source.chunk(*item))

    workers = default_workers() if workers is None else int(workers)
    if workers <= 1 or len(plan) == 1:
        return [run(item) for item in plan]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, plan))


def default_workers() -> int:
    """Threads for :func:`map_chunks`: the CPUs this process may use, at most :data:`MAX_WORKERS`."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_WORKERS))


# ----------------------------------------------------------------------------- drawing
class _Source:
    """What every chunk shares (rows, spec, parameters); :meth:`chunk` draws one chunk."""

    def __init__(self, params: ParameterSet, rows: RowData, population: str, systems: bool):
        spec = params.spec
        self.spec, self.params, self.rows, self.population, self.systems = spec, params, rows, population, systems
        self.families = [m.family for m in spec.mediators]
        self.links = [m.link for m in spec.mediators]
        if population in ("conditional", "replicate") and rows.M is None:
            raise ValueError(f"the {population} population needs the observed mediators (RowData.M)")
        has_persons = "sd_v" in params.person or "sd_cluster" in params.person
        if population in ("conditional", "replicate") and has_persons and not params.has_observed_persons:
            raise ValueError(f"the {population} population needs the observed persons' effects (draws of a model)")
        self.x_col = rows.x[:, None]
        self.x_between = None if rows.x_between is None else rows.x_between[:, None]
        self._person_rows: Any = None  # persons' rows, for the integrated intercepts (on first use)
        self._uniforms: Any = None  # the summed-out mediators' uniform numbers (on first use)
        self.y_seen = None if rows.y is None else ~np.isnan(np.asarray(rows.y, dtype=float))
        self.missing_m = rows.M is not None and bool(np.isnan(rows.M).any())
        posterior = params.source == "posterior"
        self.missing_c = rows.confounder_cells is not None and len(rows.confounder_cells[0]) > 0
        self.missing_x = rows.exposure_rows is not None and len(rows.exposure_rows) > 0
        for name, needed in ((MISSING_MEDIATORS, population in ("conditional", "replicate") and self.missing_m
                              and rows.cells is not None and len(rows.cells[0]) > 0),
                             (MISSING_CONFOUNDERS, self.missing_c), (MISSING_EXPOSURE, self.missing_x)):
            if needed and posterior and name not in params.person:
                raise ValueError(f"the {population} population needs the latent values of the missing data "
                                 f"({name}: draws of a model fitted with missing='model')")
        if population in ("conditional", "replicate") and params.quadrature_outcome and rows.y is None:
            raise ValueError(f"the {population} population needs the observed outcome (RowData.y) to draw the "
                             "integrated-out person intercepts")

    def covariates(self, sl: slice) -> np.ndarray:
        """The confounders of a chunk of draws: (obs, confounder), or with imputed values
        (obs, confounder, draw), each draw's own. Prior draws (which condition on no data)
        place an imputed value at the confounder's mean, 0 on the model scale."""
        if not self.missing_c:
            return self.rows.C
        rows, columns = self.rows.confounder_cells
        C = np.repeat(np.nan_to_num(self.rows.C, nan=0.0)[:, :, None], sl.stop - sl.start, axis=2)
        if MISSING_CONFOUNDERS in self.params.person:
            C[rows, columns, :] = self.params.person[MISSING_CONFOUNDERS][sl].T
        return C

    def exposure(self, sl: slice) -> np.ndarray:
        """The observed exposure of a chunk of draws: (obs, 1), or with imputed values
        (obs, draw), each draw's own (prior draws: the mean, 0 on the model scale)."""
        if not self.missing_x:
            return self.x_col
        x = np.repeat(np.nan_to_num(self.x_col, nan=0.0), sl.stop - sl.start, axis=1)
        if MISSING_EXPOSURE in self.params.person:
            x[self.rows.exposure_rows] = self.params.person[MISSING_EXPOSURE][sl].T
        return x

    def chunk(self, sl: slice, rng: np.random.Generator) -> Chunk:
        p = self.params.batch(sl)
        C = self.covariates(sl)
        x = self.exposure(sl)
        person_loglik = None
        M_draws = None
        if self.population == "marginal":
            u, v, a_i, b_i, c_i, extra_sd = self._new_persons(sl, rng)
        else:
            u, v, a_i, b_i, c_i = self._observed_persons(sl)
            M_draws = self.observed_mediators(sl)
            if self.params.quadrature_outcome:
                u, v, person_loglik = self._quadrature_persons(p, sl, rng, u, v, M_draws, C, x)
            extra_sd = None
        rows = Rows(C=C, stage_idx=self.rows.stage_idx, u=u, a_i=a_i, b_i=b_i, c_i=c_i, v=v,
                    x_between=self.x_between)
        systems = None
        if self.population == "conditional":
            latents = _abducted_latents(self.spec, p, rows, x, M_draws, rng)
        elif self.population == "replicate":
            rows = self._with_integrated_intercepts(rows, p, sl, rng, M_draws, x)
            B = sl.stop - sl.start
            latents = np.stack(
                [equations.draw_latent(f, rng, (self.rows.n_rows, B), sigma=p["sigma_m"][k], link=self.links[k])
                 for k, f in enumerate(self.families)], axis=1,
            )
        else:
            latents = _fresh_latents(self.families, p, rng, self.rows.n_rows, sl.stop - sl.start, extra_sd,
                                     links=self.links)
            if self.systems and self.spec.mediator_edges:
                systems = [_fresh_latents(self.families, p, rng, self.rows.n_rows, sl.stop - sl.start, extra_sd,
                                          links=self.links)
                           for _ in self.families]
        return Chunk(draws=sl, params=p, rows=rows, latents=latents, systems=systems, rng=rng,
                     person_loglik=person_loglik, observed_M=M_draws, x=x)

    def observed_mediators(self, sl: slice) -> np.ndarray:
        """The observed mediators of a chunk of draws (obs, mediator, draw).

        Where the model drew a missing value as a latent value, each draw's value; where
        a value is missing and enters no likelihood (its row's outcome is missing too),
        NaN. Without missing values, the observed mediators with a draw axis of length 1.
        """
        if not self.missing_m:
            return self.rows.M[:, :, None]
        B = sl.stop - sl.start
        M = np.repeat(self.rows.M[:, :, None], B, axis=2)
        if self.rows.cells is not None and len(self.rows.cells[0]) and MISSING_MEDIATORS in self.params.person:
            cell_rows, cell_meds = self.rows.cells
            M[cell_rows, cell_meds, :] = self.params.person[MISSING_MEDIATORS][sl].T
        if MISSING_WEIGHTS in self.params.person:  # summed-out binary / ordinal values: drawn by weight
            groups, uniforms = self._mixture()
            mixtures.draw_components(groups, self.params.person[MISSING_WEIGHTS][sl], uniforms[sl], M)
        return M

    def _mixture(self) -> tuple[list[mixtures.MixtureGroup], np.ndarray]:
        """The summed-out mediators' groups and one uniform number per (draw, row), drawn
        once for all draws so that every chunking and thread count gives the same values."""
        if self._uniforms is None:
            if self.y_seen is None:
                raise ValueError("drawing the summed-out mediator values needs the observed outcome (RowData.y)")
            groups = mixtures.mixture_groups(self.spec, self.rows.M, self.y_seen)
            n_draws = self.params.person[MISSING_WEIGHTS].shape[0]
            uniforms = np.random.default_rng(MIXTURE_SEED).random((n_draws, sum(len(g.rows) for g in groups)))
            self._uniforms = (groups, uniforms)
        return self._uniforms

    def _outcome_groups(self) -> tuple[np.ndarray | None, np.ndarray, Any]:
        """Rows with an observed outcome (None: all), the persons they hold, and their PersonRows."""
        from carepaths.structural import person_integrals as pi

        if self._person_rows is None:
            person = self.rows.person
            if self.y_seen is None or self.y_seen.all():
                self._person_rows = (None, np.arange(int(person.max()) + 1), pi.PersonRows.from_index(person))
            else:
                sel = np.flatnonzero(self.y_seen)
                persons, inverse = np.unique(person[sel], return_inverse=True)
                self._person_rows = (sel, persons, pi.PersonRows.from_index(inverse))
        return self._person_rows

    def _new_persons(self, sl: slice, rng: np.random.Generator) -> tuple[Any, Any, Any, Any, Any, np.ndarray]:
        """New persons' effects, one draw per row, and the extra SD merged into latents.

        Without mediator edges a normal mediator's person intercept and residual are one
        normal variable with variance ``sd_u^2 + sigma^2``: it is drawn as such.
        """
        spec, pp, families = self.spec, self.params.person, self.families
        K, B, n = len(families), sl.stop - sl.start, self.rows.n_rows
        merge = not spec.mediator_edges
        u: Any = 0.0
        v: Any = 0.0
        a_i = b_i = c_i = 0.0
        sd_u = pp["sd_u"][sl].T if "sd_u" in pp else np.zeros((K, B))  # (mediator, draw)
        if "sd_v" in pp:
            v = rng.standard_normal((n, B)) * pp["sd_v"][sl]
            explicit = [k for k, f in enumerate(families) if not (merge and f == "normal")]
            if explicit:
                u = np.zeros((n, K, B))
                u[:, explicit] = rng.standard_normal((n, len(explicit), B)) * sd_u[explicit]
        if "cov_slope" in pp:
            chol = np.linalg.cholesky(pp["cov_slope"][sl])  # (draw, slope, slope)
            z = rng.standard_normal((n, B, 2 * K + 1))
            a_i, b_i, c_i = split_slopes(np.einsum("bij,rbj->rib", chol, z), K, axis=1)
        if "sd_cluster" in pp:
            v = v + rng.standard_normal((n, B)) * pp["sd_cluster"][sl]
        extra_sd = sd_u if merge else np.zeros((K, B))
        return u, v, a_i, b_i, c_i, extra_sd

    def _observed_persons(self, sl: slice) -> tuple[Any, Any, Any, Any, Any]:
        """The observed persons' effects per row (draw axis last); 0.0 where the model has none."""
        pp, K, person = self.params.person, len(self.families), self.rows.person
        u: Any = 0.0
        v: Any = 0.0
        a_i = b_i = c_i = 0.0
        if "v" in pp:
            v = _draws_last(pp["v"][sl][:, person])
            u = _draws_last(pp["u"][sl][:, person])
        if "slopes" in pp:
            a_i, b_i, c_i = split_slopes(_draws_last(pp["slopes"][sl][:, person]), K, axis=1)
        if self.rows.cluster is not None and "cluster" in pp:
            v = v + _draws_last(pp["cluster"][sl][:, self.rows.cluster])
        return u, v, a_i, b_i, c_i

    def _quadrature_persons(
        self, p: Mapping[str, np.ndarray], sl: slice, rng: np.random.Generator, u: Any, v: Any,
        M_draws: np.ndarray, C: np.ndarray, x: np.ndarray,
    ) -> tuple[Any, Any, np.ndarray]:
        """The observed persons' intercepts that the model integrated out, drawn given each draw.

        Each person's outcome intercept (and binary or ordinal mediators' intercepts) from
        its exact conditional posterior given the draw's parameters and the person's data
        (:func:`carepaths.structural.person_integrals.draw_conditional`; a normal
        outcome's is normal-normal conjugate, :func:`draw_person_intercepts`). Given the
        parameters the intercepts are independent of everything else, so a posterior draw
        of the parameters followed by these is a draw from the joint posterior. Also
        returns each person's outcome log-likelihood with the intercept integrated out
        (person, draw). Rows whose outcome is missing carry nothing about it; a person
        with no observed outcome has the intercept's population distribution and a
        log-likelihood of 0.
        """
        from carepaths.structural import person_integrals as pi

        spec, rows, B = self.spec, self.rows, sl.stop - sl.start
        sel, persons, groups = self._outcome_groups()
        n_persons = int(rows.person.max()) + 1
        n, K = rows.n_rows, len(self.families)
        nodes = spec.structure.quadrature_nodes
        v_new = np.array(np.broadcast_to(v, (n, B)), dtype=float)  # cluster intercepts, if any
        eta_y = equations.outcome_predictor(
            p, x=x, M=M_draws, C=C, stage_idx=rows.stage_idx, person_intercept=v_new,
            x_between=self.x_between,
        )
        y, person = rows.y, rows.person
        if sel is not None:  # the rows with an observed outcome
            eta_y, y, person = eta_y[sel], y[sel], np.searchsorted(persons, person[sel])
        sd_v = self.params.person["sd_v"][sl]
        family, link = spec.outcome.family, spec.outcome.link
        person_loglik = np.zeros((n_persons, B))
        for b in range(B):
            if family == "normal":
                counts = np.diff(groups.starts).astype(float)
                resid = y - eta_y[:, b]
                sums = np.zeros(groups.n_persons)
                np.add.at(sums, person, resid)
                squares = np.zeros(groups.n_persons)
                np.add.at(squares, person, resid**2)
                loglik = compound_symmetric_loglik(sums, squares, counts, p["sigma_y"][b], sd_v[b])
                draw = draw_person_intercepts(sums, counts, p["sigma_y"][b], sd_v[b], rng)
            elif family == "negative_binomial":
                phi = p["phi"][b]
                marginal = pi.count_marginal(y, eta_y[:, b], phi, sd_v[b], groups, order=nodes)
                constant = special.gammaln(y + phi) - special.gammaln(phi) - special.gammaln(y + 1.0) + (
                    phi * np.log(phi))
                loglik = marginal["logp"] + np.bincount(person, constant, groups.n_persons)
                draw = pi.draw_conditional(marginal, groups, sd_v[b], rng, y=y, eta=eta_y[:, b], phi=phi)
            else:
                lo, hi = pi.interval_bounds("bernoulli", y, eta_y[:, b])
                marginal = pi.interval_marginal(lo, hi, sd_v[b], groups, probit=link == "probit", order=nodes)
                loglik = marginal["logp"]
                draw = pi.draw_conditional(marginal, groups, sd_v[b], rng, lo=lo, hi=hi, probit=link == "probit")
            if sel is not None:  # persons without an observed outcome: the population distribution
                full = rng.standard_normal(n_persons) * sd_v[b]
                full[persons] = draw
                draw = full
            person_loglik[persons, b] = loglik
            v_new[:, b] += draw[rows.person]
        mediators = self.params.quadrature_mediators
        if not mediators:
            return u, v_new, person_loglik
        groups = pi.PersonRows.from_index(rows.person)  # binary and ordinal mediators are never missing
        u_new = np.zeros((n, K, B)) if not np.ndim(u) else np.array(u, dtype=float, copy=True)
        sd_u = self.params.person["sd_u"][sl]
        for k in mediators:
            med = spec.mediators[k]
            eta = equations.mediator_predictor(
                p, k, x=x, C=C, stage_idx=rows.stage_idx, x_between=self.x_between,
                M=M_draws if spec.mediator_edges else None,
            )
            eta = np.broadcast_to(eta, (n, B))
            for b in range(B):
                cuts = p["cutpoints"][k][:, b] if med.family == "ordinal" else None
                if cuts is not None:
                    cuts = cuts[~np.isnan(cuts)]
                lo, hi = pi.interval_bounds(med.family, rows.M[:, k], eta[:, b], cuts)
                marginal = pi.interval_marginal(lo, hi, sd_u[b, k], groups, probit=med.link == "probit", order=nodes)
                draw = pi.draw_conditional(marginal, groups, sd_u[b, k], rng, lo=lo, hi=hi, probit=med.link == "probit")
                u_new[:, k, b] = draw[rows.person]
        return u_new, v_new, person_loglik

    def _with_integrated_intercepts(
        self, rows: Rows, p: Mapping[str, np.ndarray], sl: slice, rng: np.random.Generator, M_draws: np.ndarray,
        x: np.ndarray,
    ) -> Rows:
        """Rows with the integrated-out person intercepts drawn (replicate population).

        A normal mediator's person sums run over its observed and latent values
        (``M_draws``); its values missing with the outcome (NaN there) carry nothing.
        """
        integrated = integrated_mediators(self.spec)
        if not integrated:
            return rows
        person, B = self.rows.person, sl.stop - sl.start
        n_persons = int(person.max()) + 1
        counts = np.bincount(person, minlength=n_persons).astype(float)
        u = np.array(rows.u, dtype=float, copy=True) if np.ndim(rows.u) else np.zeros((len(person), len(self.families), B))
        posterior = self.params.source == "posterior"
        for k in integrated:
            sd_u = self.params.person["sd_u"][sl][:, k]
            if posterior:  # given the data: the exact conditional posterior
                eta = equations.mediator_predictor(
                    p, k, x=x, C=rows.C, stage_idx=rows.stage_idx, x_between=rows.x_between,
                    M=M_draws if self.spec.mediator_edges else None,
                )
                sums = np.zeros((n_persons, B))
                resid = M_draws[:, k] - eta
                counts_k = counts
                if self.missing_m:
                    seen = ~np.isnan(M_draws[:, k, 0])
                    resid, counts_k = np.where(seen[:, None], resid, 0.0), np.bincount(
                        person[seen], minlength=n_persons).astype(float)
                np.add.at(sums, person, resid)
                u_k = draw_person_intercepts(sums, counts_k, p["sigma_m"][k], sd_u, rng)
            else:  # new persons: from the population SD
                u_k = rng.standard_normal((n_persons, B)) * sd_u
            u[:, k] = u_k[person]
        return Rows(C=rows.C, stage_idx=rows.stage_idx, u=u, a_i=rows.a_i, b_i=rows.b_i, c_i=rows.c_i,
                    v=rows.v, x_between=rows.x_between)


def follow_exposure(values: np.ndarray, x_obs: np.ndarray, chunk: Chunk) -> np.ndarray:
    """An exposure array defined from the observed exposure, at a chunk's draws.

    ``values`` (obs,) is the observed exposure plus a constant (a shift contrast:
    ``x_obs + 1``) or does not depend on it (fixed contrast values). Where the observed
    exposure is missing and imputed (NaN in ``x_obs`` and so in ``values``), each draw's
    imputed value plus that constant. Returns (obs, 1), or (obs, draw) with imputed rows.
    """
    column = np.asarray(values, dtype=float).reshape(len(values), 1)
    gap = np.isnan(column[:, 0])
    if not gap.any() or chunk.x is None or chunk.x.shape[1] == 1:
        return column
    offset = float(np.nanmean(column[:, 0] - x_obs))  # the same at every row with an observed exposure
    return np.where(gap[:, None], chunk.x + offset, column)


def _draws_last(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(values, 0, -1))


def _fresh_latents(
    families: Sequence[str], p: Mapping[str, np.ndarray], rng: np.random.Generator, n: int, B: int,
    extra_sd: np.ndarray, *, links: Sequence[str | None] | None = None,
) -> np.ndarray:
    """Latent noise (obs, mediator, draw); normal mediators' SD widened by ``extra_sd``;
    bernoulli and ordinal mediators' by their ``links`` (logit where None)."""
    latents = np.empty((n, len(families), B))
    normal = [k for k, f in enumerate(families) if f == "normal"]
    if normal:  # one call for all normal mediators
        sd = np.sqrt(p["sigma_m"][normal] ** 2 + extra_sd[normal] ** 2)  # (mediator, draw)
        latents[:, normal] = equations.draw_latent("normal", rng, (n, len(normal), B), sigma=sd)
    for k, family in enumerate(families):
        if family != "normal":
            latents[:, k] = equations.draw_latent(family, rng, (n, B), link=None if links is None else links[k])
    return latents


def _abducted_latents(
    spec: Spec, p: Mapping[str, np.ndarray], rows: Rows, x_obs: np.ndarray,
    M_draws: np.ndarray, rng: np.random.Generator,
) -> np.ndarray:
    """Each row's latent mediator noise given its observed (or latent) value; where a value
    is missing and was not drawn by the model (NaN), fresh noise from its distribution."""
    eta_shape = (len(x_obs), p["c"].shape[-1])
    latents = np.empty((M_draws.shape[0], M_draws.shape[1], eta_shape[1]))
    for k, med in enumerate(spec.mediators):
        u_k = rows.u[:, k] if np.ndim(rows.u) else 0.0
        a_k = rows.a_i[:, k] if np.ndim(rows.a_i) else 0.0
        eta: Any = equations.mediator_predictor(
            p, k, x=x_obs, C=rows.C, stage_idx=rows.stage_idx, person_intercept=u_k,
            person_slope=a_k, x_between=rows.x_between,
            M=M_draws if spec.mediator_edges else None,
        )
        latents[:, k] = equations.latent_from_observed(
            med.family, np.broadcast_to(eta, eta_shape), M_draws[:, k], rng, cutpoints=p["cutpoints"][k],
            link=med.link,
        )
        gap = np.isnan(latents[:, k])
        if gap.any():  # missing and not drawn by the model: noise from the mediator's distribution
            fresh = equations.draw_latent(med.family, rng, eta_shape, sigma=p["sigma_m"][k], link=med.link)
            latents[:, k] = np.where(gap, fresh, latents[:, k])
    return latents


# ----------------------------------------------------------------------------- person intercepts
def person_intercept_posterior(
    resid_sums: np.ndarray, counts: np.ndarray, sigma: Any, sd_u: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of a normal mediator's integrated-out person intercept, given the data.

    In ``person_effects = "intercepts"`` mode the model integrates the person intercepts
    u_i of normal mediators out (:mod:`carepaths.model.build`), so the posterior holds
    none. Given one draw of the other parameters, person i's waves are
    ``r_it = u_i + e_it`` with ``u_i ~ Normal(0, sd_u^2)``, ``e_it ~ Normal(0, sigma^2)``
    and ``r_it`` the residual of the mediator after its fixed part (without u); the
    conditional posterior is normal (conjugacy)::

        u_i | rest ~ Normal( var_u * sum_t r_it / (sigma^2 + n_i var_u),
                             var_u * sigma^2 / (sigma^2 + n_i var_u) )

    and, as u enters no other equation, drawing it from here after a posterior draw of
    the rest is a draw from the joint posterior.

    Parameters
    ----------
    resid_sums : array (person,) or (person, draw)
        Per-person sums of the residuals ``sum_t r_it``.
    counts : array (person,)
        Waves per person ``n_i``.
    sigma, sd_u : float or array (draw,)
        Residual SD and person-intercept SD (one per draw with a draw axis).

    Returns
    -------
    mean, var : arrays shaped like ``resid_sums``
    """
    counts = np.asarray(counts, dtype=float)
    resid_sums = np.asarray(resid_sums, dtype=float)
    if resid_sums.ndim == 2:
        counts = counts[:, None]
    var_e, var_u = np.asarray(sigma, dtype=float) ** 2, np.asarray(sd_u, dtype=float) ** 2
    denom = var_e + counts * var_u
    mean = var_u * resid_sums / denom
    var = np.broadcast_to(var_u * var_e / denom, mean.shape)
    return mean, var


def draw_person_intercepts(
    resid_sums: np.ndarray, counts: np.ndarray, sigma: Any, sd_u: Any, rng: np.random.Generator
) -> np.ndarray:
    """One draw of integrated-out person intercepts from :func:`person_intercept_posterior`.

    Parameters
    ----------
    resid_sums, counts, sigma, sd_u
        As in :func:`person_intercept_posterior`.
    rng : numpy.random.Generator

    Returns
    -------
    array shaped like ``resid_sums``
    """
    mean, var = person_intercept_posterior(resid_sums, counts, sigma, sd_u)
    return mean + np.sqrt(var) * rng.standard_normal(mean.shape)


def compound_symmetric_loglik(
    resid_sums: np.ndarray, resid_squares: np.ndarray, counts: np.ndarray, sigma: float, sd: float,
) -> np.ndarray:
    """Each person's normal log-likelihood with a normal person intercept integrated out.

    Person i's waves are jointly normal with covariance ``sigma^2 I + sd^2 J`` (the
    model's own form, :mod:`carepaths.model.build`)::

        -0.5 [sum r^2 / sigma^2 - sd^2 (sum r)^2 / (sigma^2 (sigma^2 + n sd^2))
              + (n - 1) log sigma^2 + log(sigma^2 + n sd^2) + n log(2 pi)]

    Parameters
    ----------
    resid_sums, resid_squares : array (person,)
        Per-person sums of the residuals and of their squares.
    counts : array (person,)
        Waves per person.
    sigma, sd : float
        Residual SD and person-intercept SD.
    """
    var_e, var_u = float(sigma) ** 2, float(sd) ** 2
    denom = var_e + counts * var_u
    quad = resid_squares / var_e - var_u * resid_sums**2 / (var_e * denom)
    return -0.5 * (quad + (counts - 1.0) * np.log(var_e) + np.log(denom) + counts * np.log(2 * np.pi))
