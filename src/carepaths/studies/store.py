"""A study's folder: its plan and one file per finished replicate, each written atomically.

Layout::

    OUT/study.json                      the plan (StudyPlan.to_json)
    OUT/replicates/d000-r00000.json     one record per finished replicate

A replicate's file appears, whole, when its record arrives (a temporary file renamed into
place: :func:`carepaths.files.write_text`), so a crash or a killed worker loses at most the
replicates still running; a study started again in the same folder with the same plan runs
only the replicates that have no file. A folder holding another plan is refused rather
than mixed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from carepaths.exceptions import CarepathsError
from carepaths.files import check_output_dir, write_text
from carepaths.studies.design import StudyPlan

__all__ = ["finished", "prepare", "read_records", "write_record"]

_NAME = re.compile(r"^d(\d{3})-r(\d{5})\.json$")


def _record_path(out: Path, design: int, replicate: int) -> Path:
    return out / "replicates" / f"d{design:03d}-r{replicate:05d}.json"


def prepare(out: str | Path, plan: StudyPlan, *, create: bool = True) -> Path:
    """Check the folder and write the plan (or find the same plan there: a resumed study).

    Parameters
    ----------
    out : str or path
        The study's folder (created when missing).
    plan : StudyPlan
    create : bool
        False: only check (nothing is written).

    Returns
    -------
    pathlib.Path
    """
    folder = check_output_dir(out, what="study folder")
    study = folder / "study.json"
    if study.exists():
        try:
            existing = StudyPlan.from_json(study.read_text(encoding="utf-8"))
        except (ValueError, TypeError, KeyError) as err:
            raise CarepathsError(f"{study}: not a carepaths study plan ({err}); give another folder.") from None
        if existing.fingerprint != plan.fingerprint:
            raise CarepathsError(f"{folder} holds another study (its study.json differs from this plan); give a new "
                                 "folder, or the same plan to resume it.")
    if not create:
        return folder
    folder.mkdir(exist_ok=True)
    if not study.exists():
        write_text(study, plan.to_json() + "\n", what="study plan")
    (folder / "replicates").mkdir(exist_ok=True)
    return folder


def finished(out: Path) -> set[tuple[int, int]]:
    """The ``(design, replicate)`` pairs whose record is on disk."""
    folder = out / "replicates"
    found = set()
    for path in folder.glob("*.json") if folder.exists() else ():
        match = _NAME.match(path.name)
        if match:
            found.add((int(match[1]), int(match[2])))
    return found


def write_record(out: Path, record: dict) -> Path:
    """Write one replicate's record atomically."""
    path = _record_path(out, record["design"], record["replicate"])
    return write_text(path, json.dumps(record, sort_keys=True) + "\n", what="replicate record")


def read_records(out: str | Path) -> list[dict]:
    """Every finished replicate's record, ordered by design and replicate."""
    folder = Path(out)
    if not (folder / "study.json").exists():
        raise CarepathsError(f"{folder}: no study here (no study.json); run a study into it first.")
    records = []
    for design, replicate in sorted(finished(folder)):
        path = _record_path(folder, design, replicate)
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as err:
            raise CarepathsError(f"{path}: unreadable replicate record ({err}); delete it and resume the study.") from None
    return records
