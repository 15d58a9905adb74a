"""LangChain, LlamaIndex and Haystack adapters, inside each framework's own pipeline
objects, on real MS MARCO passages: the order and scores equal ``Reranker.rerank`` on the
same candidates; thresholds; async that leaves the event loop free; missing packages."""

from __future__ import annotations

import asyncio
import importlib
import sys

import pytest

from rerankit import Reranker
from rerankit._exceptions import MissingDependencyError
from rerankit.retrieval import BM25Index

QUERY = "what is the most popular food in switzerland"


@pytest.fixture(scope="module")
def corpus(dl19):
    ids = list(dl19["corpus"])[:400]
    return {i: dl19["corpus"][i] for i in ids}


@pytest.fixture(scope="module")
def bm25(corpus):
    return BM25Index.build(list(corpus.items()), tokenizer="english")


@pytest.fixture(scope="module")
def reranker():
    return Reranker("default")  # the offline all-MiniLM-L6-v2 (real weights)


def assert_matches(got_ids, got_scores, texts, ids, reranker, **options):
    """The adapter's output equals Reranker.rerank on the same candidate texts."""
    expected = reranker.rerank(QUERY, texts, **options)
    assert got_ids == [ids[r.index] for r in expected]
    assert got_scores == pytest.approx([r.score for r in expected])
    return expected


async def run_while_ticking(coroutine):
    """Await ``coroutine`` while a ticker counts event-loop turns (0: the loop was blocked)."""
    ticks = 0
    done = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    try:
        return await coroutine, ticks
    finally:
        done.set()
        await task


def test_a_missing_framework_names_the_extra(monkeypatch):
    for module, extra in (("langchain", "langchain_core"), ("llama_index", "llama_index"),
                          ("haystack", "haystack")):
        monkeypatch.delitem(sys.modules, f"rerankit.integrations.{module}", raising=False)
        monkeypatch.setitem(sys.modules, extra, None)
        expected = {"langchain": "langchain", "llama_index": "llamaindex",
                    "haystack": "haystack"}[module]
        with pytest.raises(MissingDependencyError, match=rf"rerankit\[{expected}\]"):
            importlib.import_module(f"rerankit.integrations.{module}")


# -- LangChain -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def langchain_retriever(bm25):
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    class BM25Retriever(BaseRetriever):
        index: object
        k: int = 20

        def _get_relevant_documents(self, query, *, run_manager):
            return [Document(page_content=h.text, id=h.id, metadata={"bm25": h.score})
                    for h in self.index.search(query, self.k)]

    return BM25Retriever(index=bm25)


def test_langchain_contextual_compression(langchain_retriever, reranker):
    pytest.importorskip("langchain_classic")
    from langchain_classic.retrievers import ContextualCompressionRetriever

    from rerankit.integrations.langchain import RerankitRerank

    pipeline = ContextualCompressionRetriever(
        base_compressor=RerankitRerank(reranker=reranker, top_n=5),
        base_retriever=langchain_retriever)
    docs = pipeline.invoke(QUERY)
    candidates = langchain_retriever.invoke(QUERY)
    expected = assert_matches([d.id for d in docs],
                              [d.metadata["relevance_score"] for d in docs],
                              [c.page_content for c in candidates],
                              [c.id for c in candidates], reranker, top_n=5)
    assert [d.metadata["raw_relevance_score"] for d in docs] == pytest.approx(
        [r.raw_score for r in expected])
    assert all("bm25" in d.metadata for d in docs)  # the retriever's metadata is kept
    assert all("relevance_score" not in c.metadata for c in candidates)  # not mutated


