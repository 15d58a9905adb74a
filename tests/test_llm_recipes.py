"""Causal-LM recipes (Qwen3-Reranker, mxbai-rerank v2, bge-reranker-v2-gemma) on tiny
random checkpoints: equal to direct computations written here from each official recipe,
invariant to batching, and truncating documents, never the prompt template."""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest

from rerankit import Reranker
from rerankit._exceptions import InvalidInputError
from rerankit.rerankers.base import sigmoid
from tiny_llm import (
    DL19,
    build_gemma_tokenizer,
    build_qwen_tokenizer,
    read_jsonl,
    save_causal_lm,
    training_lines,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

BACKENDS = ["qwen3-reranker", "mxbai-rerank-v2", "bge-reranker-gemma"]

# The recipes, written out again from the official code (not imported from rerankit).
QWEN3_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
    'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
    "<|im_start|>user\n"
)
QWEN3_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
QWEN3_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
MXBAI_PREFIX = (
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\n<|im_start|>user\n"
)
MXBAI_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"
MXBAI_TASK = (
    "You are a search relevance expert who evaluates how well documents match search queries. "
    "For each query-document pair, carefully analyze the semantic relationship between them, "
    "then provide your binary relevance judgment (0 for not relevant, 1 for relevant).\n"
    "Relevance:"
)
GEMMA_PROMPT = (
    "Given a query A and a passage B, determine whether the passage contains an answer to the "
    "query by providing a prediction of either 'Yes' or 'No'."
)

# Queries and documents whose edges meet the template in different ways: closing "?" or
# ".", leading digit, bracket, newline or space, trailing newline, empty.
EDGE_QUERIES = ["What is the boiling point of water?", "who invented the thermometer.",
                "1709 alcohol thermometer", "(fahrenheit) scale", "cats\n"]
EDGE_DOCS = ["1714: the mercury thermometer.", "(see below) It was invented in 1709.",
             "\nA passage after a newline.", " leading space", "ends with a newline\n",
             "Question? Answer.", ""]


@pytest.fixture(scope="session")
def corpus():
    if not DL19.is_dir():
        pytest.skip(f"data set folder {DL19} is absent (tiny LLM tokenizers train on it)")
    passages = [row["text"] for row in read_jsonl(DL19 / "corpus.jsonl", 400)]
    queries = [row["text"] for row in read_jsonl(DL19 / "queries.jsonl", 50)]
    return passages, queries


@pytest.fixture(scope="session")
def llm_dirs(tmp_path_factory, corpus):
    """One tiny checkpoint per recipe: Qwen3 and Qwen2 share a Qwen-style byte-level BPE,
    the Gemma2 one has a Gemma-style tokenizer that prepends <bos>."""
    passages, queries = corpus
    prompts = [QWEN3_PREFIX, QWEN3_SUFFIX, QWEN3_INSTRUCTION, MXBAI_PREFIX, MXBAI_TASK,
               GEMMA_PROMPT]
    lines = training_lines(passages, queries, prompts)
    qwen_tok = build_qwen_tokenizer(lines)
    gemma_tok = build_gemma_tokenizer(lines)
    root = tmp_path_factory.mktemp("tiny-llm")
    return {
        "qwen3-reranker": save_causal_lm("qwen3", qwen_tok, root / "qwen3", seed=0),
        "mxbai-rerank-v2": save_causal_lm("qwen2", qwen_tok, root / "qwen2", seed=1),
        "bge-reranker-gemma": save_causal_lm("gemma2", gemma_tok, root / "gemma2", seed=2),
    }


@pytest.fixture(scope="session")
def rerankers(llm_dirs):
    """One Reranker per recipe with default settings, shared (model loads are the slow part)."""
    return {name: Reranker(folder, backend=name, device="cpu")
            for name, folder in llm_dirs.items()}


@functools.cache
def _load(folder):
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return tokenizer, model.eval()


