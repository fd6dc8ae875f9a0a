"""Numba kernels of :mod:`carepaths.structural.person_integrals` (private; see its docstring).

Module-level compiled functions so that Numba's on-disk cache (``cache=True``) serves every
process after the first; imported only when a kernel is first needed. ``error_model="numpy"``:
a division by zero gives inf or nan (which the Newton line search and the sampler handle)
instead of raising inside a log-density evaluation.
"""

import math

import numpy as np
from numba import njit

_LOG_2PI = math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
_NEWTON_MAX = 60
#: Newton stops once its next step is at most this many scales (see interval_mode).
_CENTRE_TOL = 1e-3
#: Rejection-sampling proposals per person before giving up (about 1.2 are needed).
_MAX_PROPOSALS = 10_000
#: The logit fast path (logit_row) is used while every finite bound and node is within this.
_FAST_LIMIT = 300.0


@njit(cache=True, inline="always", error_model="numpy")
def gather(values, order):
    """``values[order]`` (an explicit loop: Numba's fancy indexing is slower)."""
    out = np.empty(order.shape[0])
    for j in range(order.shape[0]):
        out[j] = values[order[j]]
    return out


@njit(cache=True, inline="always", error_model="numpy")
def scatter(values, order):
    """``out[order] = values``."""
    out = np.empty(order.shape[0])
    for j in range(order.shape[0]):
        out[order[j]] = values[j]
    return out


@njit(cache=True, inline="always", error_model="numpy")
def is_identity(order):
    """Whether ``order`` is 0, 1, ..., N - 1."""
    for j in range(order.shape[0]):
        if order[j] != j:
            return False
    return True


@njit(cache=True, error_model="numpy")
def total(values):
    """Sequential sum (the Ops' Python and Numba implementations must add in one order)."""
    out = 0.0
    for value in values:
        out += value
    return out


@njit(cache=True, inline="always", error_model="numpy")
def log_cdf(z: float, probit: bool) -> float:
    if probit:
        if z > 0.0:
            return math.log1p(-0.5 * math.erfc(z * _SQRT_HALF))
        if z > -30.0:
            return math.log(0.5 * math.erfc(-z * _SQRT_HALF))
        z2 = z * z
        return -0.5 * z2 - math.log(-z) - 0.5 * _LOG_2PI + math.log1p(-1.0 / z2 + 3.0 / (z2 * z2))
    if z > 0.0:
        return -math.log1p(math.exp(-z))
    return z - math.log1p(math.exp(z))


@njit(cache=True, inline="always", error_model="numpy")
def log_pdf(z: float, probit: bool) -> float:
    if probit:
        return -0.5 * z * z - 0.5 * _LOG_2PI
    return log_cdf(z, False) + log_cdf(-z, False)


@njit(cache=True, inline="always", error_model="numpy")
def pdf_slope(z: float, probit: bool) -> float:  # f'(z) / f(z)
    if probit:
        return -z
    return 1.0 - 2.0 / (1.0 + math.exp(-z)) if z > -700.0 else 1.0


