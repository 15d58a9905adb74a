"""Encoding (query, text) pairs for cross-encoders, shared by the torch and ONNX backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rerankit._exceptions import InvalidInputError
from rerankit._types import EncodedPair
from rerankit.rerankers._tokens import TextTokenizer


class PairEncoding:
    """[special] query [special] text [special]: the query cut to its budget first, then
    the text. The latest query's encoding is kept, so a request tokenises its query once
    however many texts (and windows) it has."""

    tokenizer: TextTokenizer
    max_length: int
    query_max_tokens: int

    def _setup_pairs(self, tokenizer: TextTokenizer, max_length: int,
                     query_max_tokens: int | None, with_types: bool) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self._special = tokenizer.special_tokens_in_pair()
        if max_length <= self._special + 2:
            raise InvalidInputError(f"max_length={max_length} leaves no room for text")
        budget = query_max_tokens or max(8, max_length // 4)
        self.query_max_tokens = min(budget, max_length - self._special - 1)
        self._with_types = with_types
        self._last_query: tuple[str, Any, bool] | None = None

    def _query(self, query: str) -> tuple[Any, bool]:
        """The query's encoding cut to its budget (memoised for the latest query)."""
        last = self._last_query
        if last is not None and last[0] == query:
            return last[1], last[2]
        encoding, cut = self.tokenizer.encode(query, self.query_max_tokens)
        self._last_query = (query, encoding, cut)
        return encoding, cut

    def encode(self, query: str, texts: Sequence[str]) -> list[EncodedPair]:
        """One model input per text, in order."""
        query_enc, query_cut = self._query(query)
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
        query_enc, _ = self._query(query)
        return self.max_length - len(query_enc.ids) - self._special
