"""Data readers: every bad data file gives one clear DigitnetError, never a crash or a huge allocation."""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from digitnet import data
from digitnet.data import IDX_NAMES, load_dataset
from digitnet.errors import DigitnetError
from digitnet.idx import parse_idx, read_idx, write_idx

from synth import write_idx_folder, write_npz

# What "no large allocation" means here: far below the sizes the lying headers claim.
SMALL_PEAK = 8 << 20


def idx_bytes(array, *, dtype_code=0x08) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, dtype_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def header_only(*dims) -> bytes:
    return bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def small_set(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


@pytest.fixture
def folder(tmp_path):
    """A fresh folder with a valid small IDX set (gzipped) the test may damage."""
    return write_idx_folder(tmp_path / "set", small_set(30, 1), small_set(20, 2))


def idx_file(folder: Path, split: str, kind: str) -> Path:
    return folder / (IDX_NAMES[(split, kind)][0] + ".gz")


def peak_bytes(func):
    """(result or exception, peak traced allocation in bytes) of calling func()."""
    tracemalloc.start()
    try:
        try:
            outcome = func()
        except DigitnetError as exc:
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- IDX parsing


def test_idx_round_trip_gzipped_and_plain(tmp_path):
    images, labels = small_set(5)
    for name in ("a.gz", "a"):
        write_idx(tmp_path / name, images)
        np.testing.assert_array_equal(read_idx(tmp_path / name), images)
    assert parse_idx(idx_bytes(labels)).tolist() == labels.tolist()
    assert not list(tmp_path.glob(".*")), "write_idx left a temporary file"


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"", "too short for an IDX header"),
        (b"\x00\x00", "too short for an IDX header"),
        (b"PK\x03\x04" + bytes(20), "not an IDX file (bad magic number 504b0304)"),
        (bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 1) + bytes(4), "element type 0x0d is not supported"),
        (bytes([0, 0, 0x08, 0]), "declares no dimensions"),
        (bytes([0, 0, 0x08, 3]) + struct.pack(">I", 2), "too short for an IDX header"),
        (
            header_only(10, 28, 28) + bytes(100),
            "truncated: the header declares 7,840 bytes of data but the file holds 100",
        ),
        (idx_bytes(np.zeros(4)) + b"\x00", "has data past what its IDX header declares"),
        (header_only(1 << 16, 1 << 16), "more than any digit set holds"),
    ],
)
def test_bad_idx_bytes_are_refused(raw, message):
    with pytest.raises(DigitnetError, match=None) as info:
        parse_idx(raw, name="f")
    assert message in str(info.value)
    assert str(info.value).startswith("f: ")


def test_zero_sized_dimension_beside_huge_ones_is_an_error_not_a_crash():
    with pytest.raises(DigitnetError, match="damaged"):
        parse_idx(header_only(0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), name="f")


def test_header_claiming_2gb_in_100_bytes_is_refused_before_allocating(tmp_path):
    raw = header_only(1 << 31) + bytes(100 - 8)
    assert len(raw) == 100
    path = tmp_path / "labels"
    path.write_bytes(raw)
    for reader in (lambda: parse_idx(raw, name="f"), lambda: read_idx(path)):
        outcome, peak = peak_bytes(reader)
        assert isinstance(outcome, DigitnetError) and "truncated" in str(outcome)
        assert peak < SMALL_PEAK


def test_gzip_claiming_2gb_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(header_only(1 << 31) + bytes(1000)))
    outcome, peak = peak_bytes(lambda: read_idx(path))
    assert isinstance(outcome, DigitnetError) and "decompression bomb" in str(outcome)
    assert peak < SMALL_PEAK