@njit(cache=True, inline="always", error_model="numpy")
def row_terms(lo: float, hi: float, v: float, probit: bool) -> tuple[float, float, float, float]:
    """(log p, d/dlo, d/dhi, d2/dv2) of one row at intercept v."""
    a, b = lo - v, hi - v
    if not probit and (a == -np.inf or b == np.inf):
        # logit, one-sided (a binary variable): one exp and one log1p
        z = b if a == -np.inf else -a  # log p = log F(z)
        e = math.exp(-abs(z))
        inv = 1.0 / (1.0 + e)
        value = min(z, 0.0) - math.log1p(e)
        r = e * inv if z > 0.0 else inv  # F(-z) = f(z) / F(z)
        second = -r * (1.0 - r)  # f'(z)/f(z) r - r^2 with f'/f = 1 - 2 F(z), F(z) = 1 - r
        if a == -np.inf:
            return value, 0.0, r, second
        return value, -r, 0.0, second
    if a == -np.inf:
        logd = log_cdf(b, probit)
        rb = math.exp(log_pdf(b, probit) - logd)
        return logd, 0.0, rb, pdf_slope(b, probit) * rb - rb * rb
    if b == np.inf:
        logd = log_cdf(-a, probit)
        ra = math.exp(log_pdf(a, probit) - logd)
        return logd, -ra, 0.0, -pdf_slope(a, probit) * ra - ra * ra
    if a > 0.0:
        hi_l, lo_l = log_cdf(-a, probit), log_cdf(-b, probit)
    else:
        hi_l, lo_l = log_cdf(b, probit), log_cdf(a, probit)
    logd = hi_l + math.log1p(-math.exp(min(lo_l - hi_l, 0.0)))
    ra = math.exp(log_pdf(a, probit) - logd)
    rb = math.exp(log_pdf(b, probit) - logd)
    second = pdf_slope(b, probit) * rb - pdf_slope(a, probit) * ra - (rb - ra) * (rb - ra)
    return logd, -ra, rb, second


@njit(cache=True, inline="always", error_model="numpy")
def logit_coefficients(lo, hi, j0, j1, co):
    """One person's constants of the logit fast path into ``co = (kind, A, B, G)``.

    With ``F = exp(v)`` a logit row's probability is a rational function of ``F``, so a
    node costs a few multiplications per row instead of an ``exp`` and a ``log1p``:

    - kind 0, ``(-inf, hi)``: ``p = 1 / (1 + B F)``, ``B = exp(-hi)``;
    - kind 1, ``(lo, inf)``: ``p = 1 / (1 + A / F)``, ``A = exp(lo)``;
    - kind 2, ``(lo, hi)``: ``p = F(hi - v) - F(lo - v) = G F Fa Fb`` with
      ``Fa = 1 / (1 + A F)``, ``Fb = 1 / (1 + B F)``, ``A = exp(-lo)``, ``B = exp(-hi)``,
      ``G = A - B = -A expm1(lo - hi)`` (no cancellation).

    Returns False when a bound is beyond ``_FAST_LIMIT`` (the general path then takes the
    person). The buffers hold one person (the longest), so they stay in cache.
    """
    kind, A, B, G = co
    for j in range(j1 - j0):
        a, b = lo[j0 + j], hi[j0 + j]
        lo_open, hi_open = a == -np.inf, b == np.inf
        if (lo_open and hi_open) or (not lo_open and abs(a) > _FAST_LIMIT) or (not hi_open and abs(b) > _FAST_LIMIT):
            return False
        if lo_open:
            kind[j] = 0
            B[j] = math.exp(-b)
        elif hi_open:
            kind[j] = 1
            A[j] = math.exp(a)
        else:
            kind[j] = 2
            A[j] = math.exp(-a)
            B[j] = math.exp(-b)
            G[j] = -A[j] * math.expm1(a - b)
    return True


@njit(cache=True, inline="always", error_model="numpy")
def logit_row(kind, A, B, G, F, F_inv):
    """(p, d/dlo log p, d/dhi log p, d2/dv2 log p) of one logit row at ``F = exp(v)``."""
    if kind == 0:
        p = 1.0 / (1.0 + B * F)
        return p, 0.0, 1.0 - p, -p * (1.0 - p)
    if kind == 1:
        p = 1.0 / (1.0 + A * F_inv)
        return p, p - 1.0, 0.0, -p * (1.0 - p)
    Fa = 1.0 / (1.0 + A * F)
    Fb = 1.0 / (1.0 + B * F)
    p = G * F * Fa * Fb
    fa = Fa * (1.0 - Fa)
    fb = Fb * (1.0 - Fb)
    ra, rb = fa / p, fb / p
    second = (fb * (1.0 - 2.0 * Fb) - fa * (1.0 - 2.0 * Fa)) / p - (rb - ra) * (rb - ra)
    return p, -ra, rb, second


