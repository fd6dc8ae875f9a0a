"""Fitting cost against the number of persons, and what follows the fit (issue 16).

Workload: the default five-mechanism spec (five normal mediators, a binary outcome, person
intercepts, three stages pooled), simulated with seed 20261125 at 2,000, 20,000 and
100,000 persons x 4 waves, fitted with the package defaults (nutpie, 2 chains x 1,000
draws after 1,000 tuning steps). Each size runs in its own process, so its peak resident
memory (``ru_maxrss``) is its own; a small warm-up fit first fills the compile cache, so
every timed fit compiles from cache, as a user's second fit of a spec does.

Baseline in the same run (``--sampled [sizes]``): the same fits with
``structure.person_intercepts = "sampled"``, the parametrisation before issue 16 (by
default at the smallest size only).

Printed per size: compile, sampling and wall seconds, leapfrog steps per draw, min bulk
ESS and max R-hat over population-level parameters, divergences, converged or not, peak
memory; then the ratios time(20k) / time(2k) and time(100k) / time(2k) (targets <= 10 and
<= 50). With ``--downstream`` the largest size also times ``fit.effects()`` (marginal and
conditional population), ``fit.compare(worked_examples(spec))`` and ``fit.check(draws=...)``;
``--downstream-at N`` times them on an N-person panel with the smallest fit's draws (the
population-level posterior holds no person dimension, so it applies to any panel of the
spec, and these costs depend on rows x draws, not on the values).

Run: ``.venv/bin/python benchmarks/scaling.py [--sizes 2000 20000 100000] [--sampled [2000 20000]] [--downstream]``
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
import warnings

SEED = 20261125
RESULT = "RESULT "


def one(persons: int, waves: int, mode: str, draws: int, tune: int, downstream: bool, check_draws: int,
        downstream_persons: int = 0) -> dict:
    """Simulate, fit and (optionally) run the downstream steps in this process."""
    import numpy as np

    import carepaths
    from carepaths.counterfactual.interventions import worked_examples

    spec = carepaths.load_spec("five_mechanisms")
    # the parametrisation named explicitly (mode), whatever the package default is
    d = spec.to_dict()
    d["structure"] = {**d.get("structure", {}), "person_intercepts": mode}
    spec = carepaths.Spec.from_dict(d)
    t0 = time.perf_counter()
    sim = carepaths.simulate(spec, persons, waves, seed=SEED, mc_persons=200)
    panel = sim.panel()
    out: dict = {"persons": persons, "waves": waves, "mode": mode, "simulate_s": time.perf_counter() - t0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        fit = carepaths.MediationModel(spec, panel).fit(draws=draws, tune=tune, chains=2, seed=SEED)
        out["fit_call_s"] = time.perf_counter() - t0
    d = fit.diagnostics()
    stats = fit.posterior["sample_stats"]
    steps = next((stats[n] for n in ("n_steps", "tree_size") if n in stats), None)
    out.update(
        compile_s=float(fit.posterior.attrs["compile_seconds"]),
        sampling_s=float(fit.posterior.attrs["sampling_seconds"]),
        steps_per_draw=float(steps.mean()) if steps is not None else float("nan"),
        min_ess_bulk=float(d.loc["min ESS bulk", "value"]),
        max_r_hat=float(d.loc["max R-hat", "value"]),
        divergences=int(d.loc["divergences", "value"]),
        converged=bool(fit.converged),
        sd_v=float(fit.posterior["posterior"]["sd_v"].mean()),
        sd_v_true=float(np.asarray(sim.params["sd_v"]).ravel()[0]) if "sd_v" in sim.params else float("nan"),
    )
    out["wall_s"] = out["compile_s"] + out["sampling_s"]
    out["fit_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if downstream_persons:
        # the population-level posterior of this fit on a larger cohort of the same spec:
        # with the person intercepts integrated out the draws hold no person dimension, so
        # they apply to any panel of the spec (the downstream cost depends on rows x draws)
        from carepaths.model.fit import Fit

        big = carepaths.simulate(spec, downstream_persons, waves, seed=SEED + 1, mc_persons=50).panel()
        fit = Fit(fit.posterior, spec, big, fit.priors, warn=False)
        out["downstream_persons"] = downstream_persons
        downstream = True
    if downstream:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for label, call in (
                ("effects_s", lambda: fit.effects()),
                ("effects_conditional_s", lambda: fit.effects(population="conditional")),
                ("compare_s", lambda: fit.compare(worked_examples(spec))),
                ("check_s", lambda: fit.check(seed=0, draws=check_draws)),
            ):
                t0 = time.perf_counter()
                call()
                out[label] = time.perf_counter() - t0
        out["check_draws_per_chain"] = check_draws
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def run_child(persons: int, args: argparse.Namespace, mode: str, downstream: bool) -> dict:
    """One size in a fresh process (its own peak memory); the result line it prints."""
    cmd = [sys.executable, __file__, "--one", str(persons), "--mode", mode, "--waves", str(args.waves),
           "--draws", str(args.draws), "--tune", str(args.tune), "--check-draws", str(args.check_draws)]
    if downstream:
        cmd.append("--downstream")
    if getattr(args, "downstream_at", 0) and persons == min(args.sizes) and mode == "integrated":
        cmd += ["--downstream-at", str(args.downstream_at)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT)), None)
    if line is None:
        raise SystemExit(f"size {persons} ({mode}) failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    result = json.loads(line[len(RESULT):])
    result["process_s"] = time.perf_counter() - t0
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    """Run every size and print the tables and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 100000])
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--sampled", type=int, nargs="*", default=None,
                        help="also fit with sampled intercepts: these sizes (none named: the smallest)")
    parser.add_argument("--downstream", action="store_true", help="time effects, compare and check at the largest")
    parser.add_argument("--check-draws", type=int, default=100, help="draws per chain for fit.check at the largest")
    parser.add_argument("--downstream-at", type=int, default=0,
                        help="time effects, compare and check at this many persons with the smallest fit's draws")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="integrated", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = one(args.one, args.waves, args.mode, args.draws, args.tune, args.downstream, args.check_draws,
                     args.downstream_at)
        print(RESULT + json.dumps(result), flush=True)
        return

    print(f"# python {platform.python_version()} {platform.machine()}; {args.waves} waves; "
          f"{args.draws} draws + {args.tune} tune x 2 chains; seed {SEED}", flush=True)
    warm = argparse.Namespace(**{**vars(args), "draws": 50, "tune": 50})
    run_child(200, warm, "integrated", False)  # fills the compile cache
    sampled_sizes = (args.sampled or [min(args.sizes)]) if args.sampled is not None else []
    if sampled_sizes:
        run_child(200, warm, "sampled", False)
    results = []
    for persons in sorted(sampled_sizes):
        results.append(run_child(persons, args, "sampled", False))
    for persons in sorted(args.sizes):
        results.append(run_child(persons, args, "integrated", args.downstream and persons == max(args.sizes)))

    print("\n| persons x waves | intercepts | compile s | sampling s | wall s | steps/draw | min ESS bulk "
          "| max R-hat | divergences | verdict | peak memory GiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in results:
        print(f"| {r['persons']:,} x {r['waves']} | {r['mode']} | {r['compile_s']:.1f} | {r['sampling_s']:.1f} | "
              f"{r['wall_s']:.1f} | {r['steps_per_draw']:.1f} | {r['min_ess_bulk']:.0f} | {r['max_r_hat']:.3f} | "
              f"{r['divergences']} | {'converged' if r['converged'] else 'NOT CONVERGED'} | "
              f"{r['peak_rss_gib']:.2f} |")
    base = next(r for r in results if r["mode"] == "integrated" and r["persons"] == min(args.sizes))
    for r in results:
        if r["mode"] == "integrated" and r is not base:
            print(f"time({r['persons']:,}) / time({base['persons']:,}) = {r['wall_s'] / base['wall_s']:.1f} "
                  f"(wall), {r['sampling_s'] / base['sampling_s']:.1f} (sampling)")
        if r["mode"] == "sampled":
            same = next((i for i in results if i["mode"] == "integrated" and i["persons"] == r["persons"]), None)
            if same is not None:
                print(f"sampled intercepts / integrated at {r['persons']:,}: {r['wall_s'] / same['wall_s']:.2f} (wall)")
            if r["persons"] != min(sampled_sizes):
                small = next(i for i in results if i["mode"] == "sampled" and i["persons"] == min(sampled_sizes))
                print(f"sampled: time({r['persons']:,}) / time({small['persons']:,}) = "
                      f"{r['wall_s'] / small['wall_s']:.1f} (wall)")
    big = next((r for r in results if "effects_s" in r), None)
    if big is not None:
        at = big.get("downstream_persons", big["persons"])
        print(f"\nat {at:,} persons ({big['persons']:,}-person fit's 2 x {args.draws} draws): effects {big['effects_s']:.1f} s, conditional effects "
              f"{big['effects_conditional_s']:.1f} s, compare (4 interventions) {big['compare_s']:.1f} s, "
              f"check ({big['check_draws_per_chain']} draws per chain) {big['check_s']:.1f} s; "
              f"peak memory {big['peak_rss_gib']:.2f} GiB (fit alone {big['fit_rss_gib']:.2f} GiB)")


if __name__ == "__main__":
    main()
