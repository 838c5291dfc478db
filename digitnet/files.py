"""Writing files safely: check first, write to a temporary file, rename into place.

Every file digitnet writes (models, metadata, figures) goes through ``atomic_path``
(or ``atomic_paths`` for files that belong together), so an interrupted or failed
write never leaves a half-written or clobbered file:

* the new content goes to a temporary file beside the target (same file system,
  so the final rename is atomic), which is flushed to disk before the rename;
* on any failure — a full disk, Ctrl-C, SIGTERM, an exception — the temporary file
  is removed and the target is left exactly as it was;
* the renames happen with SIGINT/SIGTERM held back and under a lock on the folder,
  so files that belong together (a model and its metadata) are replaced together,
  and two programs saving the same name at once leave one complete pair: the last.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import stat
import tempfile
import threading
from pathlib import Path

from .errors import DigitnetError, reason

# Any output needs a little room; checked before work starts, not as a guarantee.
MIN_FREE_BYTES = 1 << 20


# --------------------------------------------------------------------------- checking first


def check_writable(path, *, option: str = "--output", min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """Fail now, before any slow work, if ``path`` cannot be written as a file.

    Checks that it is not a folder, that its folder exists and accepts a new file
    (by creating and removing one: permission bits alone are no answer for root
    or on read-only mounts), and that the disk has ``min_free_bytes`` free.
    """
    path = Path(path)
    if path.is_dir():
        raise DigitnetError(f"{path}: is a folder; give {option} a file name instead")
    if path.exists() and not path.is_file():
        raise DigitnetError(f"{path}: is not a regular file; choose another {option}")
    folder = path.parent
    if not folder.exists():
        raise DigitnetError(f"{folder}: folder does not exist; create it or choose another {option}")
    if not folder.is_dir():
        raise DigitnetError(f"{folder}: is not a folder; choose another {option}")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise DigitnetError(f"{folder}: cannot write here ({reason(exc)}); choose another {option}") from None
    free = _free_bytes(folder)
    if free is not None and free < min_free_bytes:
        raise DigitnetError(
            f"{folder}: only {free / 1e6:.1f} MB free on this disk, {min_free_bytes / 1e6:.0f} MB needed; "
            f"free some space or choose another {option}"
        )
    return path


def check_figure_path(path, *, option: str = "--plot") -> Path:
    """Like ``check_writable``, and refuse a suffix matplotlib cannot save (.png, .pdf, .svg…)."""
    from matplotlib.backend_bases import FigureCanvasBase

    from .errors import UsageError

    path = Path(path)
    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = path.suffix.lstrip(".").lower()
    if suffix and suffix not in formats:
        raise UsageError(f"{path}: cannot save a figure as .{suffix}; use .png, .pdf or .svg ({option})")
    return check_writable(path, option=option)


def _free_bytes(folder: Path) -> int | None:
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):  # statvfs is POSIX-only
        return None
    return stats.f_bavail * stats.f_frsize


# --------------------------------------------------------------------------- writing


@contextlib.contextmanager
def atomic_path(path, *, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    On any failure (including KeyboardInterrupt) the temporary file is removed and
    ``path`` is left exactly as it was.  ``suffix`` is the temporary file's ending
    (default: the target's), for writers that choose a format by file name.
    """
    with atomic_paths(path, suffixes=None if suffix is None else (suffix,)) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(*paths, suffixes=None):
    """Yield one temporary path per target; on success move them all into place together.

    The targets are replaced in the order given, with signals held back and the
    folders locked, so readers and concurrent digitnet writers see either all the
    old files or all the new ones.  An OSError becomes one DigitnetError line.
    """
    targets = [Path(p) for p in paths]
    suffixes = tuple(suffixes) if suffixes is not None else tuple(p.suffix for p in targets)
    temporaries: list[Path] = []
    current = targets[0]
    try:
        for target, suffix in zip(targets, suffixes, strict=True):
            current = target
            with _signals_deferred():  # so an interrupt cannot orphan a new temporary file
                temporaries.append(_make_temporary(target, suffix))
        current = targets[0]  # the caller writes them all: name the main one
        yield tuple(temporaries)
        for tmp, target in zip(temporaries, targets, strict=True):
            current = target
            _fsync_file(tmp)
        current = targets[0]
        _replace_all(list(zip(temporaries, targets, strict=True)))
    except OSError as exc:
        raise DigitnetError(
            f"{current}: could not be written ({reason(exc)}); {_advice(exc)}; any previous file is unchanged"
        ) from exc
    finally:
        for tmp in temporaries:
            with contextlib.suppress(OSError):
                tmp.unlink()


def write_json_atomic(path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _make_temporary(target: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp" + suffix)
    try:
        # mkstemp makes the file private (0600): give it the target's permissions if
        # it exists (replacing a file must not change who may read it), else the
        # permissions a plain open() would give under the current umask.
        os.fchmod(fd, _mode_for(target))
    finally:
        os.close(fd)
    return Path(name)


def _mode_for(target: Path) -> int:
    try:
        mode = target.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISREG(mode):
        return stat.S_IMODE(mode)
    return 0o666 & ~current_umask()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_all(pairs) -> None:
    folders = sorted({str(target.parent.resolve()) for _, target in pairs})
    with contextlib.ExitStack() as stack:
        for folder in folders:  # sorted: two writers never lock in opposite orders
            stack.enter_context(_folder_lock(folder))
        with _signals_deferred():
            for tmp, target in pairs:
                os.replace(tmp, target)
        for folder in folders:
            _fsync_folder(folder)


@contextlib.contextmanager
def _folder_lock(folder: str):
    """An exclusive flock on the folder itself: no lock file is ever left behind."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (ImportError, OSError):  # not POSIX, or a folder we may not open: no lock
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable; some file systems cannot, which is fine."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _signals_deferred():
    """Hold back SIGINT and SIGTERM for a few system calls; act on them right after.

    Python runs signal handlers in the main thread whichever thread the kernel
    delivered to (TensorFlow has many), so blocking the OS signal mask is not
    enough: the Python-level handlers are swapped for one that only remembers.
    Elsewhere than the main thread no handler can interrupt this code anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):
            previous[signum] = signal.signal(signum, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in received:
            _deliver(signum, previous.get(signum))


def _deliver(signum: int, handler) -> None:
    """Do what the held-back signal would have done."""
    if callable(handler):
        handler(signum, None)  # e.g. KeyboardInterrupt, or the CLI's Terminated
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)
    # SIG_IGN (or a handler installed outside Python): nothing to do


def current_umask() -> int:
    """The process umask, read without changing it where the system allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it
    os.umask(mask)
    return mask


def _advice(exc: OSError) -> str:
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return "free some disk space or write elsewhere"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "choose a folder you can write to"
    if code == errno.ENOENT:
        return "check that the folder exists"
    if code == errno.EISDIR:
        return "a folder has that name; give a file name"
    return "check the path and try again"
