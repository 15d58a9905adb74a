"""Cross-encoders: ``AutoModelForSequenceClassification`` reading [query, document] pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rerankit._exceptions import UnsupportedModelError
from rerankit._types import EncodedPair
from rerankit.rerankers._pairs import PairEncoding
from rerankit.rerankers._tokens import TextTokenizer
from rerankit.rerankers._torch import LoadedModel, choose_max_length, load_model, pad_batch
from rerankit.rerankers.base import sigmoid


class CrossEncoderBackend(PairEncoding):
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
        threads: int | None = None,
        **unused: Any,
    ) -> None:
        loaded = load_model(
            "AutoModelForSequenceClassification", model, feature="The cross-encoder backend",
            device=device, dtype=dtype, trust_remote_code=trust_remote_code, revision=revision,
            threads=threads,
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
        self._setup_pairs(
            TextTokenizer(hf_tokenizer, model), max_length, query_max_tokens,
            with_types="token_type_ids" in getattr(hf_tokenizer, "model_input_names", []),
        )
        self._pad_id = loaded.pad_id
        self._left_pad = getattr(hf_tokenizer, "padding_side", "right") == "left"
        self._torch = loaded.torch

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
