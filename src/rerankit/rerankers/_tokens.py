"""Token-level encoding with a Hugging Face fast tokenizer, truncation made explicit.

Texts are tokenised without special tokens, cut to a token budget (reporting whether
anything was cut), and only then assembled into model inputs, so a backend controls
exactly what is truncated: the query to its budget first, then the document, and never
a prompt template.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rerankit._exceptions import UnsupportedModelError

# A token rarely spans more than 16 characters: a text this much longer than its token
# budget is tokenised from a prefix first, so a 1 MB document costs no more than a page.
_CHARS_PER_TOKEN_CAP = 16


class TextTokenizer:
    """Wraps the Rust tokenizer of a transformers fast tokenizer, padding and truncation off."""

    def __init__(self, hf_tokenizer: Any, model: str) -> None:
        backend = getattr(hf_tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise UnsupportedModelError(
                f"{model!r} has no fast (Rust) tokenizer (tokenizer.json); rerankit needs one"
            )
        self._setup(backend.to_str())
        self.hf_tokenizer = hf_tokenizer

    @classmethod
    def from_file(cls, path: str | Path) -> TextTokenizer:
        """From a ``tokenizer.json`` alone (no transformers: exported ONNX folders)."""
        tokenizer = cls.__new__(cls)
        tokenizer._setup(Path(path).read_text(encoding="utf-8"))
        tokenizer.hf_tokenizer = None
        return tokenizer

    def _setup(self, serialized: str) -> None:
        from rerankit._optional import require

        tokenizers = require("tokenizers", feature="Tokenizing text for a local model")
        self._tokenizer = tokenizers.Tokenizer.from_str(serialized)
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        # text -> full encoding, from the latest token_offsets call (reused by encode_many)
        self._recent: dict[str, Any] = {}

    def encode(self, text: str, limit: int) -> tuple[Any, bool]:
        """One text -> (Encoding cut to ``limit`` tokens, whether it was cut)."""
        return self.encode_many([text], limit)[0]

    def encode_many(self, texts: Sequence[str], limit: int) -> list[tuple[Any, bool]]:
        """Texts -> (Encoding cut to ``limit`` tokens, whether it was cut), in order."""
        limit = max(0, limit)
        recent = self._recent
        known = [recent.get(t) for t in texts] if recent else [None] * len(texts)
        known = [k if k is not None and len(k.ids) <= limit else None for k in known]
        cap = limit * _CHARS_PER_TOKEN_CAP + 1024
        heads = [t if len(t) <= cap else t[:cap] for t in texts]
        todo = [i for i, k in enumerate(known) if k is None]
        fresh = iter(self._tokenizer.encode_batch([heads[i] for i in todo],
                                                  add_special_tokens=False) if todo else [])
        out = []
        for text, head, enc in zip(texts, heads, known, strict=True):
            if enc is not None:  # a whole-text encoding that fits: nothing to cut
                out.append((enc, False))
                continue
            enc = next(fresh)
            if len(enc.ids) <= limit and len(head) < len(text):
                # The prefix held too few tokens (e.g. mostly whitespace): use the whole text.
                enc = self._tokenizer.encode(text, add_special_tokens=False)
            cut = len(enc.ids) > limit
            if cut:
                enc.truncate(limit)
            out.append((enc, cut))
        return out

    def token_offsets(self, texts: Sequence[str], limit: int | None
                      ) -> list[tuple[list[tuple[int, int]], bool]]:
        """Per text: character spans of its first ``limit`` tokens (all when None), and
        whether the text has more tokens than that.

        The whole-text encodings are kept until the next call, so a text that fits its
        model input whole is not tokenised a second time by :meth:`encode_many`.
        """
        self._recent = {}
        if limit is None:
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
            found = [(enc, False) for enc in encodings]
        else:
            found = self.encode_many(texts, limit)
        self._recent = {text: enc for text, (enc, cut) in zip(texts, found, strict=True)
                        if not cut}
        return [(list(enc.offsets), cut) for enc, cut in found]

    def ids(self, text: str) -> list[int]:
        """Token ids of a fixed string (a prompt fragment), no special tokens, never cut."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def join_pair(self, first: Any, second: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Apply the tokenizer's pair template ([CLS] a [SEP] b [SEP], <s> a </s></s> b </s>)."""
        processor = self._tokenizer.post_processor
        if processor is None:
            ids = tuple(first.ids) + tuple(second.ids)
            return ids, (0,) * len(first.ids) + (1,) * len(second.ids)
        pair = processor.process(first, second, add_special_tokens=True)
        return tuple(pair.ids), tuple(pair.type_ids)

    def join_single(self, only: Any) -> tuple[int, ...]:
        """Apply the tokenizer's single-text template ([CLS] a [SEP])."""
        processor = self._tokenizer.post_processor
        if processor is None:
            return tuple(only.ids)
        return tuple(processor.process(only, add_special_tokens=True).ids)

    def special_tokens_in_single(self) -> int:
        """How many special tokens the single-text template adds."""
        processor = self._tokenizer.post_processor
        return 0 if processor is None else processor.num_special_tokens_to_add(False)

    def special_tokens_in_pair(self) -> int:
        """How many special tokens the pair template adds."""
        processor = self._tokenizer.post_processor
        return 0 if processor is None else processor.num_special_tokens_to_add(True)
