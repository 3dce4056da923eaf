"""The container under every rnnkit file: a safetensors file, checked before it is trusted.

A safetensors file is ``[u64 little-endian header length N][N bytes of JSON header][data]``;
the header maps each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}``
(offsets into the data section) and may hold ``"__metadata__"``, a str -> str dict. Files are
written with the ``safetensors`` package (numpy API); before any file is handed to it, this
module validates the whole header itself -- length, JSON, dtypes, shapes, offsets that tile the
data section exactly -- so a truncated, corrupted or hostile file is a ``ValueError`` that says
what is wrong, and nothing is allocated beyond the file's own size.

Writes are atomic: a temporary file in the target's folder, written, flushed and fsynced, then
``os.replace``d over the target, then the folder fsynced. A crash (even SIGKILL) at any moment
leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Largest header accepted (safetensors' own limit is 100 MB too).
MAX_HEADER_BYTES = 100 * 1024 * 1024
#: Most dimensions a tensor may have.
MAX_RANK = 16

#: safetensors dtype names rnnkit writes and reads; anything else is refused.
DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


def _umask() -> int:
    """The process umask (read once: setting it is the only portable way to read it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a validated header: dtype, shape and byte range in the data section."""

    dtype: np.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class Container:
    """A validated file: its string metadata, tensor table and raw bytes."""

    metadata: dict[str, str]
    entries: dict[str, TensorEntry]
    data: memoryview  # the data section

    def tensor_bytes(self, name: str) -> memoryview:
        entry = self.entries[name]
        return self.data[entry.begin : entry.end]

    def sha256(self) -> str:
        """The checksum rnnkit stores: tensors' bytes concatenated in sorted-name order."""
        digest = hashlib.sha256()
        for name in sorted(self.entries):
            digest.update(self.tensor_bytes(name))
        return digest.hexdigest()

    def array(self, name: str) -> np.ndarray:
        """A fresh, writable, native-order copy of one tensor."""
        entry = self.entries[name]
        flat = np.frombuffer(self.tensor_bytes(name), dtype=entry.dtype)
        return flat.astype(entry.dtype.newbyteorder("="), copy=True).reshape(entry.shape)


def tensors_sha256(tensors: dict[str, np.ndarray]) -> str:
    """The checksum of arrays about to be written (same definition as :meth:`Container.sha256`)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(_little_endian(tensors[name]).tobytes())
    return digest.hexdigest()


def _little_endian(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
    return array.astype(array.dtype.newbyteorder("<"), copy=False)


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The bytes of a safetensors file (written by the ``safetensors`` package)."""
    from safetensors.numpy import save

    for name, array in tensors.items():
        if np.dtype(array.dtype).newbyteorder("<") not in DTYPE_NAMES:
            raise TypeError(
                f"tensor {name!r} has dtype {array.dtype}; rnnkit files hold {list(DTYPES)}"
            )
    return save({name: _little_endian(a) for name, a in tensors.items()}, metadata=metadata)


def _describe_foreign(head: bytes) -> str | None:
    """What a file that is not safetensors looks like, from its first bytes."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "a zip archive (a Keras .keras file or a zipped PyTorch file?)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (rnnkit never unpickles a file)"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (a Keras .h5 file?)"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file"
    return None


def parse(buffer: bytes, where: str) -> Container:
    """Validate a whole file's bytes; the header is checked before any tensor is looked at.

    Raises:
        ValueError: anything that is not a well-formed safetensors file of rnnkit's dtypes, with
            a message starting with ``where`` that names what is wrong.
    """
    size = len(buffer)
    if size == 0:
        raise ValueError(f"{where} the file is empty (0 bytes)")
    foreign = _describe_foreign(bytes(buffer[:8]))
    if foreign is not None:
        raise ValueError(f"{where} the file is {foreign}, not an rnnkit model file")
    if size < 8:
        raise ValueError(f"{where} the file is truncated: {size} bytes, less than an 8-byte header")
    (header_len,) = struct.unpack("<Q", bytes(buffer[:8]))
    if header_len > MAX_HEADER_BYTES:
        looks_like_text = all(32 <= c < 127 or c in b"\t\r\n" for c in bytes(buffer[:8]))
        raise ValueError(
            f"{where} not an rnnkit model file"
            + (" (it starts like text)" if looks_like_text else "")
            + f": the safetensors header it must start with claims {header_len} bytes, more "
            f"than the {MAX_HEADER_BYTES} allowed (a corrupted or hostile file)"
        )
    if header_len > size - 8:
        raise ValueError(
            f"{where} the file is truncated or corrupted: its header claims {header_len} bytes "
            f"but the file has only {size - 8} after the length field"
        )
    raw = bytes(buffer[8 : 8 + header_len])
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{where} the header is not valid JSON ({exc}); corrupted file") from None
    if not isinstance(header, dict):
        raise ValueError(  # noqa: TRY004 - a bad file, whatever the JSON type
            f"{where} the header is not a JSON object; corrupted file"
        )
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ValueError(f"{where} __metadata__ must map strings to strings")
    data = memoryview(buffer)[8 + header_len :]
    entries = {name: _entry(where, name, spec, len(data)) for name, spec in header.items()}
    _check_tiling(where, entries, len(data))
    return Container(metadata, entries, data)


def _entry(where: str, name: str, spec: Any, data_len: int) -> TensorEntry:
    bad = f"{where} tensor {name!r}:"
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise ValueError(f"{bad} needs exactly dtype, shape and data_offsets")
    dtype = DTYPES.get(spec["dtype"]) if isinstance(spec["dtype"], str) else None
    if dtype is None:
        raise ValueError(f"{bad} unknown or unsupported dtype {spec['dtype']!r} (rnnkit files "
                         f"hold {', '.join(DTYPES)})")
    shape, offsets = spec["shape"], spec["data_offsets"]
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_RANK
        or not all(_is_size(d) for d in shape)
    ):
        raise ValueError(f"{bad} shape must be a list of at most {MAX_RANK} sizes >= 0, "
                         f"got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_size, offsets))):
        raise ValueError(f"{bad} data_offsets must be [begin, end], got {offsets!r}")
    begin, end = offsets
    if not begin <= end <= data_len:
        raise ValueError(
            f"{bad} data_offsets {offsets} fall outside the {data_len}-byte data section "
            f"(truncated or corrupted file)"
        )
    count = 1
    for d in shape:
        count *= d
    if count * dtype.itemsize != end - begin:
        raise ValueError(
            f"{bad} shape {shape} of {spec['dtype']} needs {count * dtype.itemsize} bytes, "
            f"data_offsets give {end - begin}"
        )
    return TensorEntry(dtype, tuple(shape), begin, end)


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_tiling(where: str, entries: dict[str, TensorEntry], data_len: int) -> None:
    """The tensors must cover the data section exactly, without overlap or gaps."""
    position = 0
    for name, entry in sorted(entries.items(), key=lambda item: (item[1].begin, item[1].end)):
        if entry.begin != position:
            kind = "overlaps another" if entry.begin < position else "leaves a gap before it"
            raise ValueError(f"{where} tensor {name!r} {kind} (data_offsets {entry.begin}..)")
        position = entry.end
    if position != data_len:
        raise ValueError(
            f"{where} the data section has {data_len} bytes but the tensors cover {position}: "
            f"truncated or corrupted file"
        )


def read_file(path: str | os.PathLike[str]) -> bytes:
    """A file's bytes. Raises OSError for I/O problems (missing file, a directory, ...)."""
    with open(os.fspath(path), "rb") as f:
        return f.read()


def write_atomic(path: str | os.PathLike[str], data: bytes, overwrite: bool = True) -> None:
    """Replace ``path`` by a file holding ``data``, atomically and durably.

    Raises:
        FileExistsError: ``overwrite=False`` and the file exists.
        IsADirectoryError: ``path`` is a directory.
        OSError: the folder does not exist or is not writable, the disk is full, ...
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory; give a file name")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False")
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), _FILE_MODE)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make the rename durable (POSIX); folders cannot be opened for fsync on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
