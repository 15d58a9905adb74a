"""Keyword boosting: an additive, documented nudge for exact domain or required terms.

General rerankers often miss proprietary names (a product code, a law's short title, a
bank's own term). ``KeywordBoost`` adds a fixed amount to a document's ranking score for
each such term it contains, and demotes documents that lack a required term:

    ranking score = calibrated score + sum(weight of each boost term found)
                    - missing_penalty (if any required term is absent)

The result's ``score`` stays the calibrated probability (what ``min_score`` filters on);
``boost`` holds the amount added, and results are ordered by ``score + boost``.

Matching is exact after NFKC normalisation and case folding. A term that starts or ends
with a Latin letter or digit must sit on a word boundary there ("AI" does not match
"said"); Hangul and other scripts match inside words, so a Korean noun still matches
when a particle follows it ("신한은행의").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rerankit._exceptions import InvalidInputError


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _pattern(term: str) -> re.Pattern[str]:
    text = _normal(term.strip())
    left = r"(?<![0-9a-z])" if re.match(r"[0-9a-z]", text) else ""
    right = r"(?![0-9a-z])" if re.search(r"[0-9a-z]$", text) else ""
    return re.compile(left + re.escape(text) + right)


@dataclass(frozen=True)
class KeywordBoost:
    """Boost terms (``{term: weight}`` or a list, each worth ``weight``) and required terms.

    Args:
        terms: terms that raise a document's ranking score when present (once each).
        weight: the boost of each term given as a list.
        required: terms every document should contain; one lacking any is demoted by
            ``missing_penalty`` (1.0 puts it below every document that has them all).
        missing_penalty: the demotion for a missing required term.
    """

    terms: Mapping[str, float] | Sequence[str] = ()
    weight: float = 0.1
    required: Sequence[str] = ()
    missing_penalty: float = 1.0
    _boosts: tuple[tuple[re.Pattern[str], float], ...] = field(init=False, repr=False)
    _required: tuple[re.Pattern[str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("weight", "missing_penalty"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    np.isfinite(value)):
                raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
        if isinstance(self.terms, str) or isinstance(self.required, str):
            raise InvalidInputError("terms and required must be lists (or a mapping) of str")
        items = (list(self.terms.items()) if isinstance(self.terms, Mapping)
                 else [(t, self.weight) for t in self.terms])
        for term, value in items:
            if not isinstance(term, str) or not term.strip():
                raise InvalidInputError(f"boost terms must be non-empty str, got {term!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    np.isfinite(value)):
                raise InvalidInputError(f"the weight of {term!r} must be a finite number")
        for term in self.required:
            if not isinstance(term, str) or not term.strip():
                raise InvalidInputError(f"required terms must be non-empty str, got {term!r}")
        object.__setattr__(self, "_boosts",
                           tuple((_pattern(t), float(v)) for t, v in items))
        object.__setattr__(self, "_required", tuple(_pattern(t) for t in self.required))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """The additive boost of each text."""
        out = np.zeros(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            normal = _normal(text)
            out[i] = sum(value for pattern, value in self._boosts if pattern.search(normal))
            if any(not pattern.search(normal) for pattern in self._required):
                out[i] -= self.missing_penalty
        return out
