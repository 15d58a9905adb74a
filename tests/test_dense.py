"""Dense retrieval: exact and ANN search, prefixes, save/load, bad input.

Mechanics run on a 2-layer BERT wrapped as a sentence-transformers folder; quality checks
use the real all-MiniLM-L6-v2 on 100 MS MARCO passages.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("usearch")

import rerankit._resolve
from rerankit import (
    InvalidInputError,
    MissingDependencyError,
    ModelNotFoundError,
    UnsupportedModelError,
    find_known_model,
)
from rerankit._exceptions import IndexMismatchError
from rerankit.retrieval import load_index
from rerankit.retrieval._store import write_manifest
from rerankit.retrieval._vectors import ExactVectors, UsearchVectors
from rerankit.retrieval.base import Retriever
from rerankit.retrieval.dense import DenseIndex

N_REAL = 100


def _st_modules():
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    return SentenceTransformer, Transformer, Pooling


@pytest.fixture(scope="session")
def tiny_st_dir(tmp_path_factory, tiny_bert_dir):
    """The tiny BERT as a sentence-transformers folder (mean pooling, 32 dimensions)."""
    sentence_transformer, transformer, pooling = _st_modules()
    word = transformer(str(tiny_bert_dir))
    model = sentence_transformer(modules=[word, pooling(word.get_embedding_dimension(), "mean")],
                                 device="cpu")
    out = tmp_path_factory.mktemp("tiny-st")
    model.save(str(out))
    return out


@pytest.fixture(scope="session")
def reference_encoder(tiny_st_dir):
    sentence_transformer, _, _ = _st_modules()
    return sentence_transformer(str(tiny_st_dir), device="cpu")


@pytest.fixture(scope="session")
def docs(dl19):
    """400 real passages as (id, text) pairs."""
    return list(dl19["corpus"].items())[:400]


@pytest.fixture(scope="session")
def queries(dl19):
    return list(dl19["queries"].values())


@pytest.fixture(scope="session")
def tiny_index(tiny_st_dir, docs):
    return DenseIndex.build(docs[:60], model=str(tiny_st_dir), device="cpu")


@pytest.fixture(scope="session")
def minilm_index(minilm_dir, docs):
    return DenseIndex.build(docs[:N_REAL], model="default", device="cpu")


# -- quality, real MiniLM ----------------------------------------------------------------


def test_exact_search_equals_brute_force_reference(minilm_index, minilm_dir, docs, queries):
    sentence_transformer, _, _ = _st_modules()
    encoder = sentence_transformer(str(minilm_dir), device="cpu")
    matrix = encoder.encode([text for _, text in docs[:N_REAL]], normalize_embeddings=True)
    query_vectors = encoder.encode(queries, normalize_embeddings=True)
    assert minilm_index.settings()["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    results = minilm_index.search_many(queries, k=10)
    for query, query_vector, hits in zip(queries, query_vectors, results, strict=True):
        reference = matrix @ query_vector
        order = np.argsort(-reference, kind="stable")[:10]
        assert [h.id for h in hits] == [docs[i][0] for i in order], query
        np.testing.assert_allclose([h.score for h in hits], reference[order], atol=1e-5)
        assert [h.rank for h in hits] == list(range(1, 11))
        np.testing.assert_allclose(minilm_index.scores(query), reference, atol=1e-5)
    assert [h.id for h in minilm_index.search(queries[0], 10)] == [h.id for h in results[0]]


def test_relevant_passages_rank_above_unrelated_ones(minilm_index, dl19, docs):
    ids = {doc_id for doc_id, _ in docs[:N_REAL]}
    judged = []
    for qid, grades in dl19["qrels"].items():
        relevant = {d for d, g in grades.items() if g >= 2 and d in ids}
        if relevant:
            judged.append((dl19["queries"][qid], relevant))
    assert len(judged) >= 8
    top1 = 0
    for query, relevant in judged:
        hits = minilm_index.search(query, k=N_REAL)
        # passages relevant to this query score above those judged or not for others
        first_relevant = min(h.rank for h in hits if h.id in relevant)
        assert first_relevant <= 3, query
        top1 += hits[0].id in relevant
    assert top1 / len(judged) >= 0.75
    hits = minilm_index.search("do goldfish grow", k=3)
    assert "goldfish" in hits[0].text.lower()


# -- ANN --------------------------------------------------------------------------------


def test_usearch_matches_exact_search(tiny_st_dir, docs, queries, tmp_path):
    exact = DenseIndex.build(docs, model=str(tiny_st_dir), ann="exact")
    assert exact.engine == "exact"
    exact.save(tmp_path / "index")
    ann = DenseIndex.load(tmp_path / "index", ann="auto", ann_threshold=100)
    assert ann.engine == "usearch" and len(ann) == len(docs) == 400
    recalls = []
    for query in queries:
        truth, found = exact.search(query, 10), ann.search(query, 10)
        recalls.append(len({h.id for h in truth} & {h.id for h in found}) / 10)
        truth_scores = {h.id: h.score for h in truth}
        for hit in found:
            if hit.id in truth_scores:
                assert abs(hit.score - truth_scores[hit.id]) < 1e-4
        assert [h.rank for h in found] == list(range(1, 11))
        assert [h.score for h in found] == sorted((h.score for h in found), reverse=True)
    assert np.mean(recalls) >= 0.9
    # k at least the corpus size: every document, like exact search
    assert [h.id for h in ann.search(queries[0], 1000)] == [
        h.id for h in exact.search(queries[0], 1000)]


def test_usearch_scores_are_cosine_similarities():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact, ann = ExactVectors(24), UsearchVectors(24)
    for part in (vectors[:100], vectors[100:]):
        exact.add(part)
        ann.add(part)
    assert len(exact) == len(ann) == 300
    queries = vectors[:20] + 0.3 * rng.normal(size=(20, 24)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = []
    for query, (positions, scores), (true_positions, _) in zip(
            queries, ann.search(queries, 10), exact.search(queries, 10), strict=True):
        np.testing.assert_allclose(scores, vectors[positions] @ query, atol=1e-4)
        recall.append(len(set(positions) & set(true_positions)) / 10)
    assert np.mean(recall) >= 0.9


def test_auto_switches_to_usearch_above_the_threshold(tiny_st_dir, docs, tmp_path):
    index = DenseIndex.build(docs[:4], model=str(tiny_st_dir), ann_threshold=5)
    assert index.engine == "exact"
    index.add(docs[4:8])
    assert index.engine == "usearch"
    index.save(tmp_path / "ann")
    assert (tmp_path / "ann" / "vectors.usearch").is_file()
    loaded = DenseIndex.load(tmp_path / "ann")
    assert loaded.engine == "usearch"
    assert [h.id for h in loaded.search(docs[6][1], 1)] == [docs[6][0]]
    assert len(loaded.search("anything", 100)) == 8  # k >= corpus: exact, every document


# -- prefixes ---------------------------------------------------------------------------


def test_explicit_prefixes_are_applied(tiny_st_dir, reference_encoder, docs):
    texts = [text for _, text in docs[:10]]
    index = DenseIndex.build(docs[:10], model=str(tiny_st_dir), query_prefix="query: ",
                             document_prefix="passage: ")
    query = "how long do fleas live"
    matrix = reference_encoder.encode(["passage: " + t for t in texts], normalize_embeddings=True)
    vector = reference_encoder.encode("query: " + query, normalize_embeddings=True)
    np.testing.assert_allclose(index.scores(query), matrix @ vector, atol=1e-5)
    plain = reference_encoder.encode(query, normalize_embeddings=True)
    assert not np.allclose(index.scores(query), matrix @ plain, atol=1e-4)
    assert index.settings()["query_prefix"] == "query: "


def test_known_model_prefixes_come_from_the_table(tiny_st_dir, tmp_path, monkeypatch,
                                                  reference_encoder):
    row = find_known_model("intfloat/multilingual-e5-small")
    assert (row.query_prefix, row.document_prefix) == ("query: ", "passage: ")
    assert find_known_model("BAAI/bge-m3").query_prefix == ""
    assert find_known_model("bge-small-en-v1.5").query_prefix.startswith("Represent this")
    # serve the tiny model as this row's weights (as the MiniLM pip package does)
    package = tmp_path / "fake_e5_weights"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copytree(tiny_st_dir, package / "model")
    monkeypatch.syspath_prepend(str(tmp_path))
    local = dataclasses.replace(row, pip_package="fake_e5_weights")
    original = rerankit._resolve.find_known_model
    monkeypatch.setattr(rerankit._resolve, "find_known_model",
                        lambda name: local if original(name) is row else original(name))

    index = DenseIndex.build([("a", "some passage")], model="multilingual-e5-small")
    assert index.settings()["model"] == "intfloat/multilingual-e5-small"
    assert (index.query_prefix, index.document_prefix) == ("query: ", "passage: ")
    expected = reference_encoder.encode(["passage: some passage", "query: a question"],
                                        normalize_embeddings=True)
    np.testing.assert_allclose(index.scores("a question"), [expected[0] @ expected[1]],
                               atol=1e-5)
    override = DenseIndex("intfloat/multilingual-e5-small", query_prefix="")
    assert (override.query_prefix, override.document_prefix) == ("", "passage: ")
    # the bi-encoder reranker applies the same prefixes
    from rerankit import Reranker

    (result,) = Reranker("multilingual-e5-small").rerank("a question", ["some passage"])
    assert result.raw_score == pytest.approx(float(expected[0] @ expected[1]), abs=1e-5)


def test_prefixes_from_the_models_own_prompts(tiny_st_dir, tmp_path):
    folder = tmp_path / "with-prompts"
    shutil.copytree(tiny_st_dir, folder)
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    config["prompts"] = {"query": "search_query: ", "document": "search_document: "}
    config_path.write_text(json.dumps(config))
    index = DenseIndex(str(folder))
    assert (index.query_prefix, index.document_prefix) == ("search_query: ", "search_document: ")
    assert DenseIndex(str(tiny_st_dir)).query_prefix == ""


# -- save, load, add --------------------------------------------------------------------


def test_save_load_round_trip_and_add(tiny_index, tiny_st_dir, docs, queries, tmp_path):
    folder = tmp_path / "index"
    tiny_index.save(folder)
    assert {p.name for p in folder.iterdir()} == {"manifest.json", "documents.jsonl",
                                                  "embeddings.npy"}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "dense" and manifest["documents"] == 60
    assert manifest["settings"]["dim"] == 32 and manifest["settings"]["normalize"] is True
    loaded = DenseIndex.load(folder)
    assert isinstance(loaded, Retriever) and len(loaded) == 60
    for query in queries[:10]:
        before, after = tiny_index.search(query, 15), loaded.search(query, 15)
        assert [(h.id, h.score, h.rank) for h in before] == [(h.id, h.score, h.rank)
                                                               for h in after]
    np.testing.assert_array_equal(tiny_index.scores(queries[0]), loaded.scores(queries[0]))

    loaded.add([{"_id": "new-1", "title": "Quokka", "text": "a small marsupial of Rottnest"},
                ("new-2", "")])
    assert len(loaded) == 62 and len(tiny_index) == 60
    top = loaded.search("Quokka\n\na small marsupial of Rottnest", 1)[0]
    assert (top.id, top.document.title) == ("new-1", "Quokka")
    assert top.score == pytest.approx(1.0, abs=1e-5)
    loaded.save(folder)  # overwriting an index folder is allowed
    assert len(DenseIndex.load(folder)) == 62


def test_load_refuses_other_settings(tiny_index, tiny_st_dir, minilm_dir, tmp_path):
    folder = tmp_path / "index"
    tiny_index.save(folder)
    with pytest.raises(IndexMismatchError, match="model"):
        DenseIndex.load(folder, model=str(minilm_dir))
    with pytest.raises(IndexMismatchError, match="query_prefix"):
        DenseIndex.load(folder, query_prefix="query: ")
    with pytest.raises(IndexMismatchError, match="max_length"):
        DenseIndex.load(folder, max_length=16)
    assert len(DenseIndex.load(folder, model=str(tiny_st_dir), query_prefix="")) == 60
    with pytest.raises(InvalidInputError, match="unknown setting"):
        DenseIndex.load(folder, pooling="cls")
    # the manifest names another encoder (a different width): caught by the dimension check
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["settings"]["model"] = str(minilm_dir)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="384-dimensional"):
        DenseIndex.load(folder)


def test_load_refuses_other_kinds_and_non_indexes(tmp_path):
    write_manifest(tmp_path, "bm25", {"tokenizer": "whitespace"}, 3)
    with pytest.raises(IndexMismatchError, match="bm25"):
        DenseIndex.load(tmp_path)
    with pytest.raises(IndexMismatchError, match="not a rerankit index"):
        DenseIndex.load(tmp_path / "nothing-here")


def test_save_refuses_a_foreign_folder(tiny_index, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        tiny_index.save(tmp_path)


def test_duplicate_ids_are_refused_and_nothing_is_added(tiny_st_dir, docs):
    index = DenseIndex.build(docs[:5], model=str(tiny_st_dir))
    with pytest.raises(InvalidInputError, match=repr(docs[2][0])):
        index.add([("fresh", "text"), docs[2]])
    with pytest.raises(InvalidInputError, match="'twice'"):
        index.add([("twice", "a"), ("twice", "b")])
    assert len(index) == 5 and "fresh" not in index.store


def test_failed_encoding_leaves_the_index_unchanged(tiny_st_dir, docs, monkeypatch):
    index = DenseIndex.build(docs[:5], model=str(tiny_st_dir))

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(index.encoder, "encode", broken)
    with pytest.raises(RuntimeError):
        index.add([("later", "text")])
    assert len(index) == 5 and len(index._exact) == 5 and "later" not in index.store


# -- bad input --------------------------------------------------------------------------


def test_bad_queries_and_k(tiny_index):
    for query in ("", "   ", None, 3):
        with pytest.raises(InvalidInputError, match="query"):
            tiny_index.search(query)
    for k in (0, -1, 1.5, True, "3"):
        with pytest.raises(InvalidInputError, match="k must be"):
            tiny_index.search("fleas", k)
    with pytest.raises(InvalidInputError):
        tiny_index.search_many("one query as a str")
    assert len(tiny_index.search("fleas", 10_000)) == len(tiny_index) == 60
    assert tiny_index.search_many([], 3) == []


def test_bad_constructor_arguments(tiny_st_dir, tmp_path):
    with pytest.raises(InvalidInputError, match="ann"):
        DenseIndex(str(tiny_st_dir), ann="faiss")
    with pytest.raises(InvalidInputError, match="batch_size"):
        DenseIndex(str(tiny_st_dir), batch_size=0)
    with pytest.raises(InvalidInputError, match="exceeds"):
        DenseIndex(str(tiny_st_dir), max_length=100_000)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        DenseIndex(str(tmp_path / "missing"))
    with pytest.raises(InvalidInputError, match="empty"):
        DenseIndex.build([], model=str(tiny_st_dir))
    with pytest.raises(UnsupportedModelError, match="not an embedding model"):
        DenseIndex("cross-encoder/ms-marco-MiniLM-L-6-v2")


def test_unknown_hub_id_fails_fast(monkeypatch, tmp_path):
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError, match="rerankit-test/no-such-encoder"):
        DenseIndex("rerankit-test/no-such-encoder")
    # online mode: one reachability check, not the hub client's minutes of retries
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(ModelNotFoundError, match="rerankit-test/no-such-encoder"):
        DenseIndex("rerankit-test/no-such-encoder")
    assert time.monotonic() - started < 30


def test_huge_and_empty_documents(tiny_st_dir):
    huge = "flea " * 200_000  # 1 MB: the encoder reads only its first max_length tokens
    index = DenseIndex.build([("huge", huge), ("empty", ""), ("short", "flea flea flea")],
                             model=str(tiny_st_dir), max_length=64)
    assert index.settings()["max_length"] == 64
    scores = index.scores("flea")
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert {h.id for h in index.search("flea", 3)} == {"huge", "empty", "short"}


def test_importing_the_module_stays_light():
    code = ("import sys, rerankit, rerankit.retrieval.dense; "
            "print([m for m in ('torch', 'sentence_transformers', 'usearch') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_without_usearch_auto_stays_exact_and_usearch_names_the_extra(tiny_st_dir, docs,
                                                                      monkeypatch):
    monkeypatch.setitem(sys.modules, "usearch.index", None)
    index = DenseIndex.build(docs[:6], model=str(tiny_st_dir), ann_threshold=2)
    assert index.engine == "exact" and index.settings()["ann"] == "auto"
    assert [h.id for h in index.search(docs[3][1], 1)] == [docs[3][0]]
    with pytest.raises(MissingDependencyError, match=r"rerankit\[dense\]"):
        DenseIndex(str(tiny_st_dir), ann="usearch")


def test_onnx_runtime_encodes_like_torch(tiny_st_dir, docs, tmp_path):
    pytest.importorskip("onnxruntime")
    from rerankit.export import export_onnx

    folder = tmp_path / "onnx"
    export_onnx(str(tiny_st_dir), folder)
    torch_index = DenseIndex.build(docs[:20], model=str(tiny_st_dir))
    onnx_index = DenseIndex.build(docs[:20], model=str(folder))
    assert (torch_index.runtime, onnx_index.runtime) == ("torch", "onnx")
    np.testing.assert_allclose(onnx_index._exact.matrix, torch_index._exact.matrix, atol=1e-4)
    query = "what causes the tides"
    assert [h.id for h in onnx_index.search(query, 5)] == \
        [h.id for h in torch_index.search(query, 5)]
    onnx_index.save(tmp_path / "saved")
    assert load_index(tmp_path / "saved").runtime == "onnx"
    with pytest.raises(InvalidInputError, match="rerankit export"):
        DenseIndex(str(tiny_st_dir), runtime="onnx")
    with pytest.raises(InvalidInputError, match="runtime must be one of"):
        DenseIndex(str(tiny_st_dir), runtime="gpu")
    with pytest.raises(InvalidInputError, match="chooses from the documents"):
        DenseIndex("auto")