@njit(cache=True, inline="always", error_model="numpy")
def logit_pass(co, n, v, inv_var):
    """:func:`interval_pass` on the logit fast path (``co``: the person's, from :func:`logit_coefficients`)."""
    if abs(v) > _FAST_LIMIT:  # outside the fast path's range: a Newton step there is halved
        return -np.inf, 0.0, -inv_var
    kind, A, B, G = co
    F = math.exp(v)
    F_inv = 1.0 / F
    prod, acc = 1.0, 0.0
    g = -v * inv_var
    h = -inv_var
    for j in range(n):
        p, dl, dh, second = logit_row(kind[j], A[j], B[j], G[j], F, F_inv)
        prod *= p
        if prod < 1e-200:  # keep the running product normal: move it into the log
            acc += math.log(prod)
            prod = 1.0
        g -= dl + dh
        h += second
    return acc + math.log(prod) - 0.5 * v * v * inv_var, g, min(h, -inv_var)


@njit(cache=True, error_model="numpy")
def _no_coefficients():
    """Placeholder coefficients for the general path (probit, or the conditional draws)."""
    return np.zeros(0, np.int8), np.zeros(0), np.zeros(0), np.zeros(0)


@njit(cache=True, inline="always", error_model="numpy")
def interval_pass(lo, hi, j0, j1, v, probit, inv_var):
    """(log-density, d/dv, d2/dv2) of a person's integrand at v (prior included)."""
    value = -0.5 * v * v * inv_var
    g = -v * inv_var
    h = -inv_var
    for r in range(j0, j1):
        lp, dl, dh, second = row_terms(lo[r], hi[r], v, probit)
        value += lp
        g -= dl + dh  # d/dv log p = -(d/dlo + d/dhi)
        h += second
    return value, g, min(h, -inv_var)  # log-concave: at most the prior's curvature

@njit(cache=True, inline="always", error_model="numpy")
def interval_mode(lo, hi, j0, j1, probit, inv_var, v, tol, co, fast):
    """The integrand's mode by safeguarded Newton from v, and the curvature there.

    ``fast``: on the logit fast path (:func:`logit_pass`, ``co`` its coefficients).
    Stops once the next Newton step is at most ``tol`` times the current scale
    ``1 / sqrt(-h)``; that last step is taken without a further pass (Newton converges
    quadratically, so the centre is then within about ``tol**2`` scales of the mode).
    """
    if fast:
        value, g, h = logit_pass(co, j1 - j0, v, inv_var)
    else:
        value, g, h = interval_pass(lo, hi, j0, j1, v, probit, inv_var)
    for _ in range(_NEWTON_MAX):
        step = -g / h
        if step * step * -h <= tol * tol:
            return v + step, h
        # safeguarded: halve the step until the log-density does not decrease
        for _ in range(60):
            if fast:
                t_value, t_g, t_h = logit_pass(co, j1 - j0, v + step, inv_var)
            else:
                t_value, t_g, t_h = interval_pass(lo, hi, j0, j1, v + step, probit, inv_var)
            if t_value >= value - 1e-12 * abs(value):
                break
            step *= 0.5
        v += step
        value, g, h = t_value, t_g, t_h
    return v, h


