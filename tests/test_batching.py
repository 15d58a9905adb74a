"""Token-budget batch planning."""

from __future__ import annotations

import random

import pytest

from rerankit._batching import plan_batches


@pytest.mark.parametrize("seed", range(20))
def test_plan_covers_every_item_once_within_budget(seed):
    rng = random.Random(seed)
    lengths = [rng.randint(0, 600) for _ in range(rng.randint(0, 300))]
    budget, cap = rng.choice([1, 64, 512, 4096]), rng.choice([1, 8, 64])
    batches = plan_batches(lengths, token_budget=budget, max_batch_size=cap)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= cap
        width = max(max(1, lengths[i]) for i in batch)
        assert len(batch) == 1 or len(batch) * width <= budget


def test_longest_first_and_sorted():
    lengths = [5, 50, 10, 50, 1]
    batches = plan_batches(lengths, token_budget=100, max_batch_size=10)
    assert batches[0] == [1, 3]
    order = [i for b in batches for i in b]
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)


def test_bad_budget():
    with pytest.raises(ValueError):
        plan_batches([1], token_budget=0, max_batch_size=1)
