"""Cross-encoders: ``AutoModelForSequenceClassification`` reading [query, document] pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rerankit._exceptions import InvalidInputError, UnsupportedModelError
from rerankit._types import EncodedPair
from rerankit.rerankers._tokens import TextTokenizer
from rerankit.rerankers._torch import LoadedModel, choose_max_length, load_model, pad_batch
from rerankit.rerankers.base import sigmoid


class CrossEncoderBackend:
    """Scores pairs with a sequence-classification head.

    One output: raw score = the logit, probability = sigmoid. Two outputs: raw score =
    logit[1] - logit[0], so sigmoid(raw) equals softmax's positive class.
    """

    name = "cross-encoder"
    scores_by_content = True

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: str | None = None,
        max_length: int | None = None,
        query_max_tokens: int | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        default_max_length: int | None = None,
        **unused: Any,
    ) -> None:
        loaded = load_model(
            "AutoModelForSequenceClassification", model, feature="The cross-encoder backend",
            device=device, dtype=dtype, trust_remote_code=trust_remote_code, revision=revision,
        )
        max_length = choose_max_length(max_length, default_max_length, loaded.limit, model)
        self._setup(loaded, model, max_length, query_max_tokens)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, model: str, *, max_length: int,
                    query_max_tokens: int | None = None) -> CrossEncoderBackend:
        """A backend around an already loaded model (the trainer's, mid-training)."""
        backend = cls.__new__(cls)
        backend._setup(loaded, model, max_length, query_max_tokens)
        return backend

    def _setup(self, loaded: LoadedModel, model: str, max_length: int,
               query_max_tokens: int | None) -> None:
        self.model_name = model
        self.model, self.device, self.dtype = loaded.model, loaded.device, loaded.dtype
        hf_tokenizer = loaded.tokenizer
        self.num_labels = int(self.model.config.num_labels)
        if self.num_labels not in (1, 2):
            raise UnsupportedModelError(
                f"{model!r} has a {self.num_labels}-way classification head; a reranker "
                "needs one output (relevance logit) or two (not relevant, relevant)"
            )
        self.tokenizer = TextTokenizer(hf_tokenizer, model)
        self.max_length = max_length
        self.query_max_tokens = query_max_tokens or max(8, self.max_length // 4)
        self._special = self.tokenizer.special_tokens_in_pair()
        if self.max_length <= self._special + 2:
            raise InvalidInputError(f"max_length={self.max_length} leaves no room for text")
        self.query_max_tokens = min(self.query_max_tokens, self.max_length - self._special - 1)
        self._pad_id = loaded.pad_id
        self._left_pad = getattr(hf_tokenizer, "padding_side", "right") == "left"
        self._with_types = "token_type_ids" in getattr(hf_tokenizer, "model_input_names", [])
        self._torch = loaded.torch

    def encode(self, query: str, texts: Sequence[str]) -> list[EncodedPair]:
        """[special] query [special] text [special], query cut first, then the text."""
        query_enc, query_cut = self.tokenizer.encode(query, self.query_max_tokens)
        budget = self.max_length - len(query_enc.ids) - self._special
        pairs = []
        for enc, cut in self.tokenizer.encode_many(texts, budget):
            ids, types = self.tokenizer.join_pair(query_enc, enc)
            pairs.append(
                EncodedPair(ids, types if self._with_types else None, truncated=cut or query_cut)
            )
        return pairs

    def document_budget(self, query: str) -> int:
        """Document tokens that fit beside ``query`` (after it is cut to its budget)."""
        query_enc, _ = self.tokenizer.encode(query, self.query_max_tokens)
        return self.max_length - len(query_enc.ids) - self._special

    def inputs(self, batch: Sequence[EncodedPair]) -> dict[str, Any]:
        """Padded model keyword tensors for a batch of encoded pairs."""
        return pad_batch(
            batch, pad_id=self._pad_id, left=self._left_pad, device=self.device,
            with_types=self._with_types,
        )

    def logits(self, batch: Sequence[EncodedPair]) -> Any:
        """Raw relevance logits of a batch as a float32 tensor (with autograd if enabled)."""
        logits = self.model(**self.inputs(batch)).logits.float()
        return logits[:, 0] if self.num_labels == 1 else logits[:, 1] - logits[:, 0]

    def forward(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        with self._torch.inference_mode():
            raw = self.logits(batch)
        return raw.double().cpu().numpy()

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return sigmoid(raw)
