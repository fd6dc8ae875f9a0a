"""The one interval definition every table and plot of carepaths uses.

Posterior intervals are equal-tailed (the 2.5% and 97.5% quantiles of the posterior
draws): equal-tailed intervals are invariant to monotone transformations (a risk ratio's
interval is the exponential of its log's), which highest-density intervals are not, and
95% is what readers of the medical literature expect. Change :data:`INTERVAL_PROB` here
and every summary and figure follows.

ArviZ
-----
Summaries and figures are computed by ArviZ (``arviz_stats``, ``arviz_plots``), whose
default interval since ArviZ 1.0 is the 89% equal-tailed one, read from
``arviz_base.rcParams["stats.ci_kind"]`` and ``["stats.ci_prob"]``. carepaths never
changes those global settings (a user's own ArviZ plots keep the user's defaults): every
call it makes passes the package interval explicitly, as :func:`arviz_interval` gives it
(``ci_kind="eti", ci_prob=0.95``). :func:`interval_context` is the same setting as a
context manager, for ArviZ functions that read only the rcParams; it sets the global
rcParams for the duration of the ``with`` block (ArviZ's ``rc_context``), so it is not
meant for code running on several threads at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "INTERVAL_KIND",
    "INTERVAL_PROB",
    "ARVIZ_CI_KIND",
    "interval_label",
    "interval_bounds",
    "arviz_interval",
    "interval_rcparams",
    "interval_context",
]

#: The kind of every interval: equal-tailed (quantiles of the draws).
INTERVAL_KIND = "equal-tailed"
#: The probability every interval holds.
INTERVAL_PROB = 0.95
#: ArviZ's name for the package's interval kind (``rcParams["stats.ci_kind"]``).
ARVIZ_CI_KIND = "eti"


def interval_label() -> str:
    """A short label of the interval, e.g. ``"95% equal-tailed interval"``."""
    return f"{INTERVAL_PROB:.0%} {INTERVAL_KIND} interval"


def arviz_interval() -> dict[str, Any]:
    """The package interval as ArviZ keyword arguments: ``{"ci_kind": "eti", "ci_prob": 0.95}``.

    Pass them to ``arviz_stats.summary`` (and ``arviz_plots`` functions that take
    ``ci_kind``/``ci_prob``) instead of relying on ArviZ's rcParams.
    """
    return {"ci_kind": ARVIZ_CI_KIND, "ci_prob": INTERVAL_PROB}


def interval_rcparams() -> dict[str, Any]:
    """The package interval as ArviZ rcParams: ``{"stats.ci_kind": "eti", "stats.ci_prob": 0.95}``."""
    return {"stats.ci_kind": ARVIZ_CI_KIND, "stats.ci_prob": INTERVAL_PROB}


def interval_context() -> Any:
    """A context manager under which ArviZ's default interval is the package interval.

    Returns
    -------
    arviz_base.rc_context
        Sets ``rcParams["stats.ci_kind"]`` and ``["stats.ci_prob"]`` on entry and restores
        the user's values on exit. For ArviZ calls that take no ``ci_kind``/``ci_prob``
        argument; elsewhere pass :func:`arviz_interval` explicitly.

    Examples
    --------
    >>> import arviz_plots as azp
    >>> with interval_context():  # doctest: +SKIP
    ...     azp.plot_forest(fit.posterior, var_names=["a"])
    """
    from arviz_base import rc_context

    return rc_context(rc=interval_rcparams())


def interval_bounds(values: np.ndarray, axis: int | tuple[int, ...] = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the package interval over ``axis`` of posterior draws.

    Computed by ArviZ's equal-tailed interval (``arviz_stats``; NumPy's linear quantiles,
    so identical to ``numpy.quantile(values, [0.025, 0.975], axis=axis)``).

    Parameters
    ----------
    values : array-like
        Posterior draws.
    axis : int or tuple of int
        The draw axes to reduce.

    Returns
    -------
    lower, upper : numpy.ndarray
        The bounds, with ``axis`` removed.
    """
    from arviz_stats.base import array_stats

    bounds = array_stats.eti(np.asarray(values), INTERVAL_PROB, axis=axis)
    return bounds[..., 0][()], bounds[..., 1][()]  # [()]: a NumPy scalar for one-dimensional draws
