"""Accuracy of the person-intercept quadrature, to choose its default order (issue 16).

For each family the model integrates by quadrature (binary logit and probit, ordinal logit,
negative binomial), each intercept SD and each order, on data simulated from that model
(4 or 8 waves per person), it measures against a high-order reference (41 adaptive nodes,
itself checked against SciPy's adaptive integration on a subset):

- the error of each person's log marginal likelihood (largest, and the mean per person);
- the error of the total log-likelihood of a 100,000-person cohort (mean x 100,000);
- what the posterior feels: the error of the score for the intercept SD per person ``e``
  shifts the SD's estimate by ``e / I`` (``I`` its information per person), which is
  ``|e| sqrt(N / I)`` posterior SDs in a cohort of ``N`` persons: given at N = 100,000;
- the cost of one log-likelihood + gradient over 2,000 persons, against 9 nodes in the same
  run.

Run: ``.venv/bin/python benchmarks/quadrature_accuracy.py``
"""

from __future__ import annotations

import platform
import time

import numpy as np

from carepaths.structural import person_integrals as pi

ORDERS = (1, 3, 5, 7, 9, 11, 15, 21)
REFERENCE = 41
SDS = (0.5, 1.0, 2.0)
COHORT = 100_000


def simulate(family: str, probit: bool, sd: float, persons: int, waves: int, seed: int) -> dict:
    """Rows of one variable simulated from the model with person intercepts of SD ``sd``."""
    rng = np.random.default_rng(seed)
    person = np.repeat(np.arange(persons), waves)
    eta = rng.normal(-0.5, 1.0, person.size)
    latent = eta + rng.normal(0.0, sd, persons)[person]
    rows = pi.PersonRows.from_index(person)
    if family == "negbin":
        mu, phi = np.exp(latent), 2.0
        y = rng.negative_binomial(phi, phi / (phi + mu)).astype(float)
        return {"rows": rows, "y": y, "eta": eta, "phi": phi}
    noise = rng.normal(size=person.size) if probit else rng.logistic(size=person.size)
    if family == "bernoulli":
        y, cuts = (latent + noise > 0).astype(float), None
    else:
        cuts = np.array([-1.0, 0.2, 1.5])
        y = np.searchsorted(cuts, latent + noise).astype(float)
    lo, hi = pi.interval_bounds(family, y, eta, cuts)
    return {"rows": rows, "lo": lo, "hi": hi, "probit": probit}


def marginal(data: dict, sd: float, order: int, grad: bool = True) -> dict:
    """Per-person log marginal likelihood (and score) at one order."""
    if "y" in data:
        return pi.count_marginal(data["y"], data["eta"], data["phi"], sd, data["rows"], order=order, grad=grad)
    return pi.interval_marginal(data["lo"], data["hi"], sd, data["rows"], probit=data["probit"], order=order,
                                grad=grad)


def scipy_check(data: dict, sd: float, persons: int = 100) -> float:
    """Largest |reference - scipy.integrate.quad| over the first persons (log scale)."""
    from scipy import integrate, special, stats

    rows = data["rows"]
    ref = marginal(data, sd, REFERENCE, grad=False)["logp"]
    worst = 0.0
    for i in range(persons):
        r = rows.order[rows.starts[i]:rows.starts[i + 1]]
        if "y" in data:
            y, eta, phi = data["y"][r], data["eta"][r], data["phi"]

            def log_lik(v, y=y, eta=eta, phi=phi):  # noqa: ANN001, ANN202
                s = eta + v
                return float(np.sum(y * s - (phi + y) * np.logaddexp(np.log(phi), s)))
        else:
            lo, hi = data["lo"][r], data["hi"][r]
            cdf = stats.norm.cdf if data["probit"] else special.expit

            def log_lik(v, lo=lo, hi=hi, cdf=cdf):  # noqa: ANN001, ANN202
                return float(np.sum(np.log(cdf(hi - v) - cdf(lo - v))))
        def log_f(v, log_lik=log_lik):  # noqa: ANN001, ANN202
            return log_lik(v) + stats.norm.logpdf(v, 0.0, sd)

        grid = np.linspace(-10 * sd - 10, 10 * sd + 10, 801)
        on_grid = [log_f(v) for v in grid]
        peak = max(on_grid)  # scale the integrand so that it cannot overflow
        value, _ = integrate.quad(lambda v: np.exp(log_f(v) - peak), grid[0], grid[-1], limit=400, epsabs=0,
                                  epsrel=1e-13, points=[grid[int(np.argmax(on_grid))]])
        worst = max(worst, abs(np.log(value) + peak - ref[i]))
    return worst


def cost_ms(data: dict, sd: float, order: int, repeats: int = 50) -> float:
    """Best-of-3 milliseconds per log-likelihood + gradient."""
    marginal(data, sd, order)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            marginal(data, sd, order)
        best = min(best, (time.perf_counter() - start) / repeats * 1e3)
    return best


def main() -> None:
    """Print the accuracy table (markdown) and the cost table."""
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    cases = [("bernoulli", False), ("bernoulli", True), ("ordinal", False), ("negbin", False)]
    print("| variable | waves | SD | reference vs SciPy | order | max error / person | mean error / person "
          "| total error, 100k persons | SD shift, posterior SDs at 100k |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for family, probit in cases:
        name = family + (" probit" if probit else (" logit" if family != "negbin" else ""))
        for waves in (4, 8):
            for sd in SDS:
                data = simulate(family, probit, sd, 2000, waves, seed=int(sd * 10) + waves)
                ref = marginal(data, sd, REFERENCE)
                h = 1e-4
                info = -(marginal(data, sd + h, REFERENCE)["d_sd"].mean()
                         - marginal(data, sd - h, REFERENCE)["d_sd"].mean()) / (2 * h)
                check = scipy_check(data, sd)
                for order in ORDERS:
                    got = marginal(data, sd, order)
                    err = got["logp"] - ref["logp"]
                    score_err = got["d_sd"].mean() - ref["d_sd"].mean()
                    shift = abs(score_err) * np.sqrt(COHORT / info)
                    print(f"| {name} | {waves} | {sd} | {check:.0e} | {order} | {np.abs(err).max():.1e} | "
                          f"{err.mean():+.1e} | {err.mean() * COHORT:+.2g} | {shift:.2g} |")
    print()
    print("| order | ms per log-likelihood + gradient, 2,000 persons x 4 waves (binary logit, SD 1) | x 9 nodes |")
    print("|---:|---:|---:|")
    data = simulate("bernoulli", False, 1.0, 2000, 4, seed=1)
    base = cost_ms(data, 1.0, 9)
    for order in ORDERS:
        ms = cost_ms(data, 1.0, order)
        print(f"| {order} | {ms:.2f} | {ms / base:.2f} |")


if __name__ == "__main__":
    main()
