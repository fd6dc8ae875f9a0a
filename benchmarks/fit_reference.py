"""Fit the reference workload with the package defaults and a naive PyMC baseline.

Reference workload (issue 3): the default five-mechanism spec, 2,000 persons x 4 waves
(8,000 rows), five normal mediators, a bernoulli outcome, person intercepts, three stages
pooled; simulated with a fixed seed. Both models are sampled with nutpie (Numba backend),
2 chains x 1,000 draws after 1,000 tuning steps, on this machine, in the same run.

For each model it prints compile seconds, sampling seconds, min bulk ESS over
population-level parameters, max R-hat, divergences and bulk ESS per sampling second, and
the ratio of the package's ESS/s to the baseline's. Targets: converged, <= 60 s wall
including compilation, >= 5x the baseline's ESS/s.

The baseline is the model "written the obvious way": one set of PyMC variables per
mediator, explicit centred person intercepts for every mediator and the outcome, and
non-centred pooling of every stage-specific parameter across the three stages.

Run: ``.venv/bin/python benchmarks/fit_reference.py [--persons 2000] [--skip-baseline]``
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np


def naive_model(panel):  # noqa: ANN001, ANN201
    """The obvious plain-PyMC model of the same data (see the module docstring)."""
    import pymc as pm

    spec, ds = panel.spec, panel.dataset
    s = ds["stage_idx"].values
    p = ds["person_idx"].values
    X, C = ds["X"].values, ds["C"].values
    coords = {"stage": list(spec.stage_levels), "confounder": list(spec.confounder_terms),
              "person": np.arange(panel.n_persons)}
    with pm.Model(coords=coords) as model:
        def pooled(name):  # noqa: ANN001, ANN202
            mu = pm.Normal(f"mu_{name}", 0, 0.5)
            tau = pm.HalfNormal(f"tau_{name}", 0.5)
            z = pm.Normal(f"z_{name}", 0, 1, dims="stage")
            return pm.Deterministic(name, mu + tau * z, dims="stage")

        eta_y = pooled("beta0")[s] + pooled("c")[s] * X
        eta_y = eta_y + C @ pm.Normal("delta", 0, 0.5, dims="confounder")
        for k, m in enumerate(spec.mediator_names):
            alpha, a, b = pooled(f"alpha_{m}"), pooled(f"a_{m}"), pooled(f"b_{m}")
            sd_u = pm.HalfNormal(f"sd_u_{m}", 0.5)
            u = pm.Normal(f"u_{m}", 0, sd_u, dims="person")
            gamma = pm.Normal(f"gamma_{m}", 0, 0.5, dims="confounder")
            mu_m = alpha[s] + a[s] * X + C @ gamma + u[p]
            pm.Normal(f"M_{m}", mu_m, pm.HalfNormal(f"sigma_{m}", 1.0), observed=ds["M"].values[:, k])
            eta_y = eta_y + b[s] * ds["M"].values[:, k]
        sd_v = pm.HalfNormal("sd_v", 1.0)
        v = pm.Normal("v", 0, sd_v, dims="person")
        pm.Bernoulli("Y", logit_p=eta_y + v[p], observed=ds["Y"].values)
    return model


def run_naive(panel, draws: int, tune: int, seed: int):  # noqa: ANN001, ANN201
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    from carepaths.model.fit import Fit

    model = naive_model(panel)
    t0 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    t1 = time.perf_counter()
    post = nutpie.sample(compiled, draws=draws, tune=tune, chains=2, cores=2, seed=seed,
                         progress_bar=False, save_warmup=False)
    t2 = time.perf_counter()
    patch_nutpie_idata(post, model, sampling_time=t2 - t1)
    post.attrs.update(compile_seconds=t1 - t0, sampling_seconds=t2 - t1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # person effects (u_*, v) are excluded from the population-level checks, as for the package
        fit = Fit(post, panel.spec, panel, priors={}, warn=False)
    return fit


def report(label: str, fit) -> float:  # noqa: ANN001
    d = fit.diagnostics()
    compile_s = fit.posterior.attrs["compile_seconds"]
    sample_s = fit.posterior.attrs["sampling_seconds"]
    ess = d.loc["min ESS bulk", "value"]
    ess_per_s = ess / sample_s
    print(
        f"{label:22s} compile {compile_s:6.1f} s  sampling {sample_s:6.1f} s  "
        f"wall {compile_s + sample_s:6.1f} s  min ESS bulk {ess:7.1f}  "
        f"max R-hat {d.loc['max R-hat', 'value']:.3f}  divergences {int(d.loc['divergences', 'value']):4d}  "
        f"ESS/s {ess_per_s:6.2f}  {'converged' if fit.converged else 'NOT CONVERGED'}",
        flush=True,
    )
    return ess_per_s


def main() -> None:
    import carepaths

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--adaptation", default="diag")
    parser.add_argument("--target-accept", type=float, default=None,
                        help="override MediationModel.fit's default target_accept (experiments only)")
    args = parser.parse_args()

    print(f"python {platform.python_version()} {platform.machine()}; persons {args.persons} x waves "
          f"{args.waves}; {args.draws} draws + {args.tune} tune x 2 chains; seed {args.seed}")
    spec = carepaths.load_spec("five_mechanisms")
    sim = carepaths.simulate(spec, args.persons, args.waves, seed=args.seed, mc_persons=1000)
    panel = sim.panel()
    model = carepaths.MediationModel(spec, panel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extra = {} if args.target_accept is None else {"target_accept": args.target_accept}
        fit = model.fit(draws=args.draws, tune=args.tune, chains=2, seed=args.seed,
                        adaptation=args.adaptation, **extra)
    ours = report("carepaths (defaults)", fit)
    if not args.skip_baseline:
        base = report("naive PyMC baseline", run_naive(panel, args.draws, args.tune, args.seed))
        print(f"ESS/s ratio carepaths / baseline: {ours / base:.1f}x")


if __name__ == "__main__":
    main()
