"""Property-based tests of the IDX and .npz readers.

Whatever bytes they are given — random, or a valid file with bytes changed, cut or
added — they return a correct uint8 array or raise DigitnetError: never another
exception, never a hang (hypothesis' deadline), never a large allocation (tracemalloc).
"""

from __future__ import annotations

import gzip
import io
import struct
import tempfile
import tracemalloc
import zipfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitnet.data import load_dataset
from digitnet.errors import DigitnetError
from digitnet.idx import idx_from_bytes, parse_idx

BOUNDED = settings(
    max_examples=150,
    deadline=timedelta(seconds=2),
    derandomize=True,  # the same examples on every run: CI failures are reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Inputs here are at most a few kB; a reader that allocates more than this was
# fooled by a header.
PEAK_LIMIT = 16 << 20

IMAGES = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
LABELS = np.array([3, 1, 4, 1, 5], dtype=np.uint8)


def idx_bytes(array) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


VALID_IDX = [idx_bytes(IMAGES), idx_bytes(LABELS), gzip.compress(idx_bytes(IMAGES)), gzip.compress(idx_bytes(LABELS))]


def npz_bytes(compressed: bool) -> bytes:
    buffer = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buffer, x_train=IMAGES, y_train=LABELS[:3], x_test=IMAGES[:2], y_test=LABELS[:2])
    return buffer.getvalue()


VALID_NPZ = [npz_bytes(False), npz_bytes(True)]


def outcome_of(func):
    """func()'s result or DigitnetError; anything else fails the test. Checks the peak allocation."""
    tracemalloc.start()
    try:
        try:
            result = func()
        except DigitnetError as exc:
            result = exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"allocated {peak:,} bytes"
    if isinstance(result, DigitnetError):
        message = str(result)
        assert message and "\n" not in message
    return result


@st.composite
def mutated(draw, bases):
    """A valid file with some bytes replaced, then maybe cut short or extended."""
    raw = bytearray(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(0, 4))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del raw[draw(st.integers(0, len(raw))) :]
    raw += draw(st.binary(max_size=16))
    return bytes(raw)


def _load_npz_bytes(raw: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        path.write_bytes(raw)
        return load_dataset(path)


def _check_dataset(result):
    if isinstance(result, DigitnetError):
        return
    for split in (result.train, result.test):
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (28, 28)
        assert split.labels.dtype == np.uint8 and split.labels.max() < 10
        assert len(split.images) == len(split.labels)


# --------------------------------------------------------------------------- IDX


@BOUNDED
@given(st.binary(max_size=2048))
def test_idx_arbitrary_bytes(raw):
    result = outcome_of(lambda: idx_from_bytes(raw, "fuzz"))
    assert isinstance(result, (np.ndarray, DigitnetError))


@BOUNDED
@given(st.binary(max_size=2048))
def test_idx_arbitrary_gzip_stream(raw):
    result = outcome_of(lambda: idx_from_bytes(b"\x1f\x8b" + raw, "fuzz"))
    assert isinstance(result, (np.ndarray, DigitnetError))


@BOUNDED
@given(mutated(VALID_IDX))
def test_idx_mutated_valid_files(raw):
    result = outcome_of(lambda: idx_from_bytes(raw, "fuzz"))
    if isinstance(result, np.ndarray):
        assert result.dtype == np.uint8


@BOUNDED
@given(st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 40), min_size=1, max_size=4), st.binary(max_size=1024))
def test_idx_any_header_any_payload(dims, payload):
    """The array comes back exactly when the payload holds what the header declares."""
    raw = bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload
    result = outcome_of(lambda: parse_idx(raw, name="fuzz"))
    size = int(np.prod(dims, dtype=object))
    if size == len(payload) and 0 not in dims:
        assert isinstance(result, np.ndarray)
        assert result.shape == tuple(dims) and result.tobytes() == payload
    elif size != len(payload):
        assert isinstance(result, DigitnetError)


@pytest.mark.parametrize(
    "raw, expected",
    zip(VALID_IDX, [IMAGES, LABELS, IMAGES, LABELS], strict=True),
    ids=["images", "labels", "images-gzip", "labels-gzip"],
)
def test_idx_unmutated_files_come_back_exactly(raw, expected):
    np.testing.assert_array_equal(idx_from_bytes(raw, "x"), expected)


@pytest.mark.parametrize("raw", VALID_NPZ, ids=["stored", "compressed"])
def test_npz_unmutated_files_come_back_exactly(raw):
    dataset = _load_npz_bytes(raw)
    np.testing.assert_array_equal(dataset.train.images, IMAGES)
    np.testing.assert_array_equal(dataset.test.labels, LABELS[:2])


# --------------------------------------------------------------------------- .npz


@BOUNDED
@given(st.binary(max_size=2048))
def test_npz_arbitrary_bytes(raw):
    _check_dataset(outcome_of(lambda: _load_npz_bytes(raw)))


@BOUNDED
@given(st.binary(max_size=512))
def test_npz_arbitrary_bytes_after_zip_magic(raw):
    _check_dataset(outcome_of(lambda: _load_npz_bytes(b"PK\x03\x04" + raw)))


@BOUNDED
@given(mutated(VALID_NPZ))
def test_npz_mutated_valid_files(raw):
    _check_dataset(outcome_of(lambda: _load_npz_bytes(raw)))


DESCRS = [
    "|u1",
    "<u2",
    ">i4",
    "<i8",
    "<f4",
    "|b1",
    "|O",
    "|V8",
    "|S3",
    "<U2",
    "<c8",
    "[('a', '<i4')]",
    "('<u1', (784,))",
    "'<u1'",
]


@BOUNDED
@given(
    descr=st.sampled_from(DESCRS),
    fortran=st.booleans(),
    shape=st.lists(st.integers(-3, 2**40) | st.integers(0, 30), max_size=4),
    payload=st.binary(max_size=1024),
)
def test_npz_any_npy_header(descr, fortran, shape, payload):
    """Hand-written .npy headers (negative or huge shapes, odd dtypes) over arbitrary data."""
    shape_text = "(" + "".join(f"{d}, " for d in shape) + ")"
    text = (
        f"{{'descr': {descr if descr.startswith(('[', '(', chr(39))) else repr(descr)}, "
        f"'fortran_order': {fortran}, 'shape': {shape_text}, }}"
    )
    header = text.encode("latin1")
    header += b" " * ((-(len(header) + 11)) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload
    buffer = io.BytesIO()
    np.savez(buffer, y_train=LABELS[:3], x_test=IMAGES[:2], y_test=LABELS[:2])
    with zipfile.ZipFile(buffer, "a") as z:
        z.writestr("x_train.npy", member)
    _check_dataset(outcome_of(lambda: _load_npz_bytes(buffer.getvalue())))
