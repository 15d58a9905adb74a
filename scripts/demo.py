"""The main job, end to end: ``rerankit bench`` on Korean RAG pages, offline.

Runs examples/bench-ko.toml on ../shared/datasets/ko-allganize-pages when it is there,
otherwise on the small Korean sample shipped in tests/data/rag_pages, and prints where
the report (HTML, Markdown, JSON, TREC runs) was written. Extra arguments go to
``rerankit bench`` (e.g. ``--quick``, ``--reranker PATH``, ``--no-cache``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from rerankit.cli import main

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets" / "ko-allganize-pages"
SAMPLE = REPO / "tests" / "data" / "rag_pages"


if __name__ == "__main__":
    data = SHARED if SHARED.is_dir() else SAMPLE
    args = ["bench", "--config", str(REPO / "examples" / "bench-ko.toml"), "--data", str(data)]
    if data == SAMPLE:
        args += ["--slice", "domain"]  # the sample's questions carry a domain column
    sys.exit(main(args + sys.argv[1:]))
