"""Simulated file-system failures for tests: a read-only folder and a disk that fills up.

Tests run as root in CI, where chmod does not stop writes, and an unprivileged user
cannot mount a tiny file system: so these patch the calls that create or write files
inside one folder to fail exactly as the kernel would (EACCES / ENOSPC), leaving
every other path alone.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from pathlib import Path

import pytest

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _inside(path, folder: Path) -> bool:
    if isinstance(path, int):  # an already-open descriptor
        return False
    try:
        return Path(os.path.abspath(os.fsdecode(path))).parent == folder
    except (TypeError, ValueError):
        return False


@pytest.fixture
def read_only_folder(tmp_path, monkeypatch):
    """A folder that refuses new files: chmod 0555 for ordinary users, simulated for root."""
    folder = (tmp_path / "read-only").resolve()
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return

    def refuse(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    real_open, real_replace, real_rename = os.open, os.replace, os.rename

    def guarded_open(path, flags, *args, **kwargs):
        if flags & _WRITE_FLAGS and _inside(path, folder):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def guarded_replace(src, dst, *args, **kwargs):
        if _inside(dst, folder):
            refuse(dst)
        return real_replace(src, dst, *args, **kwargs)

    def guarded_rename(src, dst, *args, **kwargs):
        if _inside(dst, folder):
            refuse(dst)
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "replace", guarded_replace)
    monkeypatch.setattr(os, "rename", guarded_rename)
    _patch_python_open(monkeypatch, folder, budget=None)
    yield folder


def fill_disk_after(monkeypatch, folder, budget: int) -> None:
    """Files written inside ``folder`` fail with ENOSPC once ``budget`` bytes in total were written."""
    _patch_python_open(monkeypatch, Path(folder).resolve(), budget=budget)


class _FillingFile:
    """A writable file proxy that runs out of space, or refuses to open at all."""

    def __init__(self, real, state):
        self._real = real
        self._state = state

    def write(self, data):
        size = len(memoryview(data).cast("B")) if not isinstance(data, str) else len(data.encode())
        if self._state["written"] + size > self._state["budget"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._state["written"] += size
        return self._real.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()
        return False

    def __iter__(self):
        return iter(self._real)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _patch_python_open(monkeypatch, folder: Path, budget: int | None) -> None:
    real_open = io.open
    state = {"written": 0, "budget": budget}

    def patched_open(file, mode="r", *args, **kwargs):
        writing = any(c in mode for c in "wax+")
        if writing and _inside(file, folder):
            if budget is None:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(file))
            return _FillingFile(real_open(file, mode, *args, **kwargs), state)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(io, "open", patched_open)
    monkeypatch.setattr(builtins, "open", patched_open)


def leftovers(folder) -> list[str]:
    """Temporary or probe files digitnet may have left in ``folder`` (there must be none)."""
    return sorted(
        p.name
        for p in Path(folder).iterdir()
        if p.name.startswith(".") and (".tmp" in p.name or p.name.endswith(".probe"))
    )


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 4 MB tmpfs mounted for the test (root only; skipped elsewhere): real ENOSPC and EROFS."""
    import shutil
    import subprocess

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root; the simulated tests cover this case")
    folder = tmp_path / "tiny-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the simulated tests cover this case")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
