"""The main job, end to end: ``rerankit bench`` on Korean RAG pages, offline.

Runs examples/bench-ko.toml on ../shared/datasets/ko-allganize-pages when it is there,
otherwise on the small Korean sample shipped in tests/data/rag_pages, and prints where
the report (HTML, Markdown, JSON, TREC runs) was written. The Korean cross-encoder
trained by benchmarks/train_korean_reranker.py joins the rerankers when it is in the
cache; otherwise the report says how to train it. Extra arguments go to
``rerankit bench`` (e.g. ``--quick``, ``--reranker PATH``, ``--no-cache``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from rerankit.cli import main

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets" / "ko-allganize-pages"
SAMPLE = REPO / "tests" / "data" / "rag_pages"
sys.path.insert(0, str(REPO / "benchmarks"))
from train_korean_reranker import is_complete, korean_model_dir  # noqa: E402

NOT_TRAINED = ("The Korean cross-encoder trained here is not in the cache, so it did not run: "
               "train it with `python benchmarks/train_korean_reranker.py` (about 80 minutes "
               "on 2 cores), then run the demo again.")


def korean_reranker_args() -> list[str]:
    """Both offline Korean rerankers when the trained one is cached, else a report note."""
    folder = korean_model_dir()
    if is_complete(folder):
        return ["--reranker", "multilingual-e5-small", "--reranker", str(folder)]
    return ["--note", NOT_TRAINED]


if __name__ == "__main__":
    data = SHARED if SHARED.is_dir() else SAMPLE
    args = ["bench", "--config", str(REPO / "examples" / "bench-ko.toml"), "--data", str(data)]
    if data == SAMPLE:
        args += ["--slice", "domain"]  # the sample's questions carry a domain column
    sys.exit(main(args + korean_reranker_args() + sys.argv[1:]))
