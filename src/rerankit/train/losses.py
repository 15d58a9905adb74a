"""Training losses over the relevance logits of (query, passage) groups.

A batch holds ``G`` groups laid out as ``[positive, negative_1, ..., negative_n]``: the
logits have shape ``(G, M)``, column 0 is the positive, and ``mask`` marks the columns a
group really has (groups may be short of negatives when the pool is tiny).
"""

from __future__ import annotations

from typing import Any

LOSSES = ("bce", "listwise")


def bce_loss(torch: Any, logits: Any, mask: Any) -> Any:
    """Binary cross-entropy on every real pair: label 1 for column 0, 0 for the rest.

    ``mean_ij  -[y_ij log s(x_ij) + (1 - y_ij) log(1 - s(x_ij))]`` with ``s`` the sigmoid.
    """
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    losses = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, labels, reduction="none"
    )
    return (losses * mask).sum() / mask.sum()


def listwise_loss(torch: Any, logits: Any, mask: Any) -> Any:
    """Softmax cross-entropy of each group's positive against its negatives.

    ``mean_i -log( exp(x_i0) / sum_j exp(x_ij) )``: the "localized contrastive" loss of
    Gao, Dai and Callan (2021), which trains rerankers better than pointwise BCE.
    """
    masked = logits.masked_fill(~mask.bool(), float("-inf"))
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return torch.nn.functional.cross_entropy(masked, target)


def compute_loss(name: str, torch: Any, logits: Any, mask: Any) -> Any:
    """The loss called ``name`` (one of :data:`LOSSES`)."""
    if name == "bce":
        return bce_loss(torch, logits, mask)
    if name == "listwise":
        return listwise_loss(torch, logits, mask)
    raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