@njit(cache=True, inline="always", error_model="numpy")
def interval_person(lo, hi, j0, j1, sd, probit, x, logw, want_grad, d_lo, d_hi, buf_lo, buf_hi, co, S, F_node):
    """One person: log marginal likelihood, d/dsd, mode, scale; fills d_lo, d_hi.

    Takes the logit fast path (:func:`logit_row`) when the link is logit and every bound
    and node is within ``_FAST_LIMIT``, else the general one (:func:`row_terms`).
    """
    inv_var = 1.0 / (sd * sd)
    fast = (not probit) and logit_coefficients(lo, hi, j0, j1, co)
    v, h = interval_mode(lo, hi, j0, j1, probit, inv_var, 0.0, _CENTRE_TOL, co, fast)
    scale = 1.0 / math.sqrt(-h)
    Q = x.shape[0]
    if fast and abs(v) + scale * max(abs(x[0]), abs(x[Q - 1])) > _FAST_LIMIT:
        fast = False
    n = j1 - j0
    kind, A, B, G = co
    log_ratio = math.log(scale / sd)
    F_mode = math.exp(v) if fast else 1.0
    for q in range(Q):
        vq = v + scale * x[q]
        s = logw[q] + 0.5 * x[q] * x[q] + log_ratio - 0.5 * vq * vq * inv_var
        if fast:
            # exp(v_q) from the mode's and the mirrored node's (the nodes are symmetric)
            F = F_mode * math.exp(scale * x[q]) if q <= Q // 2 else F_mode * F_mode / F_node[Q - 1 - q]
            F_node[q] = F
            F_inv = 1.0 / F
            prod = 1.0
            for j in range(n):
                p, dl, dh, _ = logit_row(kind[j], A[j], B[j], G[j], F, F_inv)
                prod *= p
                if prod < 1e-200:
                    s += math.log(prod)
                    prod = 1.0
                buf_lo[q, j] = dl
                buf_hi[q, j] = dh
            s += math.log(prod)
        else:
            for j in range(n):
                r = j0 + j
                lp, dl, dh, _ = row_terms(lo[r], hi[r], vq, probit)
                s += lp
                buf_lo[q, j] = dl
                buf_hi[q, j] = dh
        S[q] = s
    top = S[0]
    for q in range(1, Q):
        top = max(top, S[q])
    total = 0.0
    for q in range(Q):
        S[q] = math.exp(S[q] - top)  # from here on, each node's unnormalised weight
        total += S[q]
    logp = top + math.log(total)
    d_sd = 0.0
    if want_grad:
        for q in range(Q):
            w = S[q] / total
            vq = v + scale * x[q]
            d_sd += w * (vq * vq / (sd * sd * sd) - 1.0 / sd)
            for j in range(n):
                r = j0 + j
                d_lo[r] += w * buf_lo[q, j]
                d_hi[r] += w * buf_hi[q, j]
    return logp, d_sd, v, scale


@njit(cache=True, error_model="numpy")
def interval_all(lo, hi, order, starts, sd, probit, x, logw, want_grad):
    P = starts.shape[0] - 1
    N = lo.shape[0]
    logp = np.empty(P)
    d_sd = np.empty(P)
    mode = np.empty(P)
    scale = np.empty(P)
    sorted_rows = is_identity(order)  # rows already grouped by person (a Panel's are): no copies
    if not sorted_rows:
        lo, hi = gather(lo, order), gather(hi, order)  # each person's rows contiguous: no index views
    d_lo_s = np.zeros(N)
    d_hi_s = np.zeros(N)
    longest = 0
    for i in range(P):
        longest = max(longest, starts[i + 1] - starts[i])
    buf_lo = np.empty((x.shape[0], longest))
    buf_hi = np.empty((x.shape[0], longest))
    S = np.empty(x.shape[0])  # each node's log integrand (reused per person)
    F_node = np.empty(x.shape[0])  # exp(v_q) (logit fast path)
    co = (np.empty(longest, np.int8), np.zeros(longest), np.zeros(longest), np.zeros(longest))
    for i in range(P):
        logp[i], d_sd[i], mode[i], scale[i] = interval_person(
            lo, hi, starts[i], starts[i + 1], sd, probit, x, logw, want_grad, d_lo_s, d_hi_s, buf_lo, buf_hi, co, S, F_node)
    if sorted_rows:
        return logp, d_sd, mode, scale, d_lo_s, d_hi_s
    return logp, d_sd, mode, scale, scatter(d_lo_s, order), scatter(d_hi_s, order)


