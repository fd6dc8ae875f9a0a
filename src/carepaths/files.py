"""Every file carepaths writes: atomically, after checking the path first.

A write goes to a temporary file in the target's own folder, is flushed and fsynced, and
then renamed over the target (:func:`atomic_write`), so a crash, a full disk or a killed
process leaves either the old file or the new one, never a truncated mix. Output paths
are checked before any expensive work (:func:`check_output_file`,
:func:`check_output_dir`), so a fit is never thrown away because its destination is a
missing folder, a directory or read-only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from carepaths.exceptions import CarepathsError

__all__ = [
    "atomic_write",
    "write_text",
    "write_bytes",
    "write_with",
    "check_output_file",
    "check_output_dir",
    "check_input_file",
    "shorten",
]

_MAX_SHOWN = 120


def shorten(text: object, limit: int = _MAX_SHOWN) -> str:
    """``repr`` of a name for a message, cut to ``limit`` characters (with the full length)."""
    shown = repr(str(text))
    if len(shown) <= limit:
        return shown
    return f"{shown[: limit - 1]}...' ({len(str(text)):,} characters)"


def _os_safe(check):  # noqa: ANN001, ANN202
    """A path check that turns the OS's own refusal (a name too long, ...) into a CarepathsError."""
    import functools

    @functools.wraps(check)
    def checked(path, *, what="path"):  # noqa: ANN001, ANN202
        try:
            return check(path, what=what)
        except OSError as err:
            raise CarepathsError(
                f"{what} {shorten(str(path))} cannot be used: {err.strerror or err}. Choose another path."
            ) from None

    return checked


@_os_safe
def check_output_file(path: str | os.PathLike[str], *, what: str = "output file") -> Path:
    """Refuse an output file path that cannot be written, before any work is done.

    Parameters
    ----------
    path : path-like
        Where the file will go. It may exist (it is replaced atomically).
    what : str
        What the file is, for the message (e.g. ``"fit file"``).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    CarepathsError
        If the path is a directory, its folder is missing or not a folder, or the folder
        (or an existing file) is not writable.
    """
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise CarepathsError(f"{what} path {shorten(str(path))} names no file: give a file name such as fit.nc.")
    if p.is_dir():
        raise CarepathsError(f"{what} {shorten(str(p))} is a directory: give a file name inside it, e.g. {p / 'fit.nc'}.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise CarepathsError(
            f"{what} {shorten(str(p))}: its folder {shorten(str(parent))} does not exist. Create it first "
            f"(mkdir -p {parent}) or choose another path."
        )
    if not parent.is_dir():
        raise CarepathsError(f"{what} {shorten(str(p))}: {shorten(str(parent))} is a file, not a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CarepathsError(f"{what} {shorten(str(p))}: the folder {shorten(str(parent))} is not writable.")
    if p.exists() and not os.access(p, os.W_OK):
        raise CarepathsError(f"{what} {shorten(str(p))} exists and is read-only: choose another path.")
    return p


@_os_safe
def check_output_dir(path: str | os.PathLike[str], *, what: str = "output folder") -> Path:
    """Refuse an output folder that cannot be created or written, before any work is done.

    The folder may exist; if it does not, its parent must (it is created later, by the
    writer). Returns the path.

    Raises
    ------
    CarepathsError
        If the path is a file, or the folder (or its parent, when it does not exist yet) is
        missing or not writable.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise CarepathsError(f"{what} {shorten(str(p))} is a file, not a folder: choose a folder name.")
    target = p if p.exists() else (p.parent if str(p.parent) else Path("."))
    if not target.exists():
        raise CarepathsError(
            f"{what} {shorten(str(p))}: {shorten(str(target))} does not exist. Create it first "
            f"(mkdir -p {p}) or choose another path."
        )
    if not target.is_dir():
        raise CarepathsError(f"{what} {shorten(str(p))}: {shorten(str(target))} is a file, not a folder.")
    if not os.access(target, os.W_OK | os.X_OK):
        raise CarepathsError(f"{what} {shorten(str(p))}: {shorten(str(target))} is not writable.")
    return p


@_os_safe
def check_input_file(path: str | os.PathLike[str], *, what: str = "file") -> Path:
    """Refuse an input path that is missing, a directory or unreadable (distinct messages)."""
    p = Path(path)
    if p.is_dir():
        raise CarepathsError(f"{what} {shorten(str(p))} is a directory, not a file: give the file's path.")
    if not p.exists():
        raise CarepathsError(f"{what} {shorten(str(p))} does not exist. Check the path.")
    if not os.access(p, os.R_OK):
        raise CarepathsError(f"{what} {shorten(str(p))} is not readable (check its permissions).")
    return p


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, what: str = "output file") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> with atomic_write("table.csv") as tmp:  # doctest: +SKIP
    ...     frame.to_csv(tmp)
    """
    target = check_output_file(path, what=what)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():  # keep the mode of the file being replaced
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX: fsync the directory entry)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - not possible on every platform
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike[str], text: str, *, what: str = "output file") -> Path:
    """Write UTF-8 text atomically (:func:`atomic_write`)."""
    with atomic_write(path, what=what) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, what: str = "output file") -> Path:
    """Write bytes atomically (:func:`atomic_write`)."""
    with atomic_write(path, what=what) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], object], *, what: str = "output file") -> Path:
    """Write with ``writer(temporary_path)`` (e.g. ``frame.to_csv``) atomically."""
    with atomic_write(path, what=what) as tmp:
        writer(tmp)
    return Path(path)