def test_real_gzip_bomb_is_refused_by_ratio_not_memory(tmp_path):
    # 200 MB of zeros squeezed into ~200 kB, with an honest header: refused by ratio.
    n = 200_000_000 // 784
    stream = io.BytesIO()
    with gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=9) as gz:
        gz.write(header_only(n, 28, 28))
        block = bytes(1 << 20)
        for _ in range(n * 784 // len(block)):
            gz.write(block)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(stream.getvalue())
    assert path.stat().st_size < 1 << 20
    outcome, peak = peak_bytes(lambda: read_idx(path))
    assert isinstance(outcome, DigitnetError) and "decompression bomb" in str(outcome)
    assert peak < SMALL_PEAK


def test_gzip_bomb_hidden_after_the_declared_data_is_not_decompressed(tmp_path):
    stream = io.BytesIO()
    with gzip.GzipFile(fileobj=stream, mode="wb") as gz:
        gz.write(idx_bytes(np.arange(10)))
        for _ in range(100):
            gz.write(bytes(1 << 20))
    path = tmp_path / "labels.gz"
    path.write_bytes(stream.getvalue())
    outcome, peak = peak_bytes(lambda: read_idx(path))
    assert isinstance(outcome, DigitnetError) and "data past" in str(outcome)
    assert peak < SMALL_PEAK


def test_read_idx_file_problems(tmp_path):
    with pytest.raises(DigitnetError, match="no such file"):
        read_idx(tmp_path / "missing")
    with pytest.raises(DigitnetError, match="is a folder"):
        read_idx(tmp_path)
    good = gzip.compress(idx_bytes(np.zeros((50, 28, 28))))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DigitnetError, match="truncated"):
        read_idx(tmp_path / "cut.gz")
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF
    (tmp_path / "bad.gz").write_bytes(bytes(damaged))
    with pytest.raises(DigitnetError, match="damaged|download it again"):
        read_idx(tmp_path / "bad.gz")


# --------------------------------------------------------------------------- IDX folders


def test_folder_round_trip_and_mirror_names(tmp_path):
    train, test = small_set(30, 1), small_set(20, 2)
    plain = write_idx_folder(tmp_path / "plain", train, test, gzipped=False)
    for split, kind in IDX_NAMES:  # the "train-images.idx3-ubyte" spelling some mirrors use
        (plain / IDX_NAMES[(split, kind)][0]).rename(plain / IDX_NAMES[(split, kind)][1])
    dataset = load_dataset(plain)
    np.testing.assert_array_equal(dataset.train.images, train[0])
    np.testing.assert_array_equal(dataset.test.labels, test[1])
    assert dataset.train.images.dtype == np.uint8 and dataset.test.images.shape == (20, 28, 28)


def test_missing_folder_and_files(tmp_path, folder):
    with pytest.raises(DigitnetError, match="no such file or folder; --data takes"):
        load_dataset(tmp_path / "nowhere")
    idx_file(folder, "test", "labels").unlink()
    with pytest.raises(DigitnetError, match=r"no test labels file \(t10k-labels-idx1-ubyte\[.gz\]"):
        load_dataset(folder)


def test_single_idx_file_points_to_its_folder(folder):
    with pytest.raises(DigitnetError, match=f"give the folder that holds all four: --data {folder}"):
        load_dataset(idx_file(folder, "train", "images"))


def test_a_file_that_is_neither_idx_folder_nor_npz(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DigitnetError, match="neither a folder of IDX files nor a .npz"):
        load_dataset(tmp_path / "notes.txt")


@pytest.mark.parametrize(
    "split, kind, array, message",
    [
        ("train", "labels", np.arange(29) % 10, "30 images but 29 labels"),
        ("test", "labels", np.full(20, 10), "label 10 is outside 0–9"),
        ("test", "labels", np.full(20, 255), "label 255 is outside 0–9"),
        ("train", "images", np.zeros((30, 27, 27)), "images have shape (30, 27, 27), expected (N, 28, 28)"),
        ("train", "images", np.zeros((30, 784)), "images have shape (30, 784)"),
        ("test", "labels", np.zeros((20, 1)), "labels have shape (20, 1), expected (N,)"),
    ],
)
def test_inconsistent_idx_sets(folder, split, kind, array, message):
    write_idx(idx_file(folder, split, kind), array)
    with pytest.raises(DigitnetError) as info:
        load_dataset(folder)
    assert message in str(info.value)


def test_empty_split_is_refused(folder):
    write_idx(idx_file(folder, "test", "images"), np.zeros((0, 28, 28)))
    write_idx(idx_file(folder, "test", "labels"), np.zeros(0))
    with pytest.raises(DigitnetError, match="holds no examples"):
        load_dataset(folder)


def test_truncated_gz_in_a_folder(folder):
    path = idx_file(folder, "train", "images")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 100])
    with pytest.raises(DigitnetError, match="truncated"):
        load_dataset(folder)


