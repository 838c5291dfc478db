"""Writing files safely: check first, write to a temporary file, rename into place.

Every file digitnet writes (models, metadata, figures) goes through ``atomic_path``,
so an interrupted or failed write never leaves a half-written or clobbered file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from .errors import DigitnetError


def check_writable(path) -> Path:
    """Fail now, before any training, if ``path`` cannot be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise DigitnetError(f"{path}: is a directory; give a file name inside it")
    folder = path.parent
    if not folder.exists():
        raise DigitnetError(f"{folder}: folder does not exist; create it or choose another --output")
    if not folder.is_dir():
        raise DigitnetError(f"{folder}: is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise DigitnetError(f"{folder}: cannot write here ({exc.strerror or exc}); choose another --output") from None
    return path


@contextlib.contextmanager
def atomic_path(path, *, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    On any failure (including KeyboardInterrupt) the temporary file is removed and
    ``path`` is left exactly as it was.
    """
    path = Path(path)
    suffix = suffix if suffix is not None else path.suffix
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + suffix)
    except OSError as exc:
        raise DigitnetError(f"{path}: cannot be written ({exc.strerror or exc})") from None
    # mkstemp makes the file private (0600); give the result the usual umask permissions.
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise DigitnetError(f"{path}: could not be written ({exc.strerror or exc}); the previous file is unchanged") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_json_atomic(path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
