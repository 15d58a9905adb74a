"""Bi-encoder reranking: cosine of mean/CLS-pooled embeddings (sentence-transformers folders).

The query and each document are embedded separately, so this is the cheapest neural
reranker; it reads the pooling mode from the folder's ``1_Pooling/config.json`` and the
length limit from ``sentence_bert_config.json``, as sentence-transformers does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rerankit._types import EncodedPair
from rerankit.rerankers._tokens import TextTokenizer
from rerankit.rerankers._torch import LoadedModel, choose_max_length, load_model, pad_batch


def _read_json(folder: Path, name: str) -> dict[str, Any]:
    path = folder / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


#: Document embeddings kept per backend (384 floats each for e5-small: about 30 MB).
DOCUMENT_CACHE_SIZE = 20_000


class BiEncoderBackend:
    """raw score = cosine(query, document) in [-1, 1]; probability = (cosine + 1) / 2."""

    name = "bi-encoder"
    scores_by_content = True

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        max_length: int | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        default_max_length: int | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
        threads: int | None = None,
        **unused: Any,
    ) -> None:
        loaded = load_model(
            "AutoModel", model, feature="The bi-encoder backend", device=device, dtype=dtype,
            trust_remote_code=trust_remote_code, revision=revision, threads=threads,
        )
        self._setup(loaded, model, max_length, default_max_length, query_prefix,
                    document_prefix)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, model: str) -> BiEncoderBackend:
        """A backend around an already loaded model (the ONNX exporter's)."""
        backend = cls.__new__(cls)
        backend._setup(loaded, model, None, None, "", "")
        return backend

    def _setup(self, loaded: LoadedModel, model: str, max_length: int | None,
               default_max_length: int | None, query_prefix: str, document_prefix: str
               ) -> None:
        self.model_name = model
        # e5-style "query: " / "passage: " prefixes from the known-model table
        self.query_prefix, self.document_prefix = query_prefix, document_prefix
        self.model, self.device, self.dtype = loaded.model, loaded.device, loaded.dtype
        folder = Path(model)
        pooling = _read_json(folder, "1_Pooling/config.json")
        self.pooling = "cls" if pooling.get("pooling_mode_cls_token") else (
            "max" if pooling.get("pooling_mode_max_tokens") else "mean"
        )
        st_length = _read_json(folder, "sentence_bert_config.json").get("max_seq_length")
        self.max_length = choose_max_length(
            max_length, st_length or default_max_length, loaded.limit, model
        )
        self.tokenizer = TextTokenizer(loaded.tokenizer, model)
        self._pad_id = loaded.pad_id
        self._with_types = "token_type_ids" in getattr(loaded.tokenizer, "model_input_names", [])
        self._torch = loaded.torch
        self._vectors: dict[tuple[int, ...], Any] = {}

    def document_budget(self, query: str) -> int:
        """Document tokens one embedding reads (after the document prefix)."""
        prefix = len(self.tokenizer.ids(self.document_prefix)) if self.document_prefix else 0
        return self.max_length - self.tokenizer.special_tokens_in_single() - prefix

    def _encode_texts(self, texts: Sequence[str]) -> list[EncodedPair]:
        budget = self.max_length - self.tokenizer.special_tokens_in_single()
        out = []
        for enc, cut in self.tokenizer.encode_many(texts, budget):
            ids = self.tokenizer.join_single(enc)
            out.append(EncodedPair(ids, (0,) * len(ids), truncated=cut))
        return out

    def _embed(self, batch: Sequence[EncodedPair]) -> Any:
        inputs = pad_batch(
            batch, pad_id=self._pad_id, left=False, device=self.device,
            with_types=self._with_types,
        )
        with self._torch.inference_mode():
            tokens = self.model(**inputs).last_hidden_state.float()
        mask = inputs["attention_mask"].unsqueeze(-1).float()
        if self.pooling == "cls":
            pooled = tokens[:, 0]
        elif self.pooling == "max":
            pooled = tokens.masked_fill(mask == 0, float("-inf")).max(dim=1).values
        else:
            pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return self._torch.nn.functional.normalize(pooled, p=2, dim=1)

    def encode(self, query: str, texts: Sequence[str]) -> list[EncodedPair]:
        (query_pair,) = self._encode_texts([self.query_prefix + query])
        query_vector = self._embed([query_pair])[0]
        if self.document_prefix:
            texts = [self.document_prefix + text for text in texts]
        return [
            EncodedPair(p.input_ids, p.token_type_ids, p.truncated or query_pair.truncated,
                        context=query_vector)
            for p in self._encode_texts(texts)
        ]

    def forward(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        docs = self._document_vectors(batch)
        queries = self._torch.stack([p.context for p in batch]).to(docs.device)
        return (docs * queries).sum(dim=1).double().cpu().numpy()

    def _document_vectors(self, batch: Sequence[EncodedPair]) -> Any:
        """Document embeddings; a document seen before (same tokens) is not embedded
        again, so reranking many queries over one corpus embeds each text once."""
        cache = self._vectors
        vectors = {p.input_ids: cache[p.input_ids] for p in batch if p.input_ids in cache}
        missing = list({p.input_ids: p for p in batch if p.input_ids not in vectors}.values())
        if missing:
            for pair, vector in zip(missing, self._embed(missing), strict=True):
                vectors[pair.input_ids] = vector
                if len(cache) >= DOCUMENT_CACHE_SIZE:
                    cache.pop(next(iter(cache)))  # the oldest first
                cache[pair.input_ids] = vector
        return self._torch.stack([vectors[p.input_ids] for p in batch])

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(raw, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)
