"""Running a study's replicates on Dask distributed, writing each record as it arrives.

A study runs on a ``distributed.LocalCluster`` (one single-threaded worker process per CPU
by default) or on any running Dask scheduler given by its address, with no change to the
code. Each replicate is one task (:func:`carepaths.studies.replicate.run_replicate`); the
scheduler reruns the task of a worker that dies, and the client writes each record as its
task finishes (:mod:`carepaths.studies.store`), so nothing finished is lost and a study
started again in the same folder runs only what is missing.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from carepaths.exceptions import CarepathsError
from carepaths.studies.design import StudyPlan
from carepaths.studies.replicate import run_replicate
from carepaths.studies.store import finished, prepare, write_record

__all__ = ["SCHEDULER_TIMEOUT", "run_study"]

#: How long to wait for a scheduler given by address before saying it cannot be reached.
SCHEDULER_TIMEOUT = "10s"


def _connect(scheduler: str | None, workers: int | None) -> tuple[Any, Any]:
    """A Dask client on the scheduler at ``scheduler``, or on a new LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler is None:
        n = workers if workers is not None else (os.cpu_count() or 1)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise CarepathsError(f"workers must be a positive integer, got {workers!r}.")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        return Client(cluster), cluster
    if workers is not None:
        raise CarepathsError("workers is the local cluster's size; a scheduler given by address has its own workers.")
    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT), None
    except (OSError, TimeoutError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CarepathsError(
            f"could not reach a Dask scheduler at {scheduler} ({reason}): start one with `dask scheduler` and workers "
            f"with `dask worker {scheduler}`, or leave the scheduler out to run on a local cluster."
        ) from None


def _bar(total: int, initial: int, enabled: bool, label: str) -> Any:
    try:
        import ipywidgets  # noqa: F401  (a widget bar in a notebook needs it)
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm(total=total, initial=initial, disable=not enabled, desc=label, unit="replicate", file=sys.stderr)


def run_study(plan: StudyPlan, out: str | Path, *, scheduler: str | None = None, workers: int | None = None,
              progress: bool = True) -> Path:
    """Run every replicate of ``plan`` that has no record in ``out`` yet.

    Parameters
    ----------
    plan : StudyPlan
    out : str or path
        The study's folder (:mod:`carepaths.studies.store`), checked before any work.
    scheduler : str, optional
        A running Dask scheduler's address (``tcp://host:8786``); default: a LocalCluster.
    workers : int, optional
        The LocalCluster's worker processes (default: one per CPU).
    progress : bool
        A progress bar (terminal or notebook) and the dashboard's link.

    Returns
    -------
    pathlib.Path
        The study's folder.

    Raises
    ------
    CarepathsError
        For an unreachable scheduler, a folder holding another study, or replicates that
        failed (each named, with its error; the others are written).
    """
    from distributed import as_completed

    folder = prepare(out, plan, create=False)  # before any work: a bad folder, another study's
    done = finished(folder)
    todo = [task for task in plan.tasks() if task not in done]
    if not todo:
        return folder
    client, cluster = _connect(scheduler, workers)
    prepare(folder, plan)
    failed: list[str] = []
    try:
        if progress:
            print(f"carepaths study: {len(todo)} replicate(s) to run on {len(client.scheduler_info()['workers'])} "
                  f"worker(s); dashboard: {client.dashboard_link}", file=sys.stderr, flush=True)
        text = plan.to_json()
        tag = plan.fingerprint[:12]
        futures = {client.submit(run_replicate, text, d, r, key=f"carepaths-{tag}-d{d}-r{r}", pure=False): (d, r)
                   for d, r in todo}
        bar = _bar(len(plan.tasks()), len(done), progress, f"{plan.kind} study")
        try:
            # as_completed on this client's loop, not default_client()'s: inside a user's `with
            # Client(...)` that is another client, and a task rerun after a lost worker would
            # then be awaited on two event loops (RuntimeError: bound to a different event loop).
            for future in as_completed(futures, loop=client.loop):
                d, r = futures[future]
                try:
                    record = future.result()
                except Exception as err:  # noqa: BLE001  (a replicate's error is reported with the others')
                    failed.append(f"design {d} replicate {r}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
                    continue
                write_record(folder, record)
                bar.update(1)
        finally:
            bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if failed:
        raise CarepathsError(f"{len(failed)} replicate(s) failed (the others are written to {folder}; run the study "
                             f"again to retry them): {'; '.join(failed[:3])}")
    return folder
