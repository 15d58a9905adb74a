"""Selective reranking: rules that skip the reranker when the first stage is confident.

A rule looks at the first-stage hits of one query and returns a reason to skip (a short
str) or None to rerank. Rules compose with :class:`AnyOf`; :func:`parse_skip_rule` reads
the CLI form (``margin:0.3``, ``agree``, ``margin:0.3,agree``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rerankit._exceptions import InvalidInputError
from rerankit.retrieval._types import Hit

#: A skip rule: first-stage hits -> reason to skip, or None.
SkipRule = Callable[[Sequence[Hit]], "str | None"]


@dataclass(frozen=True)
class MarginRule:
    """Skip when the top hit leads the second by at least ``margin``.

    ``relative=True`` compares ``(s1 - s2) / |s1|`` (scale-free, for BM25 scores);
    ``relative=False`` compares ``s1 - s2`` (for cosines or fused scores).
    """

    margin: float
    relative: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.margin, bool) or not isinstance(self.margin, (int, float)) \
                or not math.isfinite(self.margin) or self.margin < 0:
            raise InvalidInputError(f"margin must be a finite number >= 0, got {self.margin!r}")

    def __call__(self, hits: Sequence[Hit]) -> str | None:
        if len(hits) < 2:
            return None
        first, second = hits[0].score, hits[1].score
        gap = first - second
        if self.relative:
            if first <= 0:
                return None
            gap /= abs(first)
        if gap >= self.margin:
            kind = "relative " if self.relative else ""
            return f"top-1/top-2 {kind}margin {gap:.3g} >= {self.margin:g}"
        return None


@dataclass(frozen=True)
class AgreementRule:
    """Skip when every retriever of a hybrid ranks the same document first.

    Needs hits with ``components`` (a hybrid index); never skips otherwise.
    """

    def __call__(self, hits: Sequence[Hit]) -> str | None:
        if not hits or len(hits[0].components) < 2:
            return None
        if all(c.rank == 1 for c in hits[0].components.values()):
            names = " and ".join(sorted(hits[0].components))
            return f"{names} agree on the top hit"
        return None


@dataclass(frozen=True)
class AnyOf:
    """Skip when any of the rules says so (the first reason is reported)."""

    rules: tuple[SkipRule, ...]

    def __call__(self, hits: Sequence[Hit]) -> str | None:
        for rule in self.rules:
            reason = rule(hits)
            if reason:
                return reason
        return None


def parse_skip_rule(text: str) -> SkipRule:
    """Read ``margin:X`` (relative), ``abs-margin:X``, ``agree``, comma-separated."""
    rules: list[SkipRule] = []
    for part in (p.strip() for p in text.split(",")):
        name, _, value = part.partition(":")
        if name == "agree" and not value:
            rules.append(AgreementRule())
        elif name in ("margin", "abs-margin") and value:
            try:
                margin = float(value)
            except ValueError:
                raise InvalidInputError(f"skip rule {part!r}: {value!r} is not a number") \
                    from None
            rules.append(MarginRule(margin, relative=name == "margin"))
        else:
            raise InvalidInputError(
                f"unknown skip rule {part!r}; use margin:X, abs-margin:X or agree "
                "(comma-separated to combine)"
            )
    return rules[0] if len(rules) == 1 else AnyOf(tuple(rules))