def test_folder_checksums_are_verified(folder):
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(folder.glob("*.gz"))]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    load_dataset(folder)
    write_idx(idx_file(folder, "test", "labels"), np.arange(20) % 10 == 1)
    with pytest.raises(DigitnetError, match=r"t10k-labels-idx1-ubyte.gz is damaged \(SHA-256 .* does not match"):
        load_dataset(folder)
    (folder / "SHA256SUMS").write_text(lines[0] + "\n")
    with pytest.raises(DigitnetError, match="has no entry for"):
        load_dataset(folder)


# --------------------------------------------------------------------------- splits and digest


def test_splits_are_canonical_and_digest_covers_the_whole_set(folder):
    full = load_dataset(folder)
    test_only = load_dataset(folder, splits=("test",))
    reordered = load_dataset(folder, splits=["test", "train", "test"])
    assert test_only.train is None and len(test_only.test) == 20
    assert full.sha256 == test_only.sha256 == reordered.sha256
    np.testing.assert_array_equal(reordered.train.images, full.train.images)
    for bad in ((), ("validation",), ("train", "dev")):
        with pytest.raises(ValueError):
            load_dataset(folder, splits=bad)


def test_test_split_alone_works_without_train_files(folder):
    sha_before = load_dataset(folder).sha256
    idx_file(folder, "train", "images").unlink()
    idx_file(folder, "train", "labels").unlink()
    assert len(load_dataset(folder, splits=("test",)).test) == 20
    assert load_dataset(folder, splits=("test",)).sha256 != sha_before
    with pytest.raises(DigitnetError, match="no train images file"):
        load_dataset(folder)


# --------------------------------------------------------------------------- bundled MNIST


@pytest.fixture
def bundled_copy(tmp_path, monkeypatch):
    """A copy of the bundled files the test may damage; the package itself is untouched."""
    copy = tmp_path / "mnist"
    shutil.copytree(data._bundled_root(), copy)
    monkeypatch.setattr(data, "_bundled_root", lambda: copy)
    return copy


def test_bundled_mnist_loads_and_verifies():
    dataset = load_dataset(splits=("test",))
    assert len(dataset.test) == 10_000 and dataset.source == "bundled MNIST"


def test_bundled_file_with_wrong_sha256_says_reinstall(bundled_copy):
    path = bundled_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(
        DigitnetError, match=r"bundled MNIST: t10k-labels-idx1-ubyte.gz is damaged .*; reinstall digitnet"
    ):
        load_dataset(splits=("test",))


def test_bundled_checksum_list_damaged_or_missing(bundled_copy):
    sums = bundled_copy / "SHA256SUMS"
    sums.write_text(sums.read_text().replace("1a1a05", "000000"))
    with pytest.raises(DigitnetError, match="t10k-images-idx3-ubyte.gz is damaged.*reinstall digitnet"):
        load_dataset(splits=("test",))
    sums.unlink()
    with pytest.raises(DigitnetError, match="SHA256SUMS is missing or unreadable.*reinstall digitnet"):
        load_dataset(splits=("test",))


def test_bundled_file_missing_says_reinstall(bundled_copy):
    (bundled_copy / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(
        DigitnetError, match="t10k-images-idx3-ubyte.gz is missing from the package.*reinstall digitnet"
    ):
        load_dataset(splits=("test",))


# --------------------------------------------------------------------------- .npz


def npz_with(path: Path, **overrides) -> Path:
    arrays = {
        "x_train": small_set(30, 1)[0],
        "y_train": small_set(30, 1)[1],
        "x_test": small_set(20, 2)[0],
        "y_test": small_set(20, 2)[1],
    }
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_npz_round_trip_plain_compressed_and_fortran(tmp_path):
    train, test = small_set(30, 1), small_set(20, 2)
    compressed = write_npz(tmp_path / "c.npz", train, test)
    np.testing.assert_array_equal(load_dataset(compressed).train.images, train[0])
    fortran = npz_with(tmp_path / "f.npz", x_test=np.asfortranarray(test[0]))
    np.testing.assert_array_equal(load_dataset(fortran).test.images, test[0])
    wide = npz_with(tmp_path / "w.npz", y_train=train[1].astype(">i8"), x_test=test[0].astype(np.int32))
    dataset = load_dataset(wide)
    assert dataset.train.labels.dtype == np.uint8 and dataset.test.images.dtype == np.uint8
    np.testing.assert_array_equal(dataset.test.images, test[0])
    assert load_dataset(compressed).sha256 == load_dataset(compressed, splits=("test",)).sha256


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"y_test": None}, ".npz has no y_test; it needs x_train, y_train, x_test, y_test"),
        ({"x_train": small_set(30)[0].astype(np.float32)}, "has dtype float32, expected integers 0–255"),
        ({"x_train": np.full((30, 28, 28), 256, np.int16)}, "images have values outside 0–255"),
        ({"y_train": np.full(30, -1, np.int8)}, "labels have values outside 0–255"),
        ({"y_train": np.full(30, 12, np.uint8)}, "label 12 is outside 0–9"),
        ({"x_test": np.zeros((20, 32, 32), np.uint8)}, "images have shape (20, 32, 32), expected (N, 28, 28)"),
        ({"x_test": np.zeros((20, 28, 28, 1), np.uint8)}, "images have shape (20, 28, 28, 1)"),
        ({"y_test": np.zeros(19, np.uint8)}, "20 images but 19 labels"),
        ({"y_test": np.array(["a"] * 20)}, "has dtype <U1, expected integers"),
        ({"x_test": np.zeros((20, 28, 28), bool)}, "has dtype bool"),
    ],
)
def test_bad_npz_arrays(tmp_path, overrides, message):
    path = npz_with(tmp_path / "d.npz", **overrides)
    with pytest.raises(DigitnetError) as info:
        load_dataset(path)
    assert message in str(info.value)


