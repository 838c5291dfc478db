"""The IDX format MNIST ships in (gzipped or not): read with every size checked, and written.

Sizes an IDX header declares are compared with the bytes actually present (and, for
gzipped data, with a plausible compression ratio) before anything large is allocated,
and data is read in chunks, never past the declared size — so a lying header, a
truncated file or a gzip bomb is refused instead of exhausting memory.  The same
bounded reading serves the .npz reader in ``data``.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from pathlib import Path

from .errors import DigitnetError, reason

_IDX_UBYTE = 0x08
# Far above any 28×28 ten-class set (MNIST's largest file holds 47 MB, EMNIST's
# 0.55 GB), far below a size that could exhaust memory: more is refused unread.
MAX_IDX_PAYLOAD = 1 << 31
# Real digit images compress 2–10×; a file that claims to expand more than this
# (beyond a small allowance) is damaged or a decompression bomb.
MAX_EXPANSION = 100
EXPANSION_ALLOWANCE = 64 << 20
CHUNK = 1 << 22
_GZIP_MAGIC = b"\x1f\x8b"
DATA_HINT = "--data takes a folder with the four MNIST IDX files or a .npz with x_train, y_train, x_test, y_test"


def parse_idx(raw, *, name: str = "IDX data", compressed_size: int | None = None):
    """Parse an IDX file's bytes (or a binary stream) into a uint8 NumPy array.

    Only unsigned-byte IDX (the MNIST kind) is accepted.  ``raw`` may be ``bytes`` or
    a readable binary stream (a file, or a GzipFile — then pass ``compressed_size``
    so an implausible expansion is refused before it is decompressed).  The data is
    read in chunks and never past the size the header declares.
    """
    import numpy as np

    stream = io.BytesIO(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
    try:
        dims = _read_idx_header(stream, name)
        size = product(dims)
        if size > MAX_IDX_PAYLOAD:
            raise DigitnetError(
                f"{name}: IDX header claims {size:,} bytes of data, more than any digit set holds; the file is damaged"
            )
        check_expansion(size, compressed_size, name)
        available = _bytes_left(stream)
        if available is not None and available < size:
            raise truncated(name, size, available)
        payload = read_at_most(stream, size)
        if len(payload) < size:
            raise truncated(name, size, len(payload))
        if stream.read(1):
            raise DigitnetError(
                f"{name}: has data past what its IDX header declares; the file is damaged or not MNIST-format"
            )
    except EOFError as exc:
        raise DigitnetError(f"{name}: is truncated (the compressed data ends early); download it again") from exc
    except (OSError, zlib.error) as exc:
        # gzip raises BadGzipFile (an OSError) or zlib.error on damaged data.
        raise DigitnetError(f"{name}: cannot be read ({reason(exc)}); download it again") from exc
    try:
        return np.frombuffer(payload, dtype=np.uint8).reshape(dims)
    except ValueError as exc:  # e.g. a zero dimension beside absurdly large ones
        raise DigitnetError(f"{name}: IDX dimensions {dims} do not form an array; the file is damaged") from exc


def _read_idx_header(stream, name: str) -> tuple[int, ...]:
    magic = _read_exact(stream, 4, name)
    if magic[0] != 0 or magic[1] != 0:
        raise DigitnetError(f"{name}: not an IDX file (bad magic number {magic.hex()}); {DATA_HINT}")
    if magic[2] != _IDX_UBYTE:
        raise DigitnetError(
            f"{name}: IDX element type 0x{magic[2]:02x} is not supported; digitnet reads unsigned-byte (0x08) IDX files"
        )
    ndim = magic[3]
    if ndim < 1:
        raise DigitnetError(f"{name}: IDX header declares no dimensions; the file is damaged")
    return struct.unpack(f">{ndim}I", _read_exact(stream, 4 * ndim, name))


def _read_exact(stream, n: int, name: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise DigitnetError(f"{name}: too short for an IDX header ({len(data)} of {n} bytes); {DATA_HINT}")
    return data


def read_at_most(stream, size: int) -> bytearray:
    """Up to ``size`` bytes, in chunks: memory grows only with data really there."""
    payload = bytearray()
    while len(payload) < size:
        chunk = stream.read(min(CHUNK, size - len(payload)))
        if not chunk:
            break
        payload += chunk
    return payload


def _bytes_left(stream) -> int | None:
    """Bytes left in an uncompressed stream, when it can be known without reading."""
    if isinstance(stream, io.BytesIO):
        with stream.getbuffer() as view:
            return view.nbytes - stream.tell()
    if isinstance(stream, (io.BufferedReader, io.FileIO)):
        try:
            return os.fstat(stream.fileno()).st_size - stream.tell()
        except (OSError, ValueError):
            return None
    return None


def check_expansion(declared: int, compressed: int | None, name: str) -> None:
    if compressed is None or declared <= EXPANSION_ALLOWANCE:
        return
    if declared > MAX_EXPANSION * max(compressed, 1):
        raise DigitnetError(
            f"{name}: claims {declared:,} bytes from {compressed:,} compressed bytes, far more than real data "
            "compresses to (a damaged file or a decompression bomb); refused"
        )


def truncated(name: str, declared: int, present: int) -> DigitnetError:
    return DigitnetError(
        f"{name}: truncated: the header declares {declared:,} bytes of data but the file holds {present:,}; "
        "download it again"
    )


def product(dims) -> int:
    size = 1
    for d in dims:
        size *= int(d)
    return size


def read_idx(path):
    """Read one IDX file from disk, gzipped (recognised by its magic bytes) or not."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            compressed_size = os.fstat(f.fileno()).st_size
            gzipped = f.read(2) == _GZIP_MAGIC
            f.seek(0)
            if gzipped:
                with gzip.GzipFile(fileobj=f) as gz:
                    return parse_idx(gz, name=str(path), compressed_size=compressed_size)
            return parse_idx(f, name=str(path))
    except FileNotFoundError:
        raise DigitnetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DigitnetError(f"{path}: is a folder, not an IDX file") from None
    except OSError as exc:
        raise DigitnetError(f"{path}: cannot be read ({reason(exc)})") from None


def idx_from_bytes(data: bytes, name: str):
    """Parse the bytes of an IDX file, gzipped or not."""
    if data[:2] == _GZIP_MAGIC:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            return parse_idx(gz, name=name, compressed_size=len(data))
    return parse_idx(data, name=name)


def write_idx(path, array) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz), atomically."""
    import numpy as np

    from .files import atomic_path

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _IDX_UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    gzipped = str(path).endswith(".gz")
    with atomic_path(path) as tmp:
        with (gzip.open if gzipped else open)(tmp, "wb") as f:
            f.write(header + array.tobytes())
