"""The one interval definition every table and plot of carepaths uses.

Posterior intervals are equal-tailed (the 2.5% and 97.5% quantiles of the posterior
draws): equal-tailed intervals are invariant to monotone transformations (a risk ratio's
interval is the exponential of its log's), which highest-density intervals are not, and
95% is what readers of the medical literature expect. Change :data:`INTERVAL_PROB` here
and every summary and figure follows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INTERVAL_KIND", "INTERVAL_PROB", "interval_label", "interval_bounds"]

#: The kind of every interval: equal-tailed (quantiles of the draws).
INTERVAL_KIND = "equal-tailed"
#: The probability every interval holds.
INTERVAL_PROB = 0.95


def interval_label() -> str:
    """A short label of the interval, e.g. ``"95% equal-tailed interval"``."""
    return f"{INTERVAL_PROB:.0%} {INTERVAL_KIND} interval"


def interval_bounds(values: np.ndarray, axis: int | tuple[int, ...] = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the package interval over ``axis`` of posterior draws."""
    tail = (1.0 - INTERVAL_PROB) / 2.0
    lower, upper = np.quantile(values, [tail, 1.0 - tail], axis=axis)
    return lower, upper
