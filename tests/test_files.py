"""Writing files: checked before work starts, replaced whole or not at all, permissions kept."""

from __future__ import annotations

import errno
import os
import signal
import stat
import threading

import pytest

from digitnet import files
from digitnet.errors import DigitnetError, UsageError
from digitnet.files import atomic_path, atomic_paths, check_figure_path, check_writable

from faults import fill_disk_after, leftovers


@pytest.fixture
def old_file(tmp_path):
    path = tmp_path / "result.txt"
    path.write_text("old")
    return path


def test_atomic_path_replaces_whole_file_and_leaves_nothing_behind(old_file):
    with atomic_path(old_file) as tmp:
        assert tmp.parent == old_file.parent and tmp.name.endswith(".tmp.txt")
        tmp.write_text("new")
        assert old_file.read_text() == "old"  # not yet
    assert old_file.read_text() == "new"
    assert leftovers(old_file.parent) == []


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyboardInterrupt(), DigitnetError("x")])
def test_failure_while_writing_keeps_the_old_file(old_file, failure):
    with pytest.raises(type(failure)):
        with atomic_path(old_file) as tmp:
            tmp.write_text("half")
            raise failure
    assert old_file.read_text() == "old"
    assert leftovers(old_file.parent) == []


def test_replacing_keeps_the_old_files_permissions(old_file):
    old_file.chmod(0o640)
    with atomic_path(old_file) as tmp:
        tmp.write_text("new")
    assert stat.S_IMODE(old_file.stat().st_mode) == 0o640


def test_new_file_gets_umask_permissions_not_mkstemps_0600(tmp_path):
    previous = os.umask(0o027)
    try:
        assert files.current_umask() == 0o027
        with atomic_path(tmp_path / "new.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


def test_disk_filling_up_mid_write_keeps_the_old_file(old_file, monkeypatch):
    old_file.write_text("old" * 1000)
    fill_disk_after(monkeypatch, old_file.parent, budget=100)
    with pytest.raises(DigitnetError) as info:
        with atomic_path(old_file) as tmp:
            with open(tmp, "w") as f:
                for _ in range(100):
                    f.write("new" * 10)
    message = str(info.value)
    assert "No space left on device" in message and "free some disk space" in message
    assert "previous file is unchanged" in message
    assert old_file.read_text() == "old" * 1000
    assert leftovers(old_file.parent) == []


def test_disk_full_reported_at_fsync_keeps_the_old_file(old_file, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", no_space)
    with pytest.raises(DigitnetError, match="No space left on device"):
        with atomic_path(old_file) as tmp:
            tmp.write_text("new")
    assert old_file.read_text() == "old"
    assert leftovers(old_file.parent) == []


def test_target_is_a_folder_or_in_a_missing_folder(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(DigitnetError, match="a folder has that name"):
        with atomic_path(tmp_path / "taken") as tmp:
            tmp.write_text("x")
    with pytest.raises(DigitnetError, match="check that the folder exists"):
        with atomic_path(tmp_path / "missing" / "x.txt") as tmp:
            tmp.write_text("x")
    assert leftovers(tmp_path) == []


def test_read_only_folder(read_only_folder):
    with pytest.raises(DigitnetError, match="choose a folder you can write to"):
        with atomic_path(read_only_folder / "x.txt") as tmp:
            tmp.write_text("x")
    with pytest.raises(DigitnetError, match="cannot write here .*; choose another --output"):
        check_writable(read_only_folder / "model.keras")


def test_check_writable_cases(tmp_path, monkeypatch):
    assert check_writable(tmp_path / "ok.keras") == tmp_path / "ok.keras"
    assert leftovers(tmp_path) == []
    with pytest.raises(DigitnetError, match="is a folder; give --output a file name instead"):
        check_writable(tmp_path)
    with pytest.raises(DigitnetError, match="folder does not exist; create it or choose another --output"):
        check_writable(tmp_path / "missing" / "m.keras")
    (tmp_path / "plain").write_text("")
    with pytest.raises(DigitnetError, match="is not a folder"):
        check_writable(tmp_path / "plain" / "m.keras")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(DigitnetError, match="not a regular file"):
        check_writable(tmp_path / "fifo")
    monkeypatch.setattr(files, "_free_bytes", lambda folder: 1000)
    with pytest.raises(DigitnetError, match="only 0.0 MB free on this disk.*free some space"):
        check_writable(tmp_path / "m.keras", min_free_bytes=10 << 20)


def test_check_figure_path_refuses_unknown_formats(tmp_path):
    check_figure_path(tmp_path / "a.png")
    check_figure_path(tmp_path / "a.svg")
    with pytest.raises(UsageError, match=r"cannot save a figure as .docx"):
        check_figure_path(tmp_path / "a.docx")


def test_files_that_belong_together_are_replaced_together_despite_sigint(tmp_path, monkeypatch):
    """SIGINT between the two renames is held back until both are done."""
    first, second = tmp_path / "model.keras", tmp_path / "model.keras.json"
    first.write_text("old")
    second.write_text("old")
    real_replace = os.replace
    calls = []

    def replace_and_interrupt(src, dst):
        calls.append(dst)
        if len(calls) == 1:
            # Raised in this thread, so it is handled before the next line whatever other threads
            # earlier tests left running (os.kill may hand it to any of them, and it came too late).
            signal.raise_signal(signal.SIGINT)
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace_and_interrupt)
    with pytest.raises(KeyboardInterrupt):
        with atomic_paths(first, second) as (a, b):
            a.write_text("new")
            b.write_text("new")
    assert first.read_text() == second.read_text() == "new"
    assert leftovers(tmp_path) == []


def test_concurrent_writers_leave_a_matching_complete_pair(tmp_path):
    first, second = tmp_path / "model.keras", tmp_path / "model.keras.json"
    errors = []

    def writer(n):
        try:
            for i in range(25):
                with atomic_paths(first, second) as (a, b):
                    a.write_text(f"{n}-{i}" * 1000)
                    b.write_text(f"{n}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    tag = second.read_text()
    assert first.read_text() == tag * 1000
    assert leftovers(tmp_path) == []
