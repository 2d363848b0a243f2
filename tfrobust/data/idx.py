"""The IDX file format of the MNIST family (LeCun et al., "The MNIST database of handwritten digits").

An IDX file is a 4-byte magic number, then one big-endian uint32 size per dimension, then the array in
C order, big-endian::

    magic = 0x00 0x00 <type code> <number of dimensions>
    type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64

MNIST and Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747) ship their images as 3-D uint8 IDX
files (N, 28, 28) and their labels as 1-D uint8 IDX files (N,), usually gzip-compressed.
"""
from __future__ import annotations

import gzip
import os
from typing import Union

import numpy as np

PathLike = Union[str, os.PathLike]

# type code -> big-endian numpy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: PathLike) -> bytes:
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == _GZIP_MAGIC else open
    with opener(path, "rb") as f:
        return f.read()


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parses the bytes of one (uncompressed) IDX file.

    Args:
        data: the file content.
        source: a name for error messages (e.g. the file path).

    Returns:
        The array with the file's shape, in native byte order (uint8 stays uint8).

    Raises:
        ValueError: a bad magic number, an unknown type code, or a payload whose length does not
            match the dimensions (a truncated or corrupt file).
    """
    if len(data) < 4:
        raise ValueError(f"{source}: {len(data)} bytes is too short for an IDX header (4-byte magic).")
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(
            f"{source}: not an IDX file (magic {data[:4].hex()} does not start with two zero bytes); "
            f"if it is gzip-compressed, read it with read_idx, which decompresses."
        )
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{source}: unknown IDX type code 0x{type_code:02X}; known codes are {known}.")
    header_end = 4 + 4 * ndim
    if len(data) < header_end:
        raise ValueError(f"{source}: header announces {ndim} dimensions but the file ends after {len(data)} bytes.")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload = len(data) - header_end
    if payload != expected:
        raise ValueError(
            f"{source}: dimensions {shape} of {dtype.name} need {expected} data bytes, the file has {payload} "
            f"(truncated or corrupt; re-download or reinstall it)."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: PathLike) -> np.ndarray:
    """Reads an IDX file, gzip-compressed or not (detected from the content, not the name).

    Args:
        path: the file.

    Returns:
        The array (see ``parse_idx``).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the content is not a valid IDX file.
    """
    return parse_idx(_read_bytes(path), source=os.fspath(path))


def write_idx(path: PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Writes ``array`` as an IDX file (the inverse of ``read_idx``).

    Args:
        path: the file to write.
        array: a numpy array of one of the IDX dtypes (uint8, int8, int16, int32, float32, float64).
        compress: gzip the file; by default when ``path`` ends in ".gz".

    Raises:
        TypeError: the dtype has no IDX type code.
        ValueError: more than 255 dimensions.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise TypeError(f"IDX has no type code for dtype {array.dtype}; use one of uint8, int8, int16, int32, "
                        f"float32, float64.")
    if array.ndim > 255:
        raise ValueError(f"IDX stores at most 255 dimensions, got {array.ndim}.")
    header = bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[codes[native]]).tobytes()
    if compress is None:
        compress = os.fspath(path).endswith(".gz")
    opener = gzip.open if compress else open
    with opener(path, "wb") as f:
        f.write(data)
