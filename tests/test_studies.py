"""Studies on Dask (issue 19): a tiny study end to end on a LocalCluster, resumed after a
loss, identical with one worker or with a worker killed mid-study, and bad input.

The studies' statistical results (coverage of the default spec's intervals, power curves)
need hundreds of fits: they are benchmarks (``benchmarks/studies.py``, figures in
``benchmarks/README.md``), not tests. Here the replicates are tiny (40-80 persons x 2 waves,
one mechanism, 2 chains x 60 draws) and the assertions are about the machinery: every
replicate exactly once, the same numbers whatever the workers, nothing lost.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

import carepaths
from carepaths import studies
from carepaths.exceptions import CarepathsError

TINY = {"persons": [40, 80], "waves": 2, "replicates": 3, "seed": 7, "draws": 60, "tune": 60}


def _tiny_spec():
    data = carepaths.load_spec("five_mechanisms").to_dict()
    data["stages"] = ["crisis", "recovery"]
    data["mediators"] = [m for m in data["mediators"] if m["name"] == "encouragement"]
    data["confounders"] = [c for c in data["confounders"] if c["name"] == "severity"]
    data["structure"]["person_effects"] = "none"
    return carepaths.Spec.from_dict(data)


def _numbers(folder):
    """Every record's numbers (not how it ran: seconds, compile seconds, pid), by file name."""
    out = {}
    for path in sorted((folder / "replicates").glob("*.json")):
        record = json.loads(path.read_text())
        for how in ("seconds", "pid", "compile_seconds", "started"):
            record.pop(how)
        out[path.name] = record
    return out


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    """The tiny power study on one local worker, undisturbed."""
    folder = tmp_path_factory.mktemp("study") / "one_worker"
    plan = studies.make_plan("power", _tiny_spec(), claim="NIE > 0 in crisis", **TINY)
    studies.run_study(plan, folder, workers=1, progress=False)
    return plan, folder


def test_a_tiny_power_study_runs_every_replicate_once_and_summarises_them(undisturbed):
    plan, folder = undisturbed
    result = studies.load_study(folder)
    assert result.complete and len(result.records) == 6
    assert sorted((r["design"], r["replicate"]) for r in result.records) == plan.tasks()
    assert len({r["seed"] for r in result.records}) == 6  # a seed of its own per replicate
    power = result.power()
    assert list(power["persons"]) == [40, 80] and list(power["replicates"]) == [3, 3]
    assert np.all((power["lower"] <= power["power"]) & (power["power"] <= power["upper"]))
    for r in result.records:  # the claim's probability is the share of draws with NIE[crisis] > 0
        assert 0.0 <= r["claim_probability"] <= 1.0 and r["supported"] == (r["claim_probability"] >= 0.95)
    coverage = result.coverage()
    assert set(coverage.index.get_level_values("quantity")) >= {"a[encouragement, crisis]", "NIE[recovery]"}
    assert coverage["replicates"].eq(3).all()
    assert result.ranks()["p_value"].between(0, 1).all()
    assert ("NOT CONVERGE" in repr(result)) == (result.not_converged > 0)


def test_a_study_killed_mid_way_resumes_and_a_killed_worker_changes_no_number(undisturbed, tmp_path):
    """Two workers, one killed (SIGKILL) while replicates run: the scheduler reruns its task
    and the results equal the undisturbed one-worker run's, file for file. Then two records
    are deleted (a study stopped before writing them) and the study, started again, runs
    exactly those two."""
    from distributed import Client, LocalCluster

    plan, reference = undisturbed
    folder = tmp_path / "killed"
    killed = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:

        def kill_one_busy_worker():
            deadline = time.time() + 300
            while time.time() < deadline and "pid" not in killed:
                done = list((folder / "replicates").glob("*.json")) if (folder / "replicates").exists() else []
                busy = [w for w, keys in client.processing().items() if keys]
                if done and busy:
                    pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed["pid"] = pid
                time.sleep(0.2)

        killer = threading.Thread(target=kill_one_busy_worker, daemon=True)
        killer.start()
        studies.run_study(plan, folder, scheduler=cluster.scheduler_address, progress=False)
        killer.join(timeout=5)
    assert "pid" in killed, "no worker was killed mid-study: the test did not test anything"
    assert _numbers(folder) == _numbers(reference)

    kept = {p.name: p.stat().st_mtime_ns for p in (folder / "replicates").glob("*.json")}
    lost = sorted(kept)[1:3]
    for name in lost:
        (folder / "replicates" / name).unlink()
    studies.run_study(plan, folder, workers=1, progress=False)
    assert _numbers(folder) == _numbers(reference)
    now = {p.name: p.stat().st_mtime_ns for p in (folder / "replicates").glob("*.json")}
    assert [n for n in now if now[n] != kept.get(n)] == lost  # only the lost ones ran again


