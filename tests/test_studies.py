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
