"""Reading MNIST-style data: IDX files (gzipped or not), Keras-style .npz, bundled MNIST.

Every reader returns plain uint8 arrays — images (N, 28, 28) and labels (N,) in 0–9 —
or raises DigitnetError with one line saying what is wrong.  Headers are checked
against the bytes actually present before anything large is allocated, and .npz
files are read with ``allow_pickle=False`` so a data file can never run code.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import struct
import zipfile
import zlib
from importlib import resources
from pathlib import Path

from .errors import DigitnetError

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
SPLITS = ("train", "test")

# The canonical file names; the "." variants are how some mirrors unpack them.
IDX_NAMES = {
    ("train", "images"): ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
NPZ_KEYS = {
    ("train", "images"): "x_train",
    ("train", "labels"): "y_train",
    ("test", "images"): "x_test",
    ("test", "labels"): "y_test",
}
BUNDLED = "bundled MNIST"
CHECKSUM_FILE = "SHA256SUMS"

_IDX_UBYTE = 0x08
# Far above any 28×28 ten-class set (MNIST's largest file is 47 MB), far below a
# size that could exhaust memory: a header claiming more is refused before reading.
MAX_IDX_PAYLOAD = 1 << 31
_CHUNK = 1 << 22


@dataclasses.dataclass(frozen=True)
class Split:
    """One split of a dataset: uint8 images (N, 28, 28) and uint8 labels (N,)."""

    images: "object"
    labels: "object"

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and test splits with where they came from and a digest of the files."""

    train: Split | None
    test: Split | None
    source: str
    sha256: str


# --------------------------------------------------------------------------- IDX