def test_langchain_min_score_and_async(langchain_retriever, reranker):
    from rerankit.integrations.langchain import RerankitRerank

    candidates = langchain_retriever.invoke(QUERY)
    scores = sorted(r.score for r in reranker.rerank(QUERY, [c.page_content for c in candidates]))
    threshold = scores[len(scores) // 2]
    compressor = RerankitRerank(reranker=reranker, top_n=None, min_score=threshold)
    kept, ticks = asyncio.run(run_while_ticking(
        compressor.acompress_documents(candidates, QUERY)))
    assert ticks > 1  # the loop kept turning while the model scored
    assert [d.metadata["relevance_score"] for d in kept] == pytest.approx(
        [s for s in sorted(scores, reverse=True) if s >= threshold])
    assert compressor.compress_documents([], QUERY) == []
    with pytest.raises(ValueError, match="top_n"):
        RerankitRerank(reranker=reranker, top_n=0)
    with pytest.raises(ValueError, match="either reranker= or model="):
        RerankitRerank(reranker=reranker, model="default")


# -- LlamaIndex ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def llama_nodes(corpus):
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import TextNode

    return [TextNode(text=text, id_=doc_id) for doc_id, text in corpus.items()]


@pytest.fixture(scope="module")
def llama_settings():
    pytest.importorskip("llama_index.core")
    from llama_index.core import Settings
    from llama_index.core.llms import MockLLM

    # offline: no tiktoken download, no OpenAI
    Settings.tokenizer = lambda text: text.split()
    Settings.llm = MockLLM()
    return Settings


def test_llama_index_query_engine(llama_nodes, llama_settings, reranker):
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding

    from rerankit.integrations.llama_index import RerankitRerank

    index = VectorStoreIndex(llama_nodes[:60], embed_model=MockEmbedding(embed_dim=8))
    retrieved = index.as_retriever(similarity_top_k=20).retrieve(QUERY)
    engine = index.as_query_engine(similarity_top_k=20, node_postprocessors=[
        RerankitRerank(reranker=reranker, top_n=4)])
    response = engine.query(QUERY)
    sources = response.source_nodes
    assert_matches([n.node.node_id for n in sources], [n.score for n in sources],
                   [n.node.get_content() for n in retrieved],
                   [n.node.node_id for n in retrieved], reranker, top_n=4)
    with pytest.raises(ValueError, match="needs the query"):
        RerankitRerank(reranker=reranker).postprocess_nodes(retrieved)


def test_llama_index_bm25_retriever_threshold_and_async(llama_nodes, llama_settings,
                                                        bm25, reranker):
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore

    from rerankit.integrations.llama_index import RerankitRerank

    by_id = {n.node_id: n for n in llama_nodes}

    class BM25Retriever(BaseRetriever):
        def _retrieve(self, query_bundle):
            return [NodeWithScore(node=by_id[h.id], score=h.score)
                    for h in bm25.search(query_bundle.query_str, 20)]

    retriever = BM25Retriever()
    candidates = retriever.retrieve(QUERY)
    scores = sorted((r.score for r in reranker.rerank(
        QUERY, [n.node.get_content() for n in candidates])), reverse=True)
    threshold = scores[5]
    engine = RetrieverQueryEngine.from_args(retriever, node_postprocessors=[
        RerankitRerank(reranker=reranker, top_n=None, min_score=threshold)])
    response, ticks = asyncio.run(run_while_ticking(engine.aquery(QUERY)))
    assert ticks > 1
    assert [n.score for n in response.source_nodes] == pytest.approx(scores[:6])
    assert candidates[0].score != response.source_nodes[0].score  # BM25 score replaced


# -- Haystack --------------------------------------------------------------------------

def test_haystack_pipeline(corpus, reranker):
    pytest.importorskip("haystack")
    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from rerankit.integrations.haystack import RerankitRanker

    store = InMemoryDocumentStore()
    store.write_documents([Document(id=i, content=t) for i, t in corpus.items()])
    pipeline = Pipeline()
    pipeline.add_component("retriever", InMemoryBM25Retriever(store, top_k=20))
    pipeline.add_component("ranker", RerankitRanker(reranker=reranker, top_k=5))
    pipeline.connect("retriever.documents", "ranker.documents")
    out = pipeline.run({"retriever": {"query": QUERY}, "ranker": {"query": QUERY}})
    ranked = out["ranker"]["documents"]
    candidates = InMemoryBM25Retriever(store, top_k=20).run(query=QUERY)["documents"]
    assert_matches([d.id for d in ranked], [d.score for d in ranked],
                   [d.content for d in candidates], [d.id for d in candidates], reranker,
                   top_n=5)
    threshold = ranked[2].score
    bm25_scores = [d.score for d in candidates]
    kept = RerankitRanker(reranker=reranker, top_k=None).run(
        QUERY, candidates, score_threshold=threshold)["documents"]
    assert [d.id for d in kept] == [d.id for d in ranked[:3]]
    assert [d.score for d in candidates] == bm25_scores  # the inputs are not mutated


def test_haystack_serialises_and_loads_lazily(corpus, tiny_bert_dir):
    pytest.importorskip("haystack")
    from rerankit.integrations.haystack import RerankitRanker

    # a given reranker is saved as its model, not silently swapped for the default
    given = RerankitRanker(reranker=Reranker(str(tiny_bert_dir))).to_dict()
    assert given["init_parameters"]["model"] == str(tiny_bert_dir)

    ranker = RerankitRanker(model="default", top_k=3, meta_fields_to_embed=["title"])
    restored = RerankitRanker.from_dict(ranker.to_dict())
    assert (restored.model, restored.top_k, restored.meta_fields_to_embed) == (
        "default", 3, ["title"])
    assert restored._reranker is None  # nothing loaded before warm_up / run
    assert restored.run(QUERY, [])["documents"] == []
    with pytest.raises(ValueError, match="top_n"):
        RerankitRanker(top_k=0)


# -- any reranker: an ONNX export, a hosted one ----------------------------------------

def test_onnx_and_hosted_rerankers_drop_in(tmp_path, tiny_bert_dir, langchain_retriever):
    """``model=`` takes an ONNX export folder; ``reranker=`` a hosted client (a rerankit
    server running a real tiny model): each gives what that Reranker gives directly."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    pytest.importorskip("fastapi")
    from rerankit.export import export_onnx
    from rerankit.integrations.langchain import RerankitRerank
    from rerankit.server import create_app
    from test_server import Server

    folder = export_onnx(str(tiny_bert_dir), tmp_path / "onnx").folder
    candidates = langchain_retriever.invoke(QUERY)
    texts, ids = [c.page_content for c in candidates], [c.id for c in candidates]
    onnx = RerankitRerank(model=str(folder), top_n=4)
    assert onnx.reranker.spec.backend == "onnx-cross-encoder"
    docs = onnx.compress_documents(candidates, QUERY)
    assert_matches([d.id for d in docs], [d.metadata["relevance_score"] for d in docs],
                   texts, ids, Reranker(str(folder)), top_n=4)

    local = Reranker(str(tiny_bert_dir))
    with Server(create_app({"tiny": local})) as running:
        running.wait_ready()
        hosted = Reranker(f"rerankit:{running.url}")
        docs = RerankitRerank(reranker=hosted, top_n=4).compress_documents(candidates, QUERY)
    assert_matches([d.id for d in docs], [d.metadata["relevance_score"] for d in docs],
                   texts, ids, local, top_n=4)