def test_a_finished_study_runs_nothing_and_a_folder_of_another_study_is_refused(undisturbed):
    plan, folder = undisturbed
    before = _numbers(folder)
    studies.run_study(plan, folder, scheduler="tcp://127.0.0.1:9", progress=False)  # nothing to run: no connection
    assert _numbers(folder) == before
    other = studies.make_plan("power", _tiny_spec(), claim="NIE > 0 in crisis", **{**TINY, "seed": 8})
    with pytest.raises(CarepathsError, match="holds another study"):
        studies.run_study(other, folder, workers=1, progress=False)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"claim": "the paradox"}, r"unknown claim 'the paradox': expected 'paradox', or statements"),
    ({"claim": "NIE < 0 in recovry"}, r"unknown stage 'recovry'; the spec's stages are crisis, recovery"),
    ({"claim": "ATE < 0 in recovery"}, r"unknown effect 'ATE'"),
    ({"claim": "NIE < 0 in recovery", "persons": []}, r"empty design: give at least one number of persons"),
    ({"claim": "NIE < 0 in recovery", "truth": {"zeta": 1.0}}, r"truth: unknown parameter 'zeta'"),
    ({"claim": "NIE < 0 in recovery", "truth": {"c": [np.nan, 0.0]}}, r"'c' has non-finite values"),
    ({"claim": "NIE < 0 in recovery", "threshold": 1.0}, r"threshold must be a probability strictly between"),
])
def test_bad_study_inputs_are_refused_before_any_fit(kwargs, message):
    args = {**TINY, **kwargs}
    with pytest.raises(CarepathsError, match=message):
        studies.make_plan("power", _tiny_spec(), **args)


def test_the_paradox_claim_needs_the_specs_paradox_table():
    data = _tiny_spec().to_dict()
    data.pop("paradox", None)
    with pytest.raises(CarepathsError, match=r"has no \[paradox\] table"):
        studies.make_plan("power", carepaths.Spec.from_dict(data), claim="paradox", **TINY)
    assert studies.parse_claim("paradox", _tiny_spec()).statements == (("TE", 1, "crisis"), ("TE", -1, "recovery"))