def parse_idx(raw, *, name: str = "IDX data"):
    """Parse an IDX file's bytes (or a binary stream) into a uint8 NumPy array.

    Only unsigned-byte IDX (the MNIST kind) is accepted.  ``raw`` may be ``bytes`` or a
    readable binary file object; a stream is read in chunks and never past the size
    its header declares, so a lying header cannot force a huge allocation.
    """
    import io

    import numpy as np

    stream = io.BytesIO(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
    try:
        magic = _read_exact(stream, 4, name, "header")
        if magic[0] != 0 or magic[1] != 0:
            raise DigitnetError(f"{name}: not an IDX file (bad magic number {magic.hex()})")
        if magic[2] != _IDX_UBYTE:
            raise DigitnetError(
                f"{name}: IDX element type 0x{magic[2]:02x} is not supported (expected unsigned bytes, 0x08)"
            )
        ndim = magic[3]
        if ndim < 1:
            raise DigitnetError(f"{name}: IDX header declares no dimensions")
        dims = struct.unpack(f">{ndim}I", _read_exact(stream, 4 * ndim, name, "header"))
        size = 1
        for d in dims:
            size *= d
        if size > MAX_IDX_PAYLOAD:
            raise DigitnetError(f"{name}: IDX header claims {size} bytes of data, more than any digit set holds")
        payload = bytearray()
        while len(payload) < size:
            chunk = stream.read(min(_CHUNK, size - len(payload)))
            if not chunk:
                break
            payload += chunk
        if len(payload) < size:
            raise DigitnetError(
                f"{name}: truncated: the header declares {size} bytes of data but the file holds {len(payload)}"
            )
        if stream.read(1):
            raise DigitnetError(f"{name}: has data past what its IDX header declares")
    except (OSError, EOFError, zlib.error) as exc:
        # gzip raises BadGzipFile (an OSError), EOFError or zlib.error on damage.
        raise DigitnetError(f"{name}: cannot be read ({_reason(exc)})") from exc
    return np.frombuffer(bytes(payload), dtype=np.uint8).reshape(dims)


def _read_exact(stream, n: int, name: str, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise DigitnetError(f"{name}: truncated {what} ({len(data)} of {n} bytes): not an IDX file")
    return data


def read_idx(path: Path):
    """Read one IDX file from disk, gzipped (by its magic bytes) or not."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
            f.seek(0)
            if gzipped:
                with gzip.GzipFile(fileobj=f) as gz:
                    return parse_idx(gz, name=str(path))
            return parse_idx(f, name=str(path))
    except FileNotFoundError:
        raise DigitnetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DigitnetError(f"{path}: is a directory, not an IDX file") from None
    except PermissionError:
        raise DigitnetError(f"{path}: permission denied") from None


def write_idx(path: Path, array) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz)."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _IDX_UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


# --------------------------------------------------------------------------- validation


def _validated_split(images, labels, where: str) -> Split:
    import numpy as np

    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DigitnetError(f"{where}: images have shape {images.shape}, expected (N, 28, 28)")
    if labels.ndim != 1:
        raise DigitnetError(f"{where}: labels have shape {labels.shape}, expected (N,)")
    if len(images) != len(labels):
        raise DigitnetError(f"{where}: {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise DigitnetError(f"{where}: holds no examples")
    if labels.max() >= NUM_CLASSES:
        raise DigitnetError(f"{where}: label {int(labels.max())} is outside 0–9")
    return Split(images=np.asarray(images, dtype=np.uint8), labels=np.asarray(labels, dtype=np.uint8))


def _as_uint8(array, where: str, what: str):
    """Accept integer pixel/label arrays whose values fit in a byte; refuse the rest."""
    import numpy as np

    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "iu":
        raise DigitnetError(f"{where}: {what} have dtype {array.dtype}, expected integers 0–255 (uint8)")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise DigitnetError(f"{where}: {what} have values outside 0–255")
    return array.astype(np.uint8)


# --------------------------------------------------------------------------- sources


def _find_idx(folder: Path, split: str, kind: str) -> Path:
    for base in IDX_NAMES[(split, kind)]:
        for candidate in (folder / (base + ".gz"), folder / base):
            if candidate.is_file():
                return candidate
    names = " or ".join(n + "[.gz]" for n in IDX_NAMES[(split, kind)])
    raise DigitnetError(f"{folder}: no {split} {kind} file ({names})")


def _read_checksums(text: str) -> dict[str, str]:
    sums = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def _verify(name: str, data: bytes, sums: dict[str, str], where: str) -> None:
    expected = sums.get(name)
    if expected is None:
        raise DigitnetError(f"{where}: {CHECKSUM_FILE} has no entry for {name}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise DigitnetError(
            f"{where}: {name} is damaged (SHA-256 {actual[:12]}… does not match {expected[:12]}…); reinstall digitnet"
            if where == BUNDLED
            else f"{where}: {name} does not match its SHA-256 in {CHECKSUM_FILE}"
        )


def _parse_file_bytes(data: bytes, name: str):
    if data[:2] == b"\x1f\x8b":
        import io

        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            return parse_idx(gz, name=name)
    return parse_idx(data, name=name)


def _load_idx_split(read, split: str, where: str, sums: dict[str, str] | None, digest) -> Split:
    arrays = {}
    for kind in ("images", "labels"):
        name, data = read(split, kind)
        if sums is not None:
            _verify(name, data, sums, where)
        digest.update(data)
        arrays[kind] = _parse_file_bytes(data, f"{where}/{name}" if where != BUNDLED else name)
    return _validated_split(arrays["images"], arrays["labels"], f"{where} ({split})")


def _bundled_reader():
    root = resources.files("digitnet") / "mnist"

    def read(split, kind):
        name = IDX_NAMES[(split, kind)][0] + ".gz"
        try:
            return name, (root / name).read_bytes()
        except OSError as exc:
            raise DigitnetError(f"{BUNDLED}: {name} is missing from the package ({_reason(exc)}); reinstall digitnet")

    try:
        sums = _read_checksums((root / CHECKSUM_FILE).read_text())
    except OSError as exc:
        raise DigitnetError(f"{BUNDLED}: {CHECKSUM_FILE} is missing ({_reason(exc)}); reinstall digitnet")
    return read, sums


def _folder_reader(folder: Path):
    def read(split, kind):
        path = _find_idx(folder, split, kind)
        try:
            return path.name, path.read_bytes()
        except OSError as exc:
            raise DigitnetError(f"{path}: cannot be read ({_reason(exc)})") from exc

    sums_path = folder / CHECKSUM_FILE
    sums = None
    if sums_path.is_file():
        try:
            sums = _read_checksums(sums_path.read_text(errors="replace"))
        except OSError as exc:
            raise DigitnetError(f"{sums_path}: cannot be read ({_reason(exc)})") from exc
    return read, sums


def _load_npz(path: Path, splits) -> tuple[dict[str, Split], str]:
    import numpy as np

    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        with np.load(path, allow_pickle=False) as npz:
            missing = [NPZ_KEYS[(s, k)] for s in splits for k in ("images", "labels") if NPZ_KEYS[(s, k)] not in npz.files]
            if missing:
                raise DigitnetError(f"{path}: .npz has no {', '.join(missing)} (expected x_train, y_train, x_test, y_test)")
            result = {}
            for split in splits:
                where = f"{path} ({split})"
                images = _as_uint8(npz[NPZ_KEYS[(split, "images")]], where, "images")
                labels = _as_uint8(npz[NPZ_KEYS[(split, "labels")]], where, "labels")
                result[split] = _validated_split(images, labels, where)
            return result, digest
    except ValueError as exc:
        # allow_pickle=False refuses object arrays with a ValueError: say so plainly.
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise DigitnetError(f"{path}: holds object arrays, which digitnet never unpickles") from exc
        raise DigitnetError(f"{path}: not a valid .npz file ({_reason(exc)})") from exc
    except (zipfile.BadZipFile, EOFError, zlib.error, KeyError) as exc:
        raise DigitnetError(f"{path}: not a valid .npz file ({_reason(exc)})") from exc
    except FileNotFoundError:
        raise DigitnetError(f"{path}: no such file") from None
    except OSError as exc:
        raise DigitnetError(f"{path}: cannot be read ({_reason(exc)})") from exc


def load_dataset(data: str | os.PathLike | None = None, *, splits=SPLITS) -> Dataset:
    """Load a digit set.

    ``data`` is None for the MNIST copy bundled in the package (SHA-256 verified), a
    folder with the four IDX files (verified against a SHA256SUMS file there, if any),
    or a Keras-style .npz with x_train, y_train, x_test, y_test.  ``splits`` names the
    splits to read: checking a digit needs only "test", which is faster.
    """
    splits = tuple(splits)
    if not splits or any(s not in SPLITS for s in splits):
        raise ValueError(f"splits must be a non-empty subset of {SPLITS}, got {splits!r}")
    digest = hashlib.sha256()
    if data is None:
        read, sums = _bundled_reader()
        where = BUNDLED
        loaded = {s: _load_idx_split(read, s, where, sums, digest) for s in splits}
        sha = digest.hexdigest()
    else:
        path = Path(data)
        where = str(path)
        if path.is_dir():
            read, sums = _folder_reader(path)
            loaded = {s: _load_idx_split(read, s, where, sums, digest) for s in splits}
            sha = digest.hexdigest()
        elif path.is_file():
            if path.suffix.lower() != ".npz" and not zipfile.is_zipfile(path):
                raise DigitnetError(
                    f"{path}: expected a folder of IDX files or a .npz file (x_train, y_train, x_test, y_test)"
                )
            loaded, sha = _load_npz(path, splits)
        elif not path.exists():
            raise DigitnetError(f"{path}: no such file or folder")
        else:
            raise DigitnetError(f"{path}: not a regular file or folder")
    return Dataset(train=loaded.get("train"), test=loaded.get("test"), source=where, sha256=sha)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
