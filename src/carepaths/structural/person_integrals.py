"""Person intercepts integrated out of the likelihood by adaptive Gauss-Hermite quadrature.

Given the parameters, each person's intercept of the outcome (and of each binary or
ordinal mediator) is one-dimensional and independent of every other person's, so its
integral is a one-dimensional sum, as in lme4's ``glmer(nAGQ = ...)``::

    log p(y_i | theta) = log  integral  prod_t p(y_it | eta_it + v) Normal(v; 0, sd^2) dv

For each person the integrand's mode ``m`` and curvature ``s`` are found by a safeguarded
Newton iteration (the integrand is log-concave for every family here), and the integral
is the Gauss-Hermite sum over ``v_q = m + s x_q``; the order (number of nodes) is the
spec's ``structure.quadrature_nodes``. The order, its measured accuracy and the
derivation are in ``docs/model.md``.

Every likelihood here is written as an *interval* of the row's latent error, which covers
the binary and the ordinal families with either link::

    p(y_it | eta_it + v) = F(hi_it - v) - F(lo_it - v)

with ``F`` the standard logistic (logit) or normal (probit) CDF: for a binary variable
``(lo, hi) = (-eta, inf)`` when y = 1 and ``(-inf, -eta)`` when y = 0; for category k of
an ordinal one ``(c_{k-1} - eta, c_k - eta)``. A count outcome (negative binomial, log
link) has its own kernel. A normal outcome's intercept is integrated analytically
elsewhere (compound-symmetric normal, as the normal mediators').

The kernels are compiled with Numba and work on rows grouped by person (``starts``: the
offsets of each person's rows, the rows sorted by person). They return each person's log
marginal likelihood and, on request, its gradient with respect to every row's interval
bounds (or predictor) and the intercept SD. The gradient holds the nodes' centre and scale
fixed: their own derivatives contribute only at the order of the quadrature error (the
exact integral does not depend on where the nodes are centred), so it is the derivative of
the integral to that accuracy, and a Hamiltonian sampler that uses it stays exact for the
log-density it evaluates (the leapfrog map is reversible and volume-preserving for any
gradient field that depends on the position alone).

:func:`draw_conditional` draws the intercepts afterwards from their exact conditional
posterior given the parameters (rejection sampling under a tangent envelope, exact for a
log-concave density), for the effects, checks and the conditional population.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "DEFAULT_NODES",
    "PersonRows",
    "hermite_nodes",
    "interval_bounds",
    "interval_marginal",
    "count_marginal",
    "draw_conditional",
    "kernels",
    "kernel_version",
]

#: Adaptive Gauss-Hermite nodes per person intercept, chosen from measured accuracy
#: (``benchmarks/quadrature_accuracy.py``, ``docs/model.md``).
DEFAULT_NODES = 11


@lru_cache(maxsize=32)
def hermite_nodes(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and log weights (weights summing to 1).

    ``sum_q exp(logw_q) g(x_q)`` approximates ``E g(Z)`` for a standard normal ``Z``.
    """
    from numpy.polynomial.hermite_e import hermegauss

    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 1:
        raise ValueError(f"the quadrature order must be a positive integer, got {order!r}")
    x, w = hermegauss(int(order))
    return x.astype(float), np.log(w / math.sqrt(2.0 * math.pi))


@dataclass(frozen=True)
class PersonRows:
    """Rows grouped by person: ``order`` sorts the rows by person, ``starts`` delimits them.

    Person ``i``'s rows are ``order[starts[i]:starts[i + 1]]`` (persons numbered 0..P-1, as
    ``Panel``'s ``person_idx``; every person has at least one row).
    """

    order: np.ndarray
    starts: np.ndarray

    @property
    def n_persons(self) -> int:
        """The number of persons."""
        return len(self.starts) - 1

    @classmethod
    def from_index(cls, person: np.ndarray) -> PersonRows:
        """From each row's person number."""
        person = np.asarray(person, dtype=np.int64)
        order = np.argsort(person, kind="stable")
        counts = np.bincount(person)
        if np.any(counts == 0):
            raise ValueError("person numbers must be 0..P-1 with every person present")
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(order=order.astype(np.int64), starts=starts)