class _Trap:
    """Unpickling this would create a marker file: proof that nothing was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_npz_object_arrays_are_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    trap = np.empty(20, dtype=object)
    trap[:] = [_Trap(marker)] * 20
    path = npz_with(tmp_path / "evil.npz", y_test=trap)
    with pytest.raises(DigitnetError, match="holds Python objects.*never unpickles"):
        load_dataset(path)
    with pytest.raises(DigitnetError, match="holds Python objects"):
        load_dataset(path, splits=("test",))
    assert not marker.exists()


def test_npz_that_is_not_a_zip(tmp_path):
    (tmp_path / "text.npz").write_text("x_train,y_train\n")
    with pytest.raises(DigitnetError, match="not a valid .npz file"):
        load_dataset(tmp_path / "text.npz")
    np.save(tmp_path / "raw.npy", np.zeros(3))
    (tmp_path / "raw.npy").rename(tmp_path / "raw.npz")
    with pytest.raises(DigitnetError, match="not a valid .npz file"):
        load_dataset(tmp_path / "raw.npz")


def test_truncated_npz(tmp_path):
    path = npz_with(tmp_path / "d.npz")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(DigitnetError, match="not a valid .npz file"):
        load_dataset(path)


def _npz_member(name: str, header: dict, payload: bytes = b"") -> tuple:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return name, buffer.getvalue() + payload


def _write_zip(path: Path, members, compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, content in members:
            z.writestr(name, content)
    return path


def test_npz_header_claiming_huge_array_is_refused_before_allocating(tmp_path):
    huge = {"descr": "|u1", "fortran_order": False, "shape": (2_000_000, 28, 28)}
    members = [_npz_member(f"{k}.npy", huge, bytes(100)) for k in ("x_train", "y_train", "x_test", "y_test")]
    path = _write_zip(tmp_path / "liar.npz", members)
    outcome, peak = peak_bytes(lambda: load_dataset(path))
    assert isinstance(outcome, DigitnetError) and "truncated" in str(outcome)
    assert peak < SMALL_PEAK


def test_npz_zip_bomb_member_is_refused_by_ratio(tmp_path):
    header = {"descr": "|u1", "fortran_order": False, "shape": (200_000, 28, 28)}
    name, head = _npz_member("x_train.npy", header)
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("x_train.npy", "w", force_zip64=True) as member:
            member.write(head)
            for _ in range(200_000 * 784 // (1 << 20) + 1):
                member.write(bytes(1 << 20))
        for key in ("y_train", "x_test", "y_test"):
            z.writestr(key + ".npy", b"")
    assert path.stat().st_size < 1 << 20
    outcome, peak = peak_bytes(lambda: load_dataset(path))
    assert isinstance(outcome, DigitnetError) and "decompression bomb" in str(outcome)
    assert peak < SMALL_PEAK


def test_npz_with_garbage_npy_header(tmp_path):
    members = [("x_train.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n")]
    path = _write_zip(tmp_path / "junk.npz", members + [(f"{k}.npy", b"") for k in ("y_train", "x_test", "y_test")])
    with pytest.raises(DigitnetError, match="not a valid .npy array"):
        load_dataset(path)
