"""Reading MNIST-style data sets: IDX folders, Keras-style .npz, the bundled MNIST.

Every reader returns plain uint8 arrays — images (N, 28, 28) and labels (N,) in 0–9 —
or raises DigitnetError with one line saying what is wrong.  Nothing a data file
says is trusted before it is checked: IDX files are read by ``idx`` (sizes checked
against the bytes present, chunked, never past the declared size), and .npz files
member by member with NumPy's header parser only, through the same bounded reading:
object arrays are refused before their data is touched, nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import zipfile
import zlib
from importlib import resources
from pathlib import Path

from .errors import DigitnetError, reason
from .idx import (
    CHUNK,
    DATA_HINT,
    MAX_IDX_PAYLOAD,
    check_expansion,
    idx_from_bytes,
    product,
    read_at_most,
    truncated,
)

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
SPLITS = ("train", "test")
KINDS = ("images", "labels")

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

MAX_FILE_BYTES = MAX_IDX_PAYLOAD + (1 << 20)
MAX_NPY_ITEMSIZE = 8


@dataclasses.dataclass(frozen=True)
class Split:
    """One split of a dataset: uint8 images (N, 28, 28) and uint8 labels (N,)."""

    images: object
    labels: object

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and test splits with where they came from and a digest of the files.

    A split not asked for is None.  ``sha256`` identifies the data set, not the
    splits read: it covers every file of the source that exists (the whole .npz, or
    all four IDX files in the order train images, train labels, test images, test
    labels), so a model's metadata can be compared with data loaded for checking.
    """

    train: Split | None
    test: Split | None
    source: str
    sha256: str


# --------------------------------------------------------------------------- IDX


# --------------------------------------------------------------------------- validation


def _validated_split(images, labels, where: str) -> Split:
    import numpy as np

    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DigitnetError(
            f"{where}: images have shape {images.shape}, expected (N, 28, 28); digitnet needs 28×28 digit images"
        )
    if labels.ndim != 1:
        raise DigitnetError(f"{where}: labels have shape {labels.shape}, expected (N,): one label per image")
    if len(images) != len(labels):
        raise DigitnetError(f"{where}: {len(images):,} images but {len(labels):,} labels; they must match one to one")
    if len(labels) == 0:
        raise DigitnetError(f"{where}: holds no examples")
    if labels.max() >= NUM_CLASSES:
        raise DigitnetError(
            f"{where}: label {int(labels.max())} is outside 0–9; digitnet needs ten classes labelled 0 to 9"
        )
    return Split(images=np.asarray(images, dtype=np.uint8), labels=np.asarray(labels, dtype=np.uint8))


def _as_uint8(array, where: str, what: str):
    """Accept integer pixel/label arrays whose values fit in a byte; refuse the rest."""
    import numpy as np

    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "iu":
        raise DigitnetError(f"{where}: {what} have dtype {array.dtype}, expected integers 0–255 (uint8)")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise DigitnetError(f"{where}: {what} have values outside 0–255; expected uint8 {what}")
    return array.astype(np.uint8)


# --------------------------------------------------------------------------- IDX sources


def _bundled_root():
    """Where the bundled MNIST files live (a separate function so tests can point it elsewhere)."""
    return resources.files("digitnet") / "mnist"