@njit(cache=True, inline="always", error_model="numpy")
def count_terms(y: float, eta: float, phi: float, v: float) -> tuple[float, float, float, float]:
    """(log p up to phi-only terms, d/deta, d/dphi, d2/dv2) of one negative binomial row."""
    s = eta + v
    log_phi = math.log(phi)
    top = max(log_phi, s)
    log_sum = top + math.log(math.exp(log_phi - top) + math.exp(s - top))  # log(phi + mu)
    ratio = math.exp(s - log_sum)  # mu / (phi + mu)
    value = y * s - (phi + y) * log_sum
    d_eta = y - (phi + y) * ratio
    d_phi = -log_sum - (phi + y) / math.exp(log_sum)
    second = -(phi + y) * ratio * (1.0 - ratio)
    return value, d_eta, d_phi, second


@njit(cache=True, inline="always", error_model="numpy")
def count_pass(y, eta, j0, j1, phi, v, inv_var):
    value = -0.5 * v * v * inv_var
    g = -v * inv_var
    h = -inv_var
    for r in range(j0, j1):
        lp, de, _, second = count_terms(y[r], eta[r], phi, v)
        value += lp
        g += de
        h += second
    return value, g, min(h, -inv_var)


@njit(cache=True, inline="always", error_model="numpy")
def count_mode(y, eta, j0, j1, phi, inv_var, v, tol):
    """As :func:`interval_mode`, for a negative binomial outcome."""
    value, g, h = count_pass(y, eta, j0, j1, phi, v, inv_var)
    for _ in range(_NEWTON_MAX):
        step = -g / h
        if step * step * -h <= tol * tol:
            return v + step, h
        for _ in range(60):
            t_value, t_g, t_h = count_pass(y, eta, j0, j1, phi, v + step, inv_var)
            if t_value >= value - 1e-12 * abs(value):
                break
            step *= 0.5
        v += step
        value, g, h = t_value, t_g, t_h
    return v, h


@njit(cache=True, inline="always", error_model="numpy")
def count_person(y, eta, j0, j1, phi, sd, x, logw, want_grad, d_eta, buf_eta, buf_phi, S):
    inv_var = 1.0 / (sd * sd)
    v, h = count_mode(y, eta, j0, j1, phi, inv_var, 0.0, _CENTRE_TOL)
    scale = 1.0 / math.sqrt(-h)
    Q = x.shape[0]
    n = j1 - j0
    for q in range(Q):
        vq = v + scale * x[q]
        s = logw[q] + 0.5 * x[q] * x[q] + math.log(scale) - math.log(sd) - 0.5 * vq * vq * inv_var
        for j in range(n):
            r = j0 + j
            lp, de, dp, _ = count_terms(y[r], eta[r], phi, vq)
            s += lp
            buf_eta[q, j] = de
            buf_phi[q, j] = dp
        S[q] = s
    top = S.max()
    total = 0.0
    for q in range(Q):
        total += math.exp(S[q] - top)
    logp = top + math.log(total)
    d_sd = 0.0
    d_phi = 0.0
    if want_grad:
        for q in range(Q):
            w = math.exp(S[q] - logp)
            vq = v + scale * x[q]
            d_sd += w * (vq * vq / (sd * sd * sd) - 1.0 / sd)
            for j in range(n):
                d_eta[j0 + j] += w * buf_eta[q, j]
                d_phi += w * buf_phi[q, j]
    return logp, d_sd, d_phi, v, scale


@njit(cache=True, error_model="numpy")
def count_all(y, eta, order, starts, phi, sd, x, logw, want_grad):
    P = starts.shape[0] - 1
    logp = np.empty(P)
    d_sd = np.empty(P)
    d_phi = np.empty(P)
    mode = np.empty(P)
    scale = np.empty(P)
    sorted_rows = is_identity(order)
    if not sorted_rows:
        y, eta = gather(y, order), gather(eta, order)  # each person's rows contiguous
    d_eta_s = np.zeros(eta.shape[0])
    longest = 0
    for i in range(P):
        longest = max(longest, starts[i + 1] - starts[i])
    buf_eta = np.empty((x.shape[0], longest))
    buf_phi = np.empty((x.shape[0], longest))
    S = np.empty(x.shape[0])
    for i in range(P):
        logp[i], d_sd[i], d_phi[i], mode[i], scale[i] = count_person(
            y, eta, starts[i], starts[i + 1], phi, sd, x, logw, want_grad, d_eta_s, buf_eta, buf_phi, S)
    d_eta = d_eta_s if sorted_rows else scatter(d_eta_s, order)
    return logp, d_sd, d_phi, mode, scale, d_eta