def official_ids(backend, tokenizer, query, doc, instruction=None, max_length=None):
    """Token ids as each model's own code builds them."""

    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    if backend == "qwen3-reranker":
        prefix, suffix = ids(QWEN3_PREFIX), ids(QWEN3_SUFFIX)
        body = (f"<Instruct>: {instruction or QWEN3_INSTRUCTION}\n<Query>: {query}\n"
                f"<Document>: {doc}")
        if max_length is None:
            body_ids = tokenizer(body)["input_ids"]
        else:
            body_ids = tokenizer(body, truncation="longest_first",
                                 max_length=max_length - len(prefix) - len(suffix))["input_ids"]
        return prefix + body_ids + suffix
    if backend == "mxbai-rerank-v2":
        query_prompt = f"query: {query}"
        if instruction:
            query_prompt = f"instruction: {instruction}\n{query_prompt}"
        return (ids(MXBAI_PREFIX) + ids(query_prompt) + ids("\n") + ids(f"document: {doc}")
                + ids("\n") + ids(MXBAI_TASK) + ids(MXBAI_SUFFIX))
    assert backend == "bge-reranker-gemma"
    return ([tokenizer.bos_token_id] + ids(f"A: {query}") + ids("\n") + ids(f"B: {doc}")
            + ids("\n") + ids(GEMMA_PROMPT))


def official_suffix(backend, tokenizer):
    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    if backend == "qwen3-reranker":
        return ids(QWEN3_SUFFIX)
    if backend == "mxbai-rerank-v2":
        return ids("\n") + ids(MXBAI_TASK) + ids(MXBAI_SUFFIX)
    return ids("\n") + ids(GEMMA_PROMPT)


