"""Nothing lost: atomic writes, output paths checked first, fits that load back or say why not.

The save is killed halfway in a child process (a file-size limit makes the kernel stop it
mid-write) and the earlier fit must still load, bit for bit. Every bad file and path gets a
``CarepathsError`` naming the path, from the API and from the command line (exit 2, one
line, no traceback).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import carepaths
from carepaths import CarepathsError, Panel
from carepaths.cli import EXIT_BAD_INPUT, main
from carepaths.files import atomic_write, check_output_dir, check_output_file, shorten, write_text
from carepaths.model.fit import Fit, load_fit
from tests.helpers import mock_fit

ROOT = os.geteuid() == 0
ROOT_REASON = "runs as root, which may write read-only files and folders: a permission check cannot fail"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def fit() -> Fit:
    return mock_fit(carepaths.load_spec(), n_persons=30, draws=20)


@pytest.fixture(scope="module")
def saved(fit, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "fit.nc"
    fit.save(path)
    return path


# ----------------------------------------------------------------------------- atomic writes
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half a new fi")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_a_save_killed_halfway_leaves_the_previous_fit_loadable_bit_for_bit(fit, saved, tmp_path):
    """A child process saves over the file under a file-size limit smaller than the fit.

    The kernel refuses the write past the limit halfway through the temporary file (the
    child then dies); the fit at the target path must be byte-identical and load as before.
    """
    target = tmp_path / "fit.nc"
    target.write_bytes(saved.read_bytes())
    before = _sha(target)
    limit = target.stat().st_size // 2
    code = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        import carepaths
        from tests.helpers import mock_fit
        fit = mock_fit(carepaths.load_spec(), n_persons=30, draws=20)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        print("saving", flush=True)
        fit.save({str(target)!r})
        print("the save finished", flush=True)
    """)
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "saving" in child.stdout, child.stderr  # the child got as far as the save
    # CPython ignores SIGXFSZ, so the write fails with EFBIG ("File too large") and HDF5
    # then aborts the process (seen: SIGSEGV): either way the save died half-written
    assert child.returncode != 0 and "File too large" in child.stderr, (child.returncode, child.stderr[-500:])
    assert "the save finished" not in child.stdout
    # what the kernel stopped was the temporary file: either the process died with it
    # half-written (at most the limit) or the save's own error handler removed it
    partial = [p for p in tmp_path.iterdir() if p.name.startswith(".fit.nc.")]
    assert all(p.stat().st_size <= limit for p in partial)
    assert _sha(target) == before
    again = load_fit(target)
    for name, var in fit.posterior["posterior"].to_dataset().data_vars.items():
        np.testing.assert_array_equal(again.posterior["posterior"][name].values, var.values)


def test_save_keeps_the_mode_of_the_file_it_replaces(fit, tmp_path):
    target = tmp_path / "fit.nc"
    target.write_bytes(b"old")
    target.chmod(0o640)
    fit.save(target)
    assert (target.stat().st_mode & 0o777) == 0o640
    assert load_fit(target).spec == fit.spec


# ----------------------------------------------------------------------------- output paths
@pytest.mark.parametrize(
    "make_path, message",
    [
        (lambda d: d / "missing" / "fit.nc", "does not exist"),
        (lambda d: d, "is a directory"),
        (lambda d: d / "a_file" / "fit.nc", "is a file, not a folder"),
        (lambda d: Path(""), "names no file"),
    ],
    ids=["missing folder", "directory", "file as folder", "empty"],
)
def test_save_refuses_a_bad_path_naming_it(fit, tmp_path, make_path, message):
    (tmp_path / "a_file").write_text("x")
    path = make_path(tmp_path)
    with pytest.raises(CarepathsError, match=message) as err:
        fit.save(path)
    assert str(path) in str(err.value) or path == Path("")


