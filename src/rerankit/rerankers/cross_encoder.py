"""Cross-encoders: ``AutoModelForSequenceClassification`` reading [query, document] pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rerankit._exceptions import InvalidInputError, UnsupportedModelError
from rerankit._types import EncodedPair
from rerankit.rerankers._tokens import TextTokenizer
from rerankit.rerankers._torch import (
    check_remote_code,
    import_torch,
    load_pretrained,
    pad_batch,
    resolve_device,
    resolve_dtype,
)
from rerankit.rerankers.base import sigmoid

# Models whose position ids start after the padding index (RoBERTa family).
_POSITION_OFFSET_TYPES = {"roberta", "xlm-roberta", "camembert", "xlm-roberta-xl"}


def usable_length(config: Any, tokenizer: Any) -> int:
    """Longest input the model can read, from its config and tokenizer."""
    limits = []
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        offset = 0
        if getattr(config, "model_type", "") in _POSITION_OFFSET_TYPES:
            offset = (getattr(config, "pad_token_id", 1) or 0) + 1
        limits.append(positions - offset)
    declared = getattr(tokenizer, "model_max_length", None)
    if isinstance(declared, int) and 0 < declared < 1_000_000:
        limits.append(declared)
    return min(limits) if limits else 512


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
        torch = import_torch("The cross-encoder backend")
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        self.model_name = model
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        common = {"trust_remote_code": trust_remote_code, "revision": revision}
        config = load_pretrained(AutoConfig, model, "config", **common)
        check_remote_code(config, "AutoModelForSequenceClassification", trust_remote_code, model)
        hf_tokenizer = load_pretrained(AutoTokenizer, model, "tokenizer", **common)
        self.model = load_pretrained(
            AutoModelForSequenceClassification, model, "model", config=config, dtype=self.dtype,
            **common,
        )
        self.model.to(self.device).eval()
        self.num_labels = int(self.model.config.num_labels)
        if self.num_labels not in (1, 2):
            raise UnsupportedModelError(
                f"{model!r} has a {self.num_labels}-way classification head; a reranker "
                "needs one output (relevance logit) or two (not relevant, relevant)"
            )
        self.tokenizer = TextTokenizer(hf_tokenizer, model)
        limit = usable_length(self.model.config, hf_tokenizer)
        wanted = max_length or default_max_length or limit
        if max_length is not None and max_length > limit:
            raise InvalidInputError(
                f"max_length={max_length} exceeds what {model!r} reads ({limit} tokens)"
            )
        self.max_length = min(wanted, limit)
        self.query_max_tokens = query_max_tokens or max(8, self.max_length // 4)
        self._special = self.tokenizer.special_tokens_in_pair()
        if self.max_length <= self._special + 2:
            raise InvalidInputError(f"max_length={self.max_length} leaves no room for text")
        self.query_max_tokens = min(self.query_max_tokens, self.max_length - self._special - 1)
        self._pad_id = hf_tokenizer.pad_token_id if hf_tokenizer.pad_token_id is not None else 0
        self._left_pad = getattr(hf_tokenizer, "padding_side", "right") == "left"
        self._with_types = "token_type_ids" in getattr(hf_tokenizer, "model_input_names", [])
        self._torch = torch

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

    def forward(self, batch: Sequence[EncodedPair]) -> np.ndarray:
        inputs = pad_batch(
            batch, pad_id=self._pad_id, left=self._left_pad, device=self.device,
            with_types=self._with_types,
        )
        with self._torch.inference_mode():
            logits = self.model(**inputs).logits.float()
        raw = logits[:, 0] if self.num_labels == 1 else logits[:, 1] - logits[:, 0]
        return raw.double().cpu().numpy()

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return sigmoid(raw)