def _bundled_reader():
    """(read, sums) for the bundled copy; a missing or damaged file means: reinstall."""
    root = _bundled_root()
    try:
        sums = _read_checksums((root / CHECKSUM_FILE).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise DigitnetError(
            f"{BUNDLED}: {CHECKSUM_FILE} is missing or unreadable ({reason(exc)}); reinstall digitnet"
        ) from None

    def read(split, kind, required):
        name = IDX_NAMES[(split, kind)][0] + ".gz"
        try:
            return name, (root / name).read_bytes()
        except OSError as exc:
            raise DigitnetError(
                f"{BUNDLED}: {name} is missing from the package ({reason(exc)}); reinstall digitnet"
            ) from None

    return read, sums


def _folder_reader(folder: Path):
    """(read, sums) for a folder; sums is None unless the folder has a SHA256SUMS file."""

    def read(split, kind, required):
        path = _find_idx(folder, split, kind, required)
        if path is None:
            return None
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise DigitnetError(f"{path}: is {path.stat().st_size:,} bytes, too large for a 28×28 digit set")
            return path.name, path.read_bytes()
        except OSError as exc:
            raise DigitnetError(f"{path}: cannot be read ({reason(exc)})") from None

    sums_path = folder / CHECKSUM_FILE
    sums = None
    if sums_path.is_file():
        try:
            sums = _read_checksums(sums_path.read_text(errors="replace"))
        except OSError as exc:
            raise DigitnetError(f"{sums_path}: cannot be read ({reason(exc)})") from None
    return read, sums


def _find_idx(folder: Path, split: str, kind: str, required: bool) -> Path | None:
    for base in IDX_NAMES[(split, kind)]:
        for candidate in (folder / (base + ".gz"), folder / base):
            if candidate.is_file():
                return candidate
    if not required:
        return None
    names = " or ".join(n + "[.gz]" for n in IDX_NAMES[(split, kind)])
    raise DigitnetError(f"{folder}: no {split} {kind} file ({names}); {DATA_HINT}")


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
        advice = "reinstall digitnet" if where == BUNDLED else f"add it to {CHECKSUM_FILE} or remove that file"
        raise DigitnetError(f"{where}: {CHECKSUM_FILE} has no entry for {name}; {advice}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        advice = "reinstall digitnet" if where == BUNDLED else "download it again"
        raise DigitnetError(
            f"{where}: {name} is damaged (SHA-256 {actual[:12]}… does not match {expected[:12]}… "
            f"in {CHECKSUM_FILE}); {advice}"
        )


def _load_idx_source(read, sums, where: str, splits) -> tuple[dict[str, Split], str]:
    """Verify and hash every file of the source; parse only the splits asked for."""
    digest = hashlib.sha256()
    loaded = {}
    for split in SPLITS:
        wanted = split in splits
        files = [read(split, kind, wanted) for kind in KINDS]
        if any(f is None for f in files):
            continue  # an optional split that is not there
        for name, data in files:
            if sums is not None:
                _verify(name, data, sums, where)
            digest.update(data)
        if wanted:
            (images_name, images_data), (labels_name, labels_data) = files
            images = idx_from_bytes(images_data, _member_name(where, images_name))
            labels = idx_from_bytes(labels_data, _member_name(where, labels_name))
            loaded[split] = _validated_split(images, labels, f"{where} ({split})")
    return loaded, digest.hexdigest()


def _member_name(where: str, name: str) -> str:
    return f"{BUNDLED} {name}" if where == BUNDLED else str(Path(where) / name)


# --------------------------------------------------------------------------- .npz


def _load_npz(path: Path, splits) -> tuple[dict[str, Split], str]:
    import lzma

    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DigitnetError(f"{path}: is {size:,} bytes, too large for a 28×28 digit set")
        digest = _file_sha256(path)
        with zipfile.ZipFile(path) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            keys = [NPZ_KEYS[(s, k)] for s in splits for k in KINDS]
            missing = [key for key in keys if key not in members]
            if missing:
                raise DigitnetError(
                    f"{path}: .npz has no {', '.join(missing)}; it needs x_train, y_train, x_test, y_test"
                )
            result = {}
            for split in splits:
                where = f"{path} ({split})"
                images = _read_npy_member(
                    archive, members[NPZ_KEYS[(split, "images")]], f"{path}:{NPZ_KEYS[(split, 'images')]}"
                )
                labels = _read_npy_member(
                    archive, members[NPZ_KEYS[(split, "labels")]], f"{path}:{NPZ_KEYS[(split, 'labels')]}"
                )
                result[split] = _validated_split(
                    _as_uint8(images, where, "images"), _as_uint8(labels, where, "labels"), where
                )
            return result, digest
    except FileNotFoundError:
        raise DigitnetError(f"{path}: no such file") from None
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        zlib.error,
        lzma.LZMAError,
        NotImplementedError,
        RuntimeError,
        ValueError,
    ) as exc:
        # zipfile raises NotImplementedError for unknown compression, RuntimeError for
        # encrypted members, ValueError for some damaged headers.
        raise DigitnetError(f"{path}: not a valid .npz file ({reason(exc)}); {DATA_HINT}") from None
    except OSError as exc:
        raise DigitnetError(f"{path}: cannot be read ({reason(exc)})") from None


def _read_npy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str):
    """One .npy array from an open .npz, checked before its data is read."""
    import numpy as np

    check_expansion(info.file_size, info.compress_size, name)
    with archive.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise DigitnetError(f"{name}: .npy format version {version} is not supported")
        except DigitnetError:
            raise
        except Exception as exc:  # NumPy's header parser raises several types on damage
            raise DigitnetError(f"{name}: not a valid .npy array ({reason(exc)})") from None
        if dtype.hasobject:
            raise DigitnetError(
                f"{name}: holds Python objects, which could run code when unpickled; "
                "digitnet never unpickles — save plain uint8 arrays"
            )
        if dtype.kind not in "iu" or dtype.itemsize > MAX_NPY_ITEMSIZE:
            raise DigitnetError(f"{name}: has dtype {dtype}, expected integers 0–255 (uint8)")
        if any(not isinstance(d, int) or d < 0 for d in shape):
            raise DigitnetError(f"{name}: .npy header has an invalid shape {shape}")
        nbytes = product(shape) * dtype.itemsize
        if nbytes > MAX_IDX_PAYLOAD:
            raise DigitnetError(f"{name}: declares {nbytes:,} bytes of data, more than any digit set holds")
        header_end = f.tell()
        if header_end + nbytes > info.file_size:
            raise truncated(name, nbytes, max(info.file_size - header_end, 0))
        payload = read_at_most(f, nbytes)
        if len(payload) < nbytes:
            raise truncated(name, nbytes, len(payload))
    array = np.frombuffer(payload, dtype=dtype)
    if fortran_order:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- entry point