@pytest.mark.skipif(ROOT, reason=ROOT_REASON)
def test_save_refuses_a_read_only_folder(fit, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(CarepathsError, match="not writable"):
            fit.save(folder / "fit.nc")
    finally:
        folder.chmod(0o700)


def test_output_dir_checks(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(CarepathsError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(CarepathsError, match="does not exist"):
        check_output_dir(tmp_path / "a" / "b")
    assert check_output_dir(tmp_path / "new") == tmp_path / "new"  # its parent exists


def test_long_names_are_shortened_in_messages(tmp_path):
    name = "x" * 100_000
    with pytest.raises(CarepathsError) as err:
        check_output_file(tmp_path / "missing" / name)
    assert len(str(err.value)) < 1000 and "characters" in str(err.value)
    assert shorten("short") == "'short'"


# ----------------------------------------------------------------------------- load
def _edit_attr(src: Path, dst: Path, key: str, value: str) -> None:
    tree = xr.open_datatree(src, engine="h5netcdf").load()
    tree.close()
    tree.attrs[key] = value
    tree.to_netcdf(dst, engine="h5netcdf")


@pytest.mark.parametrize(
    "make_file, message",
    [
        (lambda src, p: p.write_bytes(src.read_bytes()[: len(src.read_bytes()) // 3]), "cannot be read as netCDF"),
        (lambda src, p: p.write_bytes(b"\x00garbage" * 100), "cannot be read as netCDF"),
        (lambda src, p: p.write_text("time,value\n1,2\n"), "cannot be read as netCDF"),
        (lambda src, p: xr.Dataset({"a": ("x", [1.0])}).to_netcdf(p, engine="h5netcdf"), "not written by carepaths"),
        (lambda src, p: _edit_attr(src, p, "carepaths_spec", "{not json"), "not JSON"),
        (lambda src, p: _edit_attr(src, p, "carepaths_spec_hash", "0" * 64), "does not match its hash"),
        (lambda src, p: _edit_attr(src, p, "carepaths_priors", "[1, 2]"), "priors"),
        (lambda src, p: _edit_attr(src, p, "carepaths_format_version", "two"), "not a number"),
        (lambda src, p: _edit_attr(src, p, "carepaths_format_version", "99"), "format version 99"),
    ],
    ids=["truncated", "garbage", "csv", "foreign netCDF", "spec not JSON", "spec hash", "priors edited",
         "version text", "version unknown"],
)
def test_load_fit_refuses_damaged_or_foreign_files_naming_the_path(saved, tmp_path, make_file, message):
    path = tmp_path / "bad.nc"
    make_file(saved, path)
    with pytest.raises(CarepathsError, match=message) as err:
        load_fit(path)
    assert str(path) in str(err.value)
    code, _, stderr = run(["effects", str(path)])  # the CLI: exit 2, one line, no traceback
    assert code == EXIT_BAD_INPUT and stderr.count("\n") == 1 and "Traceback" not in stderr


def test_load_fit_says_directory_and_missing_apart(tmp_path):
    with pytest.raises(CarepathsError, match="is a directory"):
        load_fit(tmp_path)
    with pytest.raises(CarepathsError, match="does not exist"):
        load_fit(tmp_path / "nope.nc")


# ----------------------------------------------------------------------------- data that comes back
def test_round_trip_keeps_the_dropped_rows_exactly(tmp_path):
    spec = carepaths.load_spec()
    frame = carepaths.simulate(spec, 40, 3, seed=2, mc_persons=50).data
    frame = frame.set_axis([f"r{i}" for i in range(len(frame))])  # text row labels survive too
    frame.loc["r3", "severity"] = np.nan
    frame.loc["r7", "prior_care"] = None
    frame.loc["r8", "support"] = np.nan
    with pytest.warns(carepaths.DroppedRowsWarning):
        panel = Panel.from_frame(frame, spec, dropna=True)
    # a fit on that panel: prior draws through pymc's mock sampler (no MCMC)
    from pymc.testing import mock_sample

    model = carepaths.MediationModel(spec, panel)
    with model.model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = mock_sample(draws=5, random_seed=1, sample_stats={
            "diverging": lambda size: np.zeros(size, dtype=bool),
            "energy": lambda size: np.random.default_rng(0).normal(size=size),
        })
    fit = Fit(post, spec, panel, model.priors, warn=False)
    fit.save(tmp_path / "fit.nc")
    again = load_fit(tmp_path / "fit.nc")
    pd.testing.assert_frame_equal(again.panel.dropped, panel.dropped)
    pd.testing.assert_frame_equal(again.panel.frame, panel.frame)
    assert list(again.panel.dropped.index) == ["r3", "r7", "r8"]


def test_a_data_column_called_row_is_saved_and_loaded(tmp_path):
    """The stored frames use an internal row coordinate, so no user column name collides."""
    d = carepaths.load_spec("single_mediator").to_dict()
    d["exposure"]["name"] = "row"
    spec = carepaths.Spec.from_dict(d)
    frame = carepaths.simulate(carepaths.load_spec("single_mediator"), 40, 1, seed=3, mc_persons=50).data
    frame = frame.rename(columns={"treat": "row"})
    from pymc.testing import mock_sample

    model = carepaths.MediationModel(spec, Panel.from_frame(frame, spec))
    with model.model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = mock_sample(draws=5, random_seed=1, sample_stats={
            "diverging": lambda size: np.zeros(size, dtype=bool),
            "energy": lambda size: np.random.default_rng(0).normal(size=size),
        })
    fit = Fit(post, spec, model.panel, model.priors, warn=False)
    fit.save(tmp_path / "fit.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = load_fit(tmp_path / "fit.nc")
    pd.testing.assert_frame_equal(again.panel.frame, fit.panel.frame)