def interval_bounds(family: str, y: np.ndarray, eta: np.ndarray, cutpoints: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` of each row's latent error for a binary or ordinal variable (NumPy).

    Parameters
    ----------
    family : {"bernoulli", "ordinal"}
    y : array (obs,)
        0/1, or the ordinal category index 0..C-1.
    eta : array (obs,)
        The predictor without the person intercept.
    cutpoints : array (C - 1,), optional
        The ordinal variable's cutpoints.
    """
    y = np.asarray(y)
    if family == "bernoulli":
        yes = y > 0.5
        return np.where(yes, -eta, -np.inf), np.where(yes, np.inf, -eta)
    cuts = np.concatenate([[-np.inf], np.asarray(cutpoints, dtype=float), [np.inf]])
    code = y.astype(np.int64)
    return cuts[code] - eta, cuts[code + 1] - eta


# ----------------------------------------------------------------------------- numba kernels
@lru_cache(maxsize=1)
def kernel_version() -> int:
    """A number that changes whenever the kernels' source does (for compiled-model cache keys)."""
    import hashlib
    import inspect
    import sys

    from carepaths.structural import _quadrature_kernels

    source = inspect.getsource(sys.modules[__name__]) + inspect.getsource(_quadrature_kernels)
    return int(hashlib.sha256(source.encode()).hexdigest()[:12], 16)


def kernels() -> dict:
    """The compiled Numba kernels (compiled, or loaded from Numba's on-disk cache, on first use)."""
    from carepaths.structural import _quadrature_kernels as k

    return {"interval_all": k.interval_all, "count_all": k.count_all, "interval_draw": k.interval_draw,
            "count_draw": k.count_draw, "total": k.total}


def interval_marginal(
    lo: np.ndarray, hi: np.ndarray, sd: float, rows: PersonRows, *, probit: bool, order: int = DEFAULT_NODES,
    grad: bool = False,
) -> dict[str, np.ndarray]:
    """Per-person log marginal likelihood of a binary or ordinal variable (one draw).

    Parameters
    ----------
    lo, hi : array (obs,)
        Each row's latent-error interval without the person intercept
        (:func:`interval_bounds`).
    sd : float
        The person intercepts' SD.
    rows : PersonRows
    probit : bool
        The link: probit (normal errors) or logit (logistic errors).
    order : int
        Gauss-Hermite nodes.
    grad : bool
        Also return the gradient.

    Returns
    -------
    dict
        ``logp`` (person,), ``mode`` and ``scale`` (person,): the integrand's mode and
        the inverse square root of its curvature there; with ``grad``, ``d_sd``
        (person,), ``d_lo`` and ``d_hi`` (obs,).
    """
    x, logw = hermite_nodes(order)
    logp, d_sd, mode, scale, d_lo, d_hi = kernels()["interval_all"](
        np.ascontiguousarray(lo, dtype=float), np.ascontiguousarray(hi, dtype=float), rows.order, rows.starts,
        float(sd), bool(probit), x, logw, bool(grad))
    out = {"logp": logp, "mode": mode, "scale": scale}
    if grad:
        out.update(d_sd=d_sd, d_lo=d_lo, d_hi=d_hi)
    return out


def count_marginal(
    y: np.ndarray, eta: np.ndarray, phi: float, sd: float, rows: PersonRows, *, order: int = DEFAULT_NODES,
    grad: bool = False,
) -> dict[str, np.ndarray]:
    """Per-person log marginal likelihood of a negative binomial outcome (one draw).

    Without the terms that depend on ``phi`` and ``y`` only: ``lgamma(y + phi) -
    lgamma(phi) - lgamma(y + 1) + phi log(phi)`` per row, which the caller adds.

    Returns
    -------
    dict
        ``logp``, ``mode``, ``scale`` (person,); with ``grad``, ``d_sd``, ``d_phi``
        (person,) and ``d_eta`` (obs,).
    """
    x, logw = hermite_nodes(order)
    logp, d_sd, d_phi, mode, scale, d_eta = kernels()["count_all"](
        np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(eta, dtype=float), rows.order, rows.starts,
        float(phi), float(sd), x, logw, bool(grad))
    out = {"logp": logp, "mode": mode, "scale": scale}
    if grad:
        out.update(d_sd=d_sd, d_phi=d_phi, d_eta=d_eta)
    return out


def draw_conditional(
    marginal: dict[str, np.ndarray], rows: PersonRows, sd: float, rng: np.random.Generator, *,
    lo: np.ndarray | None = None, hi: np.ndarray | None = None, probit: bool = False,
    y: np.ndarray | None = None, eta: np.ndarray | None = None, phi: float | None = None,
) -> np.ndarray:
    """One exact draw of every person's intercept from its conditional posterior (one draw).

    Rejection sampling under the tangent envelope of the log-concave integrand
    (``exp(h)``, h the person's log-likelihood plus the normal prior), built at the mode
    and one ``scale`` either side that :func:`interval_marginal` or
    :func:`count_marginal` found (``marginal``); about 85% of proposals are accepted for
    a near-normal integrand. Give ``lo``, ``hi`` and ``probit`` for a binary or ordinal
    variable, ``y``, ``eta`` and ``phi`` for a count outcome.

    Returns
    -------
    array (person,)
    """
    k = kernels()
    if lo is not None:
        out = k["interval_draw"](np.ascontiguousarray(lo, dtype=float), np.ascontiguousarray(hi, dtype=float),
                                 rows.order, rows.starts, float(sd), bool(probit), marginal["mode"],
                                 marginal["scale"], rng)
    else:
        out = k["count_draw"](np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(eta, dtype=float),
                              rows.order, rows.starts, float(phi), float(sd), marginal["mode"], marginal["scale"],
                              rng)
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise FloatingPointError(
            f"could not draw the person intercepts of {bad.size} person(s) (first: person number {bad[0]}) from "
            f"their conditional posterior: their log-likelihood is not finite at the given parameters "
            f"(SD {sd!r}). Check the posterior draws for non-finite values."
        )
    return out
