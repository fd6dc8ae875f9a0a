"""Reference values for JOBS II analyses that have no closed form (run by hand).

``tests/test_jobs.py`` compares carepaths' fits with R ``mediation``'s published analyses
(``../shared/data/jobs.md``; the vignette "Causal Mediation Analysis Using R") and with the
numbers this script prints, computed on the same file without carepaths (maximum
likelihood with statsmodels, then Monte Carlo):

* ``work1``: analysis 3, linear mediator ``job_seek`` and probit outcome ``work1``
  (``test_binary_work1_probit_outcome``);
* ``job_dich``: the probit binary mediator ``job_dich`` with a linear ``depress2`` outcome
  holding ``treat:job_dich`` (``test_binary_mediator_*``);
* ``job_disc``: the ordered-probit mediator ``job_disc`` (4 categories) with a linear
  outcome, ``job_disc`` entering it as its code (carepaths' model) and as a factor (the
  published model) (``test_ordinal_mediator_*``).

For each, the maximum-likelihood plug-in effects; the expectation of ``mediate``'s
procedure (effects averaged over draws of the coefficients from the MLEs' asymptotic
normal); and the exact flat-prior posterior mean of the same effects, by importance weights
on those draws (a normal linear model's flat-prior posterior is centred on OLS; a probit or
ordered-probit model's is proportional to its likelihood). For ``work1`` the effects
average, over the 899 persons, the probability of employment in four worlds
``E[Y(t, M(t'))]``; with a normal mediator and a probit outcome the mediator's noise
integrates in closed form, ``E Phi(l + b (mu + e)) = Phi((l + b mu) / sqrt(1 + b^2
sigma^2))``. For the discrete mediators the outcome is linear, so the effects are bilinear
in the outcome's coefficients and the row means of the mediator's distribution, and the
script also gives the 95% interval widths of ``mediate``'s procedure (with and without its
independent draws of the mediator in the two worlds) and of the exact posterior with
carepaths' Monte Carlo (one latent error per row, shared by the worlds).

carepaths' names: NIE = ACME (treated), NDE = ADE (control), NIE (control) = ACME
(control), NDE (treated) = ADE (treated), TE the total; for ``work1`` also ``mediate``'s
averages over the two arms.

Needs statsmodels (installed with DoWhy) and the data. Run:
``.venv/bin/python tests/jobs_reference.py [work1] [job_dich] [job_disc] [draws]`` (default:
all three, 100,000 draws each; about 1 min 15 s in all).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from scipy import stats

import carepaths
from conftest import SHARED_DATA


def design(df: pd.DataFrame) -> pd.DataFrame:
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


def work1(df: pd.DataFrame, draws: int = 100_000, seed: int = 1) -> None:
    """Analysis 3: linear mediator ``job_seek``, probit outcome ``work1``."""
    import statsmodels.api as sm

    y = df["work1"].map({"psyemp": 1, "psyump": 0}).to_numpy(dtype=float)
    C = design(df)
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


# ----------------------------------------------------------------- discrete mediators
def _posterior_linear(X: np.ndarray, y: np.ndarray, draws: int, rng: np.random.Generator):
    """A normal linear model: OLS, its ``vcov`` and exact flat-prior posterior draws of the coefficients.

    The posterior under p(beta, sigma) ~ 1/sigma: sigma^2 = (n - p) s^2 / chi2(n - p), then
    beta ~ N(OLS, sigma^2 (X'X)^-1). Returns (draws, ols, vcov).
    """
    n, p = X.shape
    xtx_inv = np.linalg.inv(X.T @ X)
    ols = xtx_inv @ X.T @ y
    resid = y - X @ ols
    s2 = float(resid @ resid) / (n - p)
    sigma2 = (n - p) * s2 / rng.chisquare(n - p, size=draws)
    z = rng.standard_normal((draws, p)) @ np.linalg.cholesky(xtx_inv).T
    return ols + z * np.sqrt(sigma2)[:, None], ols, s2 * xtx_inv


def _importance_weights(log_target: np.ndarray, draws: np.ndarray, mean: np.ndarray, cov: np.ndarray):
    log_w = log_target - stats.multivariate_normal(mean, cov).logpdf(draws)
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def _weighted_quantiles(v: np.ndarray, w: np.ndarray, q: tuple[float, ...] = (0.025, 0.975)) -> np.ndarray:
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return np.interp(q, cum - w[order] / 2, v[order])


def _categories(eta: np.ndarray, cuts: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Codes 0..K-1 of a latent-variable mediator: the cutpoints (draw, K-1) below eta + e (draw, person)."""
    return (cuts[:, :, None] < (eta + e)[:, None, :]).sum(axis=1)


def _report(title: str, effects: dict[str, dict[str, np.ndarray]], w: np.ndarray, ess: float, draws: int,
            plug_in: dict[str, float]) -> None:
    """Print one analysis. ``effects[mode][name]`` holds per-draw values, with modes

    * ``quasi_mean`` / ``post_mean``: the outcome coefficients at OLS and the mediator's
      expected values, for the mediator's coefficients drawn by ``mediate`` (asymptotic
      normal) / importance-weighted to the exact flat-prior posterior. The effects are
      bilinear in the two models' coefficients, whose posteriors are independent and the
      outcome's centred on OLS exactly, so these means are the exact expectations, with the
      Monte Carlo error of the mediator part only;
    * ``quasi_expected``: ``mediate``'s procedure with expected mediators (no draw noise);
    * ``quasi_draws``: ``mediate``'s procedure as mediation 4.x codes it, with the mediators
      drawn independently in the two worlds (``rbinom`` / ``rmultinom``);
    * ``post_draws``: the exact posterior with carepaths' Monte Carlo (one latent error per
      row, shared by the worlds).
    """
    print(f"\n{title}: {draws:,} draws; importance weights' ESS {ess:,.0f}")
    print(f"{'effect':14s} {'ML plug-in':>10s} {'mediate mean':>12s} {'(MCSE)':>8s} {'SD':>7s} {'width':>6s} "
          f"{'width*':>6s} {'posterior':>10s} {'(MCSE)':>8s} {'SD':>7s} {'width':>6s}")
    for k in effects["quasi_mean"]:
        quasi, post = effects["quasi_mean"][k], effects["post_mean"][k]
        mean = np.sum(w * post)
        mcse = np.sqrt(np.sum(w * (post - mean) ** 2) / ess)
        lo, hi = np.quantile(effects["quasi_draws"][k], [0.025, 0.975])
        elo, ehi = np.quantile(effects["quasi_expected"][k], [0.025, 0.975])
        draws_k = effects["post_draws"][k]
        centre = np.sum(w * draws_k)
        plo, phi = _weighted_quantiles(draws_k, w)
        print(f"{k:14s} {plug_in[k]:10.6f} {quasi.mean():12.6f} {quasi.std() / np.sqrt(draws):8.6f} "
              f"{effects['quasi_draws'][k].std():7.5f} {hi - lo:6.4f} {ehi - elo:6.4f} {mean:10.6f} {mcse:8.6f} "
              f"{np.sqrt(np.sum(w * (draws_k - centre) ** 2)):7.5f} {phi - plo:6.4f}")
    print("(mediate: mean of its procedure, SD and 95% width with its independent mediator draws; width*: with "
          "expected mediators. posterior: exact flat-prior mean; SD and width with carepaths' Monte Carlo)")


def _binary_effects(p1: np.ndarray, p0: np.ndarray, beta_y: np.ndarray) -> dict[str, np.ndarray]:
    """p1, p0: (draw,) row means of M(1) and M(0); beta_y (draw, coefficient): [1, t, m, t:m, C]."""
    c, b, k = beta_y[:, 1], beta_y[:, 2], beta_y[:, 3]
    acme = {t: (b + k * t) * (p1 - p0) for t in (0, 1)}
    ade = {t: c + k * (p1 if t else p0) for t in (0, 1)}
    return {"NIE (control)": acme[0], "NIE": acme[1], "NDE": ade[0], "NDE (treated)": ade[1],
            "TE": ade[0] + acme[1]}


def job_dich(df: pd.DataFrame, draws: int = 100_000, seed: int = 2) -> None:
    """Binary mediator ``job_dich`` (probit), linear outcome with ``treat:job_dich`` (the vignette's model).

    carepaths' names: NIE = ACME (treated), NIE (control) = ACME (control), NDE = ADE
    (control), NDE (treated) = ADE (treated). The outcome is linear, so every effect is a
    function of the row means of M(1) and M(0) and the outcome's c, b and k = treat:job_dich.
    """
    import statsmodels.api as sm

    C = design(df).to_numpy()
    n = len(df)
    t = df["treat"].to_numpy(float)
    m = df["job_dich"].to_numpy(float)
    y = df["depress2"].to_numpy(float)
    X_m = np.column_stack([np.ones(n), t, C])
    probit = sm.Probit(m, X_m).fit(disp=0)
    mle, cov = probit.params, probit.cov_params()
    X_y = np.column_stack([np.ones(n), t, m, t * m, C])
    rng = np.random.default_rng(seed)
    beta_y, ols, vcov = _posterior_linear(X_y, y, draws, rng)
    quasi_y = rng.multivariate_normal(ols, vcov, size=draws)  # mediate: the OLS sampling distribution
    beta_m = rng.multivariate_normal(mle, cov, size=draws)
    X1, X0 = X_m.copy(), X_m.copy()
    X1[:, 1], X0[:, 1] = 1.0, 0.0
    loglik = np.empty(draws)
    means = {mode: {k: np.empty(draws) for k in ("p1", "p0")} for mode in ("expected", "independent", "shared")}
    for s in range(0, draws, 5000):
        part = slice(s, s + 5000)
        eta = beta_m[part] @ X_m.T
        loglik[part] = np.where(m == 1, stats.norm.logcdf(eta), stats.norm.logcdf(-eta)).sum(axis=1)
        eta1, eta0 = beta_m[part] @ X1.T, beta_m[part] @ X0.T
        means["expected"]["p1"][part] = stats.norm.cdf(eta1).mean(axis=1)
        means["expected"]["p0"][part] = stats.norm.cdf(eta0).mean(axis=1)
        e = rng.standard_normal(eta1.shape)  # carepaths: one latent error per row, shared by the worlds
        means["shared"]["p1"][part] = (eta1 + e > 0).mean(axis=1)
        means["shared"]["p0"][part] = (eta0 + e > 0).mean(axis=1)
        means["independent"]["p1"][part] = (eta1 + rng.standard_normal(eta1.shape) > 0).mean(axis=1)  # mediate's
        means["independent"]["p0"][part] = (eta0 + rng.standard_normal(eta0.shape) > 0).mean(axis=1)  # rbinom
    w = _importance_weights(loglik, beta_m, mle, cov)
    ess = 1.0 / np.sum(w**2)
    at_ols = np.broadcast_to(ols, beta_y.shape)
    expected = means["expected"]["p1"], means["expected"]["p0"]
    effects = {
        "quasi_mean": _binary_effects(*expected, at_ols), "post_mean": _binary_effects(*expected, at_ols),
        "quasi_expected": _binary_effects(*expected, quasi_y),
        "quasi_draws": _binary_effects(means["independent"]["p1"], means["independent"]["p0"], quasi_y),
        "post_draws": _binary_effects(means["shared"]["p1"], means["shared"]["p0"], beta_y),
    }
    p1 = stats.norm.cdf(X1 @ mle).mean()
    p0 = stats.norm.cdf(X0 @ mle).mean()
    plug_in = {k: float(v[0]) for k, v in _binary_effects(np.array([p1]), np.array([p0]), ols[None]).items()}
    _report("job_dich (probit mediator, linear outcome with treat:job_dich)", effects, w, ess, draws, plug_in)


def _ordinal_cuts(theta: np.ndarray, nb: int) -> np.ndarray:
    """statsmodels' OrderedModel thresholds (first cutpoint, then log increments) -> cutpoints."""
    first = theta[:, [nb]]
    return np.concatenate([first, first + np.cumsum(np.exp(theta[:, nb + 1:]), axis=1)], axis=1)


def job_disc(df: pd.DataFrame, draws: int = 100_000, seed: int = 3) -> None:
    """Ordinal mediator ``job_disc`` (ordered probit, 4 categories), linear outcome, no interaction.

    Two outcome models: ``job_disc`` entering linearly as its code (carepaths' model: an
    ordinal mediator enters the outcome as its 0..K-1 code) and as a factor (3 dummies: R's
    ``lm`` on a factor; ``polr`` needs the mediator to be a factor, and the published ADE and
    total agree with this coding, not with the linear one). ``mediate`` fixes the cutpoints
    at their estimates and draws the coefficients from their asymptotic normal; the exact
    posterior (flat on the coefficients and on the cutpoints themselves) is reached by
    importance weights, with the Jacobian of statsmodels' log-increment parametrisation.
    """
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    C = design(df).to_numpy()
    n = len(df)
    t = df["treat"].to_numpy(float)
    codes = df["job_disc"].to_numpy(int) - 1  # 0..3, as carepaths codes categories [1, 2, 3, 4]
    y = df["depress2"].to_numpy(float)
    X_m = np.column_stack([t, C])  # OrderedModel: no constant (the cutpoints carry it)
    fit = OrderedModel(codes, X_m, distr="probit").fit(method="bfgs", disp=0, maxiter=5000)
    mle, cov = np.asarray(fit.params), np.asarray(fit.cov_params())
    nb = X_m.shape[1]
    dummies = np.column_stack([(codes == k).astype(float) for k in (1, 2, 3)])
    X_lin = np.column_stack([np.ones(n), t, codes, C])
    X_fac = np.column_stack([np.ones(n), t, dummies, C])
    rng = np.random.default_rng(seed)
    beta_lin, ols_lin, vcov_lin = _posterior_linear(X_lin, y, draws, rng)
    quasi_lin = rng.multivariate_normal(ols_lin, vcov_lin, size=draws)
    _, ols_fac, vcov_fac = _posterior_linear(X_fac, y, 1, rng)
    quasi_fac = rng.multivariate_normal(ols_fac, vcov_fac, size=draws)
    theta = rng.multivariate_normal(mle, cov, size=draws)  # for the exact posterior (importance weights)
    quasi_beta = rng.multivariate_normal(mle[:nb], cov[:nb, :nb], size=draws)  # mediate: cutpoints fixed
    X1, X0 = X_m.copy(), X_m.copy()
    X1[:, 0], X0[:, 0] = 1.0, 0.0
    mle_cuts = _ordinal_cuts(mle[None], nb)

    def probabilities(eta: np.ndarray, cuts: np.ndarray) -> np.ndarray:  # (draw, K, person)
        F = stats.norm.cdf(cuts[:, :, None] - eta[:, None, :])
        F = np.concatenate([np.zeros_like(F[:, :1]), F, np.ones_like(F[:, :1])], axis=1)
        return np.diff(F, axis=1)

    loglik, log_jac = np.empty(draws), theta[:, nb + 1:].sum(axis=1)
    keys = ("quasi", "quasi_draws", "post", "post_draws")
    dM = {k: np.empty(draws) for k in keys}  # row mean of M(1) - M(0), in codes
    dP = {k: np.empty((draws, 4)) for k in ("quasi", "quasi_draws")}  # row means of 1[M(1) = k] - 1[M(0) = k]
    for s in range(0, draws, 2000):
        part = slice(s, s + 2000)
        cuts = _ordinal_cuts(theta[part], nb)
        eta = theta[part, :nb] @ X_m.T
        P = probabilities(eta, cuts)
        loglik[part] = np.log(np.take_along_axis(P, codes[None, None, :], axis=1)[:, 0]).sum(axis=1)
        eta1, eta0 = theta[part, :nb] @ X1.T, theta[part, :nb] @ X0.T
        d = (probabilities(eta1, cuts) - probabilities(eta0, cuts)).mean(axis=2)
        dM["post"][part] = d @ np.arange(4)
        e = rng.standard_normal(eta1.shape)  # carepaths: shared latent error
        dM["post_draws"][part] = (_categories(eta1, cuts, e) - _categories(eta0, cuts, e)).mean(axis=1)
        q1, q0 = quasi_beta[part] @ X1.T, quasi_beta[part] @ X0.T
        fixed = np.repeat(mle_cuts, q1.shape[0], axis=0)
        d = (probabilities(q1, fixed) - probabilities(q0, fixed)).mean(axis=2)
        dP["quasi"][part], dM["quasi"][part] = d, d @ np.arange(4)
        c1 = _categories(q1, fixed, rng.standard_normal(q1.shape))  # mediate: independent multinomial draws
        c0 = _categories(q0, fixed, rng.standard_normal(q0.shape))
        dP["quasi_draws"][part] = np.stack([(c1 == k).mean(axis=1) - (c0 == k).mean(axis=1) for k in range(4)], 1)
        dM["quasi_draws"][part] = (c1 - c0).mean(axis=1)
    w = _importance_weights(loglik + log_jac, theta, mle, cov)
    ess = 1.0 / np.sum(w**2)

    def linear(d: np.ndarray, beta: np.ndarray) -> dict[str, np.ndarray]:
        acme = beta[:, 2] * d
        return {"NIE": acme, "NDE": beta[:, 1], "TE": beta[:, 1] + acme}

    def factor(d: np.ndarray, beta: np.ndarray) -> dict[str, np.ndarray]:
        acme = np.sum(d[:, 1:] * beta[:, 2:5], axis=1)
        return {"NIE": acme, "NDE": beta[:, 1], "TE": beta[:, 1] + acme}

    P1 = probabilities((X1 @ mle[:nb])[None], mle_cuts).mean(axis=2)
    P0 = probabilities((X0 @ mle[:nb])[None], mle_cuts).mean(axis=2)
    lin_ols, fac_ols = np.broadcast_to(ols_lin, beta_lin.shape), np.broadcast_to(ols_fac, quasi_fac.shape)
    effects = {"quasi_mean": linear(dM["quasi"], lin_ols), "post_mean": linear(dM["post"], lin_ols),
               "quasi_expected": linear(dM["quasi"], quasi_lin), "quasi_draws": linear(dM["quasi_draws"], quasi_lin),
               "post_draws": linear(dM["post_draws"], beta_lin)}
    plug_in = {k: float(v[0]) for k, v in linear((P1 - P0) @ np.arange(4), ols_lin[None]).items()}
    _report("job_disc (ordered probit), job_disc linear in the outcome (carepaths' model)", effects, w, ess,
            draws, plug_in)
    quasi, quasi_draws = factor(dP["quasi"], fac_ols), factor(dP["quasi_draws"], quasi_fac)
    quasi_expected = factor(dP["quasi"], quasi_fac)
    plug_in = {k: float(v[0]) for k, v in factor(P1 - P0, ols_fac[None]).items()}
    print("job_disc as a factor in the outcome (the published model): mediate's procedure")
    for k in quasi:
        lo, hi = np.quantile(quasi_draws[k], [0.025, 0.975])
        elo, ehi = np.quantile(quasi_expected[k], [0.025, 0.975])
        print(f"{k:14s} {plug_in[k]:10.6f} {quasi[k].mean():12.6f} {quasi[k].std() / np.sqrt(draws):8.6f} "
              f"{quasi_draws[k].std():7.5f} {hi - lo:6.4f} {ehi - elo:6.4f}")


ANALYSES = {"work1": work1, "job_dich": job_dich, "job_disc": job_disc}


def main(argv: list[str]) -> None:
    names = [a for a in argv if a in ANALYSES] or list(ANALYSES)
    numbers = [int(a) for a in argv if a.isdigit()]
    unknown = [a for a in argv if a not in ANALYSES and not a.isdigit()]
    if unknown:
        sys.exit(f"unknown argument {unknown[0]!r}: give analyses ({', '.join(ANALYSES)}) and a number of draws.")
    if not (SHARED_DATA / "jobs.csv").exists():
        sys.exit(f"{SHARED_DATA / 'jobs.csv'} is absent (it ships in ../shared/data only).")
    df = pd.read_csv(SHARED_DATA / "jobs.csv")
    for name in names:
        ANALYSES[name](df, *numbers[:1])


if __name__ == "__main__":
    main(sys.argv[1:])
