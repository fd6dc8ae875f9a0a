"""Shared pieces of the model's log-density: data arrays as graph inputs, and the normal
density of a person's waves with the person intercept integrated out."""

from __future__ import annotations

from typing import Any

import numpy as np


def _data(name: str, value: np.ndarray) -> Any:
    """A data array as a shared variable of the log-density graph, not an inlined constant.

    Numba embeds inlined constant arrays in the compiled code, which makes compilation
    slow and ties the compiled function to one dataset; as inputs, the same compiled
    log-density serves every dataset of the spec and comes from the on-disk cache
    (``benchmarks/README.md``).
    """
    import pytensor

    return pytensor.shared(np.ascontiguousarray(value), name=name)


def _compound_symmetric_normal(
    resid_sums: Any, rss: Any, sigma: Any, sd_u: Any, counts: np.ndarray, *, prefix: str = ""
) -> Any:
    """Log-densities of normal mediators with a person intercept integrated out.

    For person i with n_i waves and residuals r (after the fixed part), the waves are
    jointly normal with covariance ``sigma^2 I + sd_u^2 J``, whose log-density is

    ``-0.5 * [sum r^2 / sigma^2 - sd_u^2 (sum r)^2 / (sigma^2 (sigma^2 + n_i sd_u^2))]
      - 0.5 * [(n_i - 1) log sigma^2 + log(sigma^2 + n_i sd_u^2) + n_i log(2 pi)]``.

    Persons with the same number of waves share every term but ``(sum r)^2``, so the
    persons are grouped by their number of waves (a panel has few distinct counts) and
    only the squared sums are per person.

    Parameters
    ----------
    resid_sums : tensor (person, mediator)
        Per-person sums of the residuals.
    rss : tensor (mediator,)
        Sum of all squared residuals.
    sigma, sd_u : tensor (mediator,)
        Residual SD and person-intercept SD.
    counts : int array (person,)
        Waves per person.

    Returns
    -------
    tensor (mediator,)
    """
    import pytensor.tensor as pt

    sizes, group = np.unique(counts, return_inverse=True)  # distinct wave counts
    indicator = np.eye(len(sizes))[group].T  # (count group, person)
    n_group = indicator.sum(axis=1)  # persons per count group
    sizes_t = _data(f"{prefix}wave_counts", sizes.astype(float))
    n_group_t = _data(f"{prefix}persons_per_wave_count", n_group)
    var_e, var_u = sigma**2, sd_u**2
    denom = var_e + sizes_t[:, None] * var_u  # (count group, mediator)
    squared_sums = pt.dot(_data(f"{prefix}wave_count_indicator", indicator), resid_sums**2)  # (count group, mediator)
    quad = rss / var_e - pt.sum(var_u * squared_sums / (var_e * denom), axis=0)
    logdet = pt.sum(n_group_t * (sizes_t - 1.0)) * pt.log(var_e) + pt.sum(n_group_t[:, None] * pt.log(denom), axis=0)
    return -0.5 * (quad + logdet + pt.sum(n_group_t * sizes_t) * np.log(2 * np.pi))
