"""Token-budget batching: sort pairs by length, fill each batch up to a token budget.

A batch costs ``len(batch) * longest_sequence`` tokens once padded, so bounding that
product (not the number of pairs) bounds memory whatever the lengths are, and sorting by
length keeps padding, i.e. wasted compute, small.
"""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(
    lengths: Sequence[int], *, token_budget: int, max_batch_size: int
) -> list[list[int]]:
    """Group item positions into batches, longest first.

    Each batch satisfies ``len(batch) * max(length) <= token_budget`` (a single item
    longer than the budget gets a batch of its own) and ``len(batch) <= max_batch_size``.
    Ties in length keep input order, so the plan is deterministic.
    """
    if token_budget < 1 or max_batch_size < 1:
        raise ValueError("token_budget and max_batch_size must be >= 1")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for position in order:
        length = max(1, lengths[position])
        width = max(longest, length)
        full = len(current) >= max_batch_size or (len(current) + 1) * width > token_budget
        if current and full:
            batches.append(current)
            current, width = [], length
        current.append(position)
        longest = width
    if current:
        batches.append(current)
    return batches
