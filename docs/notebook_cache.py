"""Where the documentation build caches the executed notebooks, keyed on the library.

myst-nb (``nb_execution_mode = "cache"``) stores each executed notebook in a jupyter-cache
and reuses it while the notebook's code cells are unchanged. That key alone would keep
serving outputs computed by an older carepaths: a change in ``src/`` that breaks a notebook
would pass both the docs build and ``tests/test_notebooks.py``. So the cache lives in a
folder named after a hash of everything a notebook's outputs depend on besides its own
cells: the package source, the shipped specs and the locked dependency versions. Any change
there starts an empty cache (the notebooks run again); stale folders are removed.

Used by ``docs/conf.py`` (the build) and ``tests/test_notebooks.py`` (which reads the
build's results instead of executing the notebooks a second time).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE_ROOT = ROOT / ".jupyter_cache"
# What a notebook's outputs depend on besides its own code cells.
INPUTS = ("src/carepaths/**/*.py", "models/**/*.toml", "uv.lock")


def inputs_digest(root: Path = ROOT) -> str:
    """A short hash of the package source, the shipped specs and ``uv.lock``."""
    digest = hashlib.sha256()
    files = sorted({p for pattern in INPUTS for p in root.glob(pattern) if p.is_file()})
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cache_path(root: Path = ROOT) -> Path:
    """The jupyter-cache folder for the library as it is now."""
    return CACHE_ROOT / inputs_digest(root)


def prune(keep: Path) -> None:
    """Remove the cache folders of other library states than ``keep``'s."""
    if not CACHE_ROOT.is_dir():
        return
    for folder in CACHE_ROOT.iterdir():
        if folder.is_dir() and folder != keep:
            shutil.rmtree(folder, ignore_errors=True)