def test_an_unreachable_scheduler_is_one_line_that_says_how_to_start_one(tmp_path, capsys, monkeypatch):
    from carepaths.cli import main
    from carepaths.studies import runner

    monkeypatch.setattr(runner, "SCHEDULER_TIMEOUT", "2s")  # nothing listens there: no need to wait 10 s

    code = main(["study", "power", "five_mechanisms", "--out", str(tmp_path / "s"), "--persons", "40",
                 "--scheduler", "tcp://127.0.0.1:9", "--claim", "NIE < 0 in recovery"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "could not reach a Dask scheduler at tcp://127.0.0.1:9" in err[0] and "dask scheduler" in err[0]
    assert not (tmp_path / "s").exists()  # nothing written before the scheduler answered


def test_the_cli_reads_a_finished_study_back_into_its_table(undisturbed, tmp_path, capsys):
    """The same plan from the command line finds every replicate done: it runs nothing (no
    scheduler is reached) and writes the power table, exit 3 exactly when a replicate's fit
    did not converge."""
    from carepaths.cli import main

    plan, folder = undisturbed
    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(_tiny_spec().to_toml())
    code = main(["study", "power", str(spec_path), "--out", str(folder), "--persons", "40", "80", "--waves", "2",
                 "--replicates", "3", "--seed", "7", "--draws", "60", "--tune", "60", "--claim", "NIE > 0 in crisis",
                 "--scheduler", "tcp://127.0.0.1:9"])
    result = studies.load_study(folder)
    assert code == (3 if result.not_converged else 0)
    table = (folder / "power.csv").read_text()
    assert table.splitlines()[0].startswith(",persons,waves,replicates,supported,power")
    assert "Wrote" in capsys.readouterr().out


# ------------------------------------------------------------------------------ SBC
def test_an_sbc_replicate_fits_data_drawn_from_the_model_at_its_prior_draw():
    """An SBC replicate's truth is the model's own prior draw for that replicate's seed
    (recomputed here from the seed), and its data come from the model at that draw: with
    200 persons x 2 waves the posterior concentrates around it. Tolerance: each of the 12
    posterior means within 4 posterior SDs of the truth (a calibrated posterior misses that
    with probability 6e-5 per quantity)."""
    from carepaths.data import Panel
    from carepaths.model.build import MediationModel
    from carepaths.simulation import simulate
    from carepaths.studies.replicate import run_replicate

    plan = studies.make_plan("sbc", _tiny_spec(), persons=200, waves=2, replicates=1, seed=11, draws=200, tune=200)
    record = run_replicate(plan.to_json(), 0, 0)
    seed = plan.task_seed(0, 0)
    spec = _tiny_spec()
    panel = Panel.from_frame(simulate(spec, 200, 2, seed=seed, mc_persons=plan.mc_persons).data, spec)
    prior = MediationModel(spec, panel).prior_draws(1, seed=seed).sample(0)
    truth = {q["quantity"]: q["truth"] for q in record["quantities"]}
    assert truth["a[encouragement, crisis]"] == pytest.approx(prior["a"][0, 0], rel=1e-12)
    assert truth["b[encouragement, recovery]"] == pytest.approx(prior["b"][0, 1], rel=1e-12)
    assert truth["c[recovery]"] == pytest.approx(prior["c"][1], rel=1e-12)
    assert len(record["quantities"]) == 12
    for q in record["quantities"]:
        assert abs(q["mean"] - q["truth"]) < 4 * q["sd"], q
        assert 0 <= q["rank"] <= 99


def _fake_study(folder, ranks_of):
    """An SBC study's folder with records whose ranks are given (no fits): the tests' truth."""
    from carepaths.studies.store import prepare, write_record

    plan = studies.make_plan("sbc", _tiny_spec(), persons=40, waves=2, replicates=200, seed=1)
    prepare(folder, plan)
    for r in range(200):
        write_record(folder, {"design": 0, "replicate": r, "persons": 40, "waves": 2, "seed": r, "converged": True,
                              "failures": [], "quantities": [
                                  {"quantity": name, "truth": 0.0, "mean": 0.0, "sd": 1.0, "lower": -1.0, "upper": 1.0,
                                   "rank": int(rank(r))} for name, rank in ranks_of.items()]})
    return studies.load_study(folder)


def test_rank_uniformity_tests_pass_uniform_ranks_and_fail_a_biased_or_overconfident_posterior(tmp_path):
    """Known answers: ranks spread evenly over 0..99 are uniform; ranks always at the top (a
    posterior below the truth) or piled at both ends (intervals too narrow) are not. Both
    tests, chi-square and ArviZ's ECDF, must say so (p > 0.1, far from rejecting, and p < 1e-6;
    pot_c's p-value of an exactly even sample is about 0.5, not 1)."""
    rng = np.random.default_rng(0)
    uniform_ranks = rng.permutation(np.arange(200) % 100)
    result = _fake_study(tmp_path / "s", {
        "a[even]": lambda r: uniform_ranks[r],
        "b[biased]": lambda r: 90 + r % 10,
        "c[narrow]": lambda r: (r % 5) if r % 2 else 95 + r % 5,
    })
    ranks = result.ranks()
    even, biased, narrow = (ranks.loc[(40, q)] for q in ("a[even]", "b[biased]", "c[narrow]"))
    assert even["p_value"] > 0.1 and even["ecdf_p_value"] > 0.1
    for bad in (biased, narrow):
        assert bad["p_value"] < 1e-6 and bad["ecdf_p_value"] < 1e-6
    pit = result.pit()["pit"]
    assert pit.sizes == {"chain": 1, "draw": 200, "quantity": 3}
    assert float(pit.min()) > 0 and float(pit.max()) < 1
    fig = result.plot()  # ArviZ's ECDF panels, one per quantity, named by it
    assert sorted(ax.get_title() for ax in fig.axes if ax.get_title()) == ["a[even]", "b[biased]", "c[narrow]"]


def test_the_cli_refuses_a_claim_for_an_sbc_study_in_one_line(tmp_path, capsys):
    from carepaths.cli import main

    code = main(["study", "sbc", "five_mechanisms", "--out", str(tmp_path / "s"), "--claim", "paradox"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["carepaths: error: --claim and --threshold are a power study's; a sbc study takes "
                                 "neither."]


@pytest.mark.parametrize(("change", "message"), [
    ({"truth": {"c": [0.1, 0.1]}}, r"an SBC study draws every replicate's truth from the model's prior"),
    ({"claim": "paradox"}, r"claim is a power study's; a sbc study takes none"),
    ({"time": {"lags": ["care_use"]}}, r"has a \[time\] section: SBC replicates"),
])
def test_bad_sbc_inputs_are_refused_before_any_fit(change, message):
    spec = _tiny_spec()
    if "time" in change:
        data = spec.to_dict()
        data["time"] = change.pop("time")
        spec = carepaths.Spec.from_dict(data)
    with pytest.raises(CarepathsError, match=message):
        studies.make_plan("sbc", spec, **{**TINY, "persons": 40, **change})


def test_a_panel_with_new_model_values_keeps_its_scaling_and_refuses_a_wrong_shape():
    """The SBC's data: new mediator and outcome values on the model's scale, the design's
    scaling constants kept (original units through them), and a clear error for a shape that
    is not the panel's."""
    from carepaths.data import Panel
    from carepaths.exceptions import DataError

    spec = _tiny_spec()
    panel = Panel.from_frame(carepaths.simulate(spec, 30, 2, seed=1, mc_persons=100).data, spec)
    rows = panel.n_obs
    M, Y = np.full((rows, 1), 0.5), np.ones(rows)
    new = panel.with_model_values(M, Y)
    assert new.scaling == panel.scaling
    np.testing.assert_array_equal(new.dataset["M"].values, M)
    np.testing.assert_array_equal(new.dataset["X"].values, panel.dataset["X"].values)
    np.testing.assert_allclose(new.frame["encouragement"], panel.scaling["encouragement"].to_original(0.5))
    assert (new.frame["care_use"] == 1).all()
    with pytest.raises(DataError, match=rf"expected M \({rows}, 1\) and Y \({rows},\)"):
        panel.with_model_values(M[:-1], Y)
    with pytest.raises(DataError, match="must be finite"):
        panel.with_model_values(np.full((rows, 1), np.nan), Y)
