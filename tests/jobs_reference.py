"""Reference values for JOBS II's binary-outcome analysis with the probit link (run by hand).

``tests/test_jobs.py::test_binary_work1_probit_outcome`` compares carepaths' probit fit of
``work1`` with R ``mediation``'s published analysis (``../shared/data/jobs.md``, analysis
3) and with the numbers this script prints, computed on the same file without carepaths:

* the maximum-likelihood plug-in effects (OLS mediator model, probit outcome model);
* the mean of ``mediate``'s procedure: effects averaged over draws of the coefficients
  from the MLEs' asymptotic normal (the mediator's residual SD fixed at its estimate);
* the exact flat-prior posterior mean of the same effects, by importance weights on those
  draws (the flat-prior posterior of the outcome model is proportional to its likelihood;
  the mediator model's coefficients given its residual SD are normal around OLS).

Each for carepaths' estimands (NIE = ACME under treatment, NDE = ADE under control, TE)
and for ``mediate``'s averages over the two arms. The effects average, over the 899
persons, the probability of employment in four worlds ``E[Y(t, M(t'))]``; with a normal
mediator and a probit outcome the mediator's noise integrates in closed form,
``E Phi(l + b (mu + e)) = Phi((l + b mu) / sqrt(1 + b^2 sigma^2))``.

Needs statsmodels (installed with DoWhy) and the data. Run:
``.venv/bin/python tests/jobs_reference.py [draws]`` (default 100,000 draws; about 1 min).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from scipy import stats

import carepaths
from conftest import SHARED_DATA


def _design(df: pd.DataFrame) -> pd.DataFrame:
    """The confounders as carepaths codes them (the shipped spec's treatment coding)."""
    cols = []
    for c in carepaths.load_spec("single_mediator").confounders:
        if c.kind == "numeric":
            cols.append(df[c.name].astype(float).rename(c.name))
        else:
            cols += [(df[c.name] == lvl).astype(float).rename(f"{c.name}[{lvl}]") for lvl in c.levels
                     if lvl != c.reference]
    return pd.concat(cols, axis=1)


def _effects(beta_m: np.ndarray, sigma: float, beta_y: np.ndarray, C: np.ndarray) -> dict[str, np.ndarray]:
    """Effects for draws of the coefficients (draw, coefficient): mediator [1, t, C], outcome [1, t, m, C]."""
    world = {}
    for t in (0, 1):
        for tm in (0, 1):
            mu = beta_m[:, [0]] + beta_m[:, [1]] * tm + beta_m[:, 2:] @ C.T  # (draw, person)
            b = beta_y[:, [2]]
            lin = beta_y[:, [0]] + beta_y[:, [1]] * t + beta_y[:, 3:] @ C.T
            world[t, tm] = stats.norm.cdf((lin + b * mu) / np.sqrt(1.0 + b**2 * sigma**2)).mean(axis=1)
    acme = {t: world[t, 1] - world[t, 0] for t in (0, 1)}
    ade = {t: world[1, t] - world[0, t] for t in (0, 1)}
    return {"NIE": acme[1], "NDE": ade[0], "TE": world[1, 1] - world[0, 0],
            "ACME (average)": (acme[0] + acme[1]) / 2, "ADE (average)": (ade[0] + ade[1]) / 2}


def main(draws: int = 100_000, seed: int = 1) -> None:
    import statsmodels.api as sm

    if not (SHARED_DATA / "jobs.csv").exists():
        sys.exit(f"{SHARED_DATA / 'jobs.csv'} is absent (it ships in ../shared/data only).")
    df = pd.read_csv(SHARED_DATA / "jobs.csv")
    y = df["work1"].map({"psyemp": 1, "psyump": 0}).to_numpy(dtype=float)
    C = _design(df)
    treat = df["treat"].astype(float)
    mediator = sm.OLS(df["job_seek"], sm.add_constant(pd.concat([treat, C], axis=1))).fit()
    sigma = float(np.sqrt(mediator.scale))
    X_y = sm.add_constant(pd.concat([treat, df["job_seek"], C], axis=1))
    outcome = sm.GLM(y, X_y, family=sm.families.Binomial(link=sm.families.links.Probit())).fit()

    Cv = C.to_numpy()
    plug_in = _effects(mediator.params.to_numpy()[None], sigma, outcome.params.to_numpy()[None], Cv)
    rng = np.random.default_rng(seed)
    beta_m = rng.multivariate_normal(mediator.params, mediator.cov_params(), size=draws)
    mle, cov = outcome.params.to_numpy(), outcome.cov_params().to_numpy()
    beta_y = rng.multivariate_normal(mle, cov, size=draws)
    eta = beta_y @ X_y.to_numpy().T
    loglik = np.where(y == 1, stats.norm.logcdf(eta), stats.norm.logcdf(-eta)).sum(axis=1)
    log_w = loglik - stats.multivariate_normal(mle, cov).logpdf(beta_y)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    ess = 1.0 / np.sum(w**2)
    effects = {}
    for start in range(0, draws, 5000):  # in chunks: (draw, person) arrays
        part = _effects(beta_m[start:start + 5000], sigma, beta_y[start:start + 5000], Cv)
        for k, v in part.items():
            effects.setdefault(k, []).append(v)
    print(f"{draws:,} draws; importance weights' ESS {ess:,.0f}")
    print(f"{'effect':16s} {'ML plug-in':>11s} {'mediate mean':>13s} {'(MCSE)':>8s} {'posterior':>10s} {'(MCSE)':>8s}")
    for k, parts in effects.items():
        v = np.concatenate(parts)
        quasi, post = v.mean(), np.sum(w * v)
        post_sd = np.sqrt(np.sum(w * (v - post) ** 2))
        print(f"{k:16s} {plug_in[k][0]:11.6f} {quasi:13.6f} {v.std() / np.sqrt(draws):8.6f} {post:10.6f} "
              f"{post_sd / np.sqrt(ess):8.6f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