def direct_score(backend, folder, query, doc, instruction=None):
    """One unpadded sequence through the model; the recipe's logit (difference) at the end."""
    tokenizer, model = _load(str(folder))
    ids = official_ids(backend, tokenizer, query, doc, instruction)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1].double()

    def first(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"][0]

    if backend == "qwen3-reranker":
        yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
        return float(logits[yes] - logits[no])
    if backend == "mxbai-rerank-v2":
        return float(logits[first("1")] - logits[first("0")])
    return float(logits[first("Yes")])


def sample(passages, n, seed, chars=None):
    """n real passages (cut to ``chars`` characters, to keep model runs quick on CPU)."""
    return [p[:chars] for p in random.Random(seed).sample(passages, n)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_token_ids_equal_the_official_construction(backend, llm_dirs, rerankers, corpus):
    """Pieces tokenised apart give the official ids (for Qwen3: the whole body at once)."""
    passages, queries = corpus
    reranker = rerankers[backend]
    tokenizer, _ = _load(str(llm_dirs[backend]))
    docs = sample(passages, 40, seed=0) + EDGE_DOCS
    for query in queries[:4] + EDGE_QUERIES:
        pairs = reranker.backend.encode(query, docs)
        for doc, pair in zip(docs, pairs, strict=True):
            assert not pair.truncated
            assert list(pair.input_ids) == official_ids(backend, tokenizer, query, doc), (
                f"query {query!r}, document {doc[:60]!r}"
            )


@pytest.mark.parametrize("backend", BACKENDS)
def test_scores_equal_direct_computation(backend, llm_dirs, rerankers, corpus):
    passages, queries = corpus
    folder = llm_dirs[backend]
    docs = sample(passages, 6, seed=1, chars=400) + EDGE_DOCS[:2]
    reranker = rerankers[backend]
    assert reranker.backend._head is not None, "the float32 head should pass its self-check"
    for query in [queries[5], EDGE_QUERIES[0]]:
        ours = np.array(reranker.score(query, docs))
        theirs = np.array([direct_score(backend, folder, query, d) for d in docs])
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
        assert np.ptp(ours) > 1e-3, "scores should differ across documents"


@pytest.mark.parametrize("backend", BACKENDS)
def test_model_head_fallback_gives_the_same_scores(backend, rerankers, corpus):
    passages, queries = corpus
    docs = sample(passages, 6, seed=2, chars=300)
    reranker = rerankers[backend]
    float32_head = reranker.score(queries[1], docs)
    head, reranker.backend._head = reranker.backend._head, None  # model forward, 1 logit row
    try:
        model_head = reranker.score(queries[1], docs)
    finally:
        reranker.backend._head = head
    np.testing.assert_allclose(model_head, float32_head, atol=1e-5)


def test_qwen3_instruction_is_used(llm_dirs, rerankers, corpus):
    passages, queries = corpus
    folder = llm_dirs["qwen3-reranker"]
    docs = sample(passages, 6, seed=3, chars=300)
    instruction = "Given a medical question, retrieve passages written by doctors"
    default = np.array(rerankers["qwen3-reranker"].score(queries[2], docs))
    custom = np.array(Reranker(folder, backend="qwen3-reranker", instruction=instruction)
                      .score(queries[2], docs))
    assert np.max(np.abs(custom - default)) > 1e-3
    theirs = [direct_score("qwen3-reranker", folder, queries[2], d, instruction) for d in docs]
    np.testing.assert_allclose(custom, theirs, atol=1e-4, rtol=0)


def test_mxbai_instruction_is_used(llm_dirs, rerankers, corpus):
    passages, queries = corpus
    folder = llm_dirs["mxbai-rerank-v2"]
    docs = sample(passages, 6, seed=4, chars=300)
    instruction = "Find passages that define the term"
    default = np.array(rerankers["mxbai-rerank-v2"].score(queries[3], docs))
    custom = np.array(Reranker(folder, backend="mxbai-rerank-v2", instruction=instruction)
                      .score(queries[3], docs))
    assert np.max(np.abs(custom - default)) > 1e-3
    theirs = [direct_score("mxbai-rerank-v2", folder, queries[3], d, instruction) for d in docs]
    np.testing.assert_allclose(custom, theirs, atol=1e-4, rtol=0)


def test_gemma_takes_no_instruction(llm_dirs):
    with pytest.raises(InvalidInputError, match="no instruction"):
        Reranker(llm_dirs["bge-reranker-gemma"], backend="bge-reranker-gemma", instruction="x")


def test_gemma_sequence_starts_with_bos(llm_dirs, rerankers):
    reranker = rerankers["bge-reranker-gemma"]
    tokenizer, _ = _load(str(llm_dirs["bge-reranker-gemma"]))
    (pair,) = reranker.backend.encode("a query", ["a passage"])
    assert pair.input_ids[0] == tokenizer.bos_token_id
    assert pair.input_ids.count(tokenizer.bos_token_id) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_scores_do_not_depend_on_batching_or_order(backend, rerankers, corpus, monkeypatch):
    passages, queries = corpus
    docs = sample(passages, 12, seed=5, chars=300) + ["short", "a " * 200, ""]
    query = queries[6]
    reranker = rerankers[backend]
    batch_sizes = []
    forward = reranker.backend.forward
    monkeypatch.setattr(reranker.backend, "forward",
                        lambda batch: batch_sizes.append(len(batch)) or forward(batch))

    def score(token_budget, max_batch_size, texts):
        monkeypatch.setattr(reranker, "token_budget", token_budget)
        monkeypatch.setattr(reranker, "max_batch_size", max_batch_size)
        batch_sizes.clear()
        return reranker.score(query, texts)

    alone = score(1, 1, docs)
    assert batch_sizes == [1] * len(docs)
    together = score(1 << 20, 512, docs)
    assert batch_sizes == [len(docs)], "one padded batch"
    np.testing.assert_allclose(alone, together, atol=1e-5, rtol=0)
    order = list(range(len(docs)))
    random.Random(7).shuffle(order)
    shuffled = score(900, 64, [docs[i] for i in order])
    assert len(batch_sizes) > 1
    np.testing.assert_allclose([shuffled[order.index(i)] for i in range(len(docs))], together,
                               atol=1e-5, rtol=0)


def _fixed_length(backend, tokenizer):
    """Tokens of a pair with an empty query and document (the template alone)."""
    return len(official_ids(backend, tokenizer, "", ""))


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_document_is_cut_and_the_template_suffix_kept(backend, llm_dirs, corpus):
    passages, queries = corpus
    folder = llm_dirs[backend]
    tokenizer, _ = _load(str(folder))
    max_length = _fixed_length(backend, tokenizer) + 48
    long_doc = " ".join(passages[:40])
    short_doc = "thermometer"
    reranker = Reranker(folder, backend=backend, max_length=max_length)
    assert reranker.max_length == max_length
    pairs = reranker.backend.encode(queries[0], [long_doc, short_doc])
    suffix = official_suffix(backend, tokenizer)
    for pair in pairs:
        assert len(pair) <= max_length
        assert list(pair.input_ids[-len(suffix):]) == suffix
    assert len(pairs[0]) == max_length, "the document should fill what the query leaves"
    assert pairs[0].truncated and not pairs[1].truncated
    if backend == "qwen3-reranker":
        # The official code cuts the body from its end: with a short query, the same ids.
        assert list(pairs[0].input_ids) == official_ids(
            backend, tokenizer, queries[0], long_doc, max_length=max_length
        )
    cutting = Reranker(folder, backend=backend, max_length=max_length,
                       long_documents="truncate")
    results = cutting.rerank(queries[0], [long_doc, short_doc])
    assert {r.index: r.truncated for r in results} == {0: True, 1: False}
    windowed = {r.index: r for r in reranker.rerank(queries[0], [long_doc, short_doc])}
    assert windowed[0].windows > 1 and windowed[1].windows == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_query_is_cut_before_the_document(backend, llm_dirs, corpus):
    passages, _ = corpus
    folder = llm_dirs[backend]
    tokenizer, _ = _load(str(folder))
    long_query = " ".join(passages[40:60])
    reranker = Reranker(folder, backend=backend, max_length=_fixed_length(backend, tokenizer)
                        + 64, query_max_tokens=16)
    doc = "a short passage"
    (pair,) = reranker.backend.encode(long_query, [doc])
    (short,) = reranker.backend.encode("cats", [doc])
    assert pair.truncated and not short.truncated
    assert len(pair) <= reranker.max_length
    suffix = official_suffix(backend, tokenizer)
    assert list(pair.input_ids[-len(suffix):]) == suffix
    # The query took at most its budget of 16 tokens (its template parts are not counted).
    assert len(pair) - len(short) <= 16
    results = reranker.rerank(long_query, [doc])
    assert results[0].truncated
    if backend == "qwen3-reranker":
        # The query keeps the newline and "<Document>:" that follow it.
        doc_tag = tokenizer("\n<Document>:", add_special_tokens=False)["input_ids"]
        text = list(pair.input_ids)
        assert any(text[i:i + len(doc_tag)] == doc_tag for i in range(len(text)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_rerank_scores_are_sigmoid_of_raw_scores(backend, rerankers, corpus):
    passages, queries = corpus
    docs = sample(passages, 8, seed=8, chars=300)
    results = rerankers[backend].rerank(queries[7], docs)
    assert sorted(r.index for r in results) == list(range(len(docs)))
    raw = np.array([r.raw_score for r in results])
    scores = np.array([r.score for r in results])
    assert np.all(np.diff(raw) <= 0), "results sorted best first"
    np.testing.assert_allclose(scores, sigmoid(raw), rtol=0, atol=1e-12)
    assert np.all((scores >= 0) & (scores <= 1))


def test_max_length_too_small_for_the_template_is_an_error(llm_dirs):
    with pytest.raises(InvalidInputError, match="no room"):
        Reranker(llm_dirs["qwen3-reranker"], backend="qwen3-reranker", max_length=20)