@njit(cache=True, error_model="numpy")
def envelope_draw(hm, hL, gL, hR, gR, m, s, rng):
    """A proposal from the tangent envelope of a log-concave density and its log envelope.

    The envelope is min(h(m), h(m - s) + h'(m - s)(v - m + s), h(m + s) + h'(m + s)(v - m - s)):
    above a concave h everywhere (tangents of a concave function lie above it; h(m) is its
    maximum), and piecewise exponential, so it is drawn exactly.
    """
    gL = max(gL, 1e-12)
    gR = min(gR, -1e-12)
    zL = min(m - s + (hm - hL) / gL, m)
    zR = max(m + s + (hm - hR) / gR, m)
    mass_l, mass_m, mass_r = 1.0 / gL, zR - zL, -1.0 / gR
    u = rng.random() * (mass_l + mass_m + mass_r)
    if u < mass_l:
        v = zL + math.log(1.0 - rng.random()) / gL
        return v, hm + gL * (v - zL)
    if u < mass_l + mass_m:
        return zL + rng.random() * mass_m, hm
    v = zR + math.log(1.0 - rng.random()) / gR
    return v, hm + gR * (v - zR)


@njit(cache=True, error_model="numpy")
def interval_draw(lo, hi, order, starts, sd, probit, mode, scale, rng):
    P = starts.shape[0] - 1
    out = np.empty(P)
    inv_var = 1.0 / (sd * sd)
    co = _no_coefficients()  # the general path (no fast-path buffers)
    lo, hi = gather(lo, order), gather(hi, order)
    for i in range(P):
        j0, j1 = starts[i], starts[i + 1]
        m = interval_mode(lo, hi, j0, j1, probit, inv_var, mode[i], 1e-9, co, False)[0]
        s = scale[i]
        hm = interval_pass(lo, hi, j0, j1, m, probit, inv_var)[0]
        hL, gL, _ = interval_pass(lo, hi, j0, j1, m - s, probit, inv_var)
        hR, gR, _ = interval_pass(lo, hi, j0, j1, m + s, probit, inv_var)
        out[i] = np.nan  # stays NaN if the envelope fails (non-finite inputs); the caller raises
        for _ in range(_MAX_PROPOSALS):
            v, env = envelope_draw(hm, hL, gL, hR, gR, m, s, rng)
            h = interval_pass(lo, hi, j0, j1, v, probit, inv_var)[0]
            if math.log(1.0 - rng.random()) <= h - env:
                out[i] = v
                break
    return out


@njit(cache=True, error_model="numpy")
def count_draw(y, eta, order, starts, phi, sd, mode, scale, rng):
    P = starts.shape[0] - 1
    out = np.empty(P)
    inv_var = 1.0 / (sd * sd)
    y, eta = gather(y, order), gather(eta, order)
    for i in range(P):
        j0, j1 = starts[i], starts[i + 1]
        m = count_mode(y, eta, j0, j1, phi, inv_var, mode[i], 1e-9)[0]
        s = scale[i]
        hm = count_pass(y, eta, j0, j1, phi, m, inv_var)[0]
        hL, gL, _ = count_pass(y, eta, j0, j1, phi, m - s, inv_var)
        hR, gR, _ = count_pass(y, eta, j0, j1, phi, m + s, inv_var)
        out[i] = np.nan  # stays NaN if the envelope fails (non-finite inputs); the caller raises
        for _ in range(_MAX_PROPOSALS):
            v, env = envelope_draw(hm, hL, gL, hR, gR, m, s, rng)
            h = count_pass(y, eta, j0, j1, phi, v, inv_var)[0]
            if math.log(1.0 - rng.random()) <= h - env:
                out[i] = v
                break
    return out

