"""The g-formula of carepaths against pygformula's, on a scenario without person effects (issue 18).

Workload: the longitudinal scenario without person effects (the default spec without age,
``person_effects = "none"``, the exposure's person effect 0: every variable's model is then
one that pygformula can fit too), ``--persons`` (2,000) x 4 waves, seed ``--seed``. The
intervention: support +1 SD (of the observed support) from wave 2 on. The estimand: care
use at the last wave under the intervention minus under the natural course.

* **carepaths**: the per-wave model (2 x 1,000 draws) and the models over waves,
  ``fit.trajectories`` on 400 posterior draws: the posterior mean and SD;
* **pygformula** (the NICE parametric g-formula of Hernán's group, maximum likelihood):
  covariates simulated in causal order within a wave (stage: multinomial logit on the
  previous stage and care; severity: normal on its lag, stage and previous care; support:
  normal on stage, severity, prior care and the lags; each mediator: normal with
  stage-specific support paths; care: logistic with stage-specific support and mediator
  paths), the same terms as carepaths' equations, the outcome at the last wave
  (``binary_eof``), ``--simul`` simulated persons;
* **truth**: the forward simulation of 50,000 new persons on the true parameters.

pygformula is a benchmark-only dependency (never imported by carepaths). Its releases
1.1.5 to 1.2.0 do not import (their wheels lack ``pygformula/version.py``); 1.1.0 does. Install
it beside carepaths in a separate environment:
``uv venv /tmp/pygf && uv pip install --python /tmp/pygf/bin/python pygformula==1.1.0 -e .``

Run: ``/tmp/pygf/bin/python benchmarks/pygformula_agreement.py [--persons 2000] [--seed 7] [--simul 20000]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import time
import warnings

import numpy as np


def main() -> None:
    """Fit both ways and print the comparison."""
    import carepaths
    from carepaths import Intervention, MediationModel, Panel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--simul", type=int, default=20000)
    args = parser.parse_args()
    data = carepaths.load_spec("five_mechanisms").to_dict()
    data["confounders"] = [c for c in data["confounders"] if c["name"] != "age"]
    data["structure"]["person_effects"] = "none"
    data["time"] = {"lags": ["care_use", "stage", "severity"], "time_varying": ["severity"],
                    "stage_transition": {"given": ["care_use"]}}
    spec = carepaths.Spec.from_dict(data)
    sim = carepaths.simulate(spec, args.persons, 4, {"sd_x_person": 0.0}, seed=args.seed, mc_persons=2000)
    iv = Intervention("support +1 SD from wave 2", "support", shift=1.0, from_wave=2)
    truth = sim.trajectory_truth(iv, mc_persons=50_000)
    true_diff = truth["care_use_diff"].sel(world=iv.name, wave=4).item()
    true_se = truth["care_use_diff_se"].sel(world=iv.name, wave=4).item()
    print(f"# python {platform.python_version()}; {args.persons} persons x 4 waves; seed {args.seed}", flush=True)

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MediationModel(spec, Panel.from_frame(sim.data, spec)).fit(seed=args.seed)
        result = fit.trajectories(iv, draws=400, seed=args.seed)
    ours = result.draws["care_use_diff"].sel(world=iv.name, wave=4).values
    ours_natural = result.draws["care_use"].sel(world="natural course", wave=4).values
    t1 = time.perf_counter()

    theirs, theirs_natural, t2 = _pygformula(sim.data, spec, args)
    print(f"\ncarepaths: fit, models over waves and trajectories {t1 - t0:.1f} s; pygformula {t2:.1f} s")
    print(f"converged: {result.converged}")
    print("\n| estimate of the wave-4 effect on care use | value |\n|---|---:|")
    print(f"| truth (50,000 new persons; MC SE {true_se:.4f}) | {true_diff:+.4f} |")
    print(f"| carepaths posterior mean (SD) | {ours.mean():+.4f} ({ours.std(ddof=1):.4f}) |")
    print(f"| pygformula (maximum likelihood, {args.simul:,} simulated persons) | {theirs:+.4f} |")
    print(f"| carepaths - pygformula, in carepaths posterior SDs | {(ours.mean() - theirs) / ours.std(ddof=1):+.2f} |")
    print(f"\nnatural course, care use at wave 4: carepaths {ours_natural.mean():.4f} (SD {ours_natural.std(ddof=1):.4f}), "
          f"pygformula {theirs_natural:.4f}, observed {sim.data.loc[sim.data['wave'] == 4, 'care_use'].mean():.4f}")


def _pygformula(frame, spec, args):  # noqa: ANN001, ANN202
    """pygformula's estimate of the wave-4 effect, and its natural course's care use."""
    from pygformula import ParametricGformula

    df = frame.copy()
    df["id"] = df["person"]
    df["t0"] = df["wave"] - 1
    df["stage"] = df["stage"].map({s: i for i, s in enumerate(spec.stage_levels)})
    df["prior_care"] = (df["prior_care"] == "yes").astype(int)
    df["Y"] = df["care_use"]
    df = df.sort_values(["id", "t0"]).reset_index(drop=True)
    mediators = list(spec.mediator_names)
    sd = float(df["support"].std())
    past = "prior_care + lag1_care_use + lag1_severity"
    covnames = ["stage", "severity", "support", *mediators, "care_use"]
    covtypes = ["categorical", "normal", "normal", *["normal"] * len(mediators), "binary"]
    paths = " + ".join(f"C(stage):{m}" for m in mediators)
    covmodels = [
        "stage ~ C(lag1_stage) + lag1_care_use",
        "severity ~ lag1_severity + C(stage) + lag1_care_use",
        f"support ~ C(stage) + severity + {past}",
        *[f"{m} ~ C(stage) + C(stage):support + severity + {past}" for m in mediators],
        f"care_use ~ C(stage) + C(stage):support + {paths} + severity + {past}",
    ]
    ymodel = f"Y ~ C(stage) + C(stage):support + {paths} + severity + {past}"

    def shift(new_df, pool, int_var, time_name, t):  # noqa: ANN001, ANN202
        if t >= 1:  # from wave 2 (t0 = 1) on
            new_df[int_var] = new_df[int_var] + sd

    t0 = time.perf_counter()
    g = ParametricGformula(obs_data=df, id="id", time_name="t0", time_points=4, outcome_name="Y", ymodel=ymodel,
                           outcome_type="binary_eof", covnames=covnames, covtypes=covtypes, covmodels=covmodels,
                           basecovs=["prior_care"], int_descript=["shift"], Intervention1_support=[shift],
                           n_simul=args.simul, seed=args.seed)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g.fit()
    table = g.summary_dict["gformula_results"]
    print(table.to_string(), flush=True)
    means = table.set_index("Intervention")["g-formula (NICE)"].astype(float)
    natural = float(means.iloc[1]) if "Natural course" in str(table.iloc[0, 0]) else float(means.iloc[0])
    shifted = float(means.loc["shift"])
    return shifted - natural, natural, time.perf_counter() - t0


if __name__ == "__main__":
    main()