def load_dataset(data: str | os.PathLike | None = None, *, splits=SPLITS) -> Dataset:
    """Load a digit set.

    ``data`` is None for the MNIST copy bundled in the package (SHA-256 verified), a
    folder with the four IDX files (verified against a SHA256SUMS file there, if any),
    or a Keras-style .npz with x_train, y_train, x_test, y_test.  ``splits`` names the
    splits to parse: checking a digit needs only "test", which is faster.
    """
    requested = set(splits)
    if not requested or not requested <= set(SPLITS):
        raise ValueError(f"splits must be a non-empty subset of {SPLITS}, got {splits!r}")
    splits = tuple(s for s in SPLITS if s in requested)  # canonical order, no repeats
    if data is None:
        read, sums = _bundled_reader()
        loaded, sha = _load_idx_source(read, sums, BUNDLED, splits)
        where = BUNDLED
    else:
        path = Path(data)
        where = str(path)
        if path.is_dir():
            read, sums = _folder_reader(path)
            loaded, sha = _load_idx_source(read, sums, where, splits)
        elif path.is_file():
            if _looks_like_idx(path):
                raise DigitnetError(
                    f"{path}: is a single IDX file; give the folder that holds all four: --data {path.parent}"
                )
            if path.suffix.lower() != ".npz" and not zipfile.is_zipfile(path):
                raise DigitnetError(f"{path}: is neither a folder of IDX files nor a .npz file; {DATA_HINT}")
            loaded, sha = _load_npz(path, splits)
        elif not path.exists():
            raise DigitnetError(f"{path}: no such file or folder; {DATA_HINT}")
        else:
            raise DigitnetError(f"{path}: not a regular file or folder; {DATA_HINT}")
    return Dataset(train=loaded.get("train"), test=loaded.get("test"), source=where, sha256=sha)


def _looks_like_idx(path: Path) -> bool:
    name = path.name.removesuffix(".gz")
    return any(name in names for names in IDX_NAMES.values())
