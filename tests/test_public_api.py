"""The public surface: an explicit __all__, and an import that stays light."""

from __future__ import annotations

import subprocess
import sys

import rerankit


def test_all_lists_exactly_the_public_names():
    public = {n for n in vars(rerankit) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(rerankit, n)).__name__ == "module"}
    assert set(rerankit.__all__) - {"__version__"} == public - modules
    for name in rerankit.__all__:
        assert hasattr(rerankit, name)


def test_import_does_not_load_torch_or_transformers():
    code = ("import sys, rerankit; from rerankit import Reranker, Pipeline; "
            "import rerankit.retrieval, rerankit.metrics, rerankit.datasets; "
            "print([m for m in ('torch', 'transformers', 'sentence_transformers', 'bm25s', "
            "'kiwipiepy', 'usearch', 'scipy') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_no_rerank_needs_no_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from rerankit import Reranker\n"
            "r = Reranker('none')\n"
            "print([x.index for x in r.rerank('q', ['a', 'b', 'c'], top_n=2)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[0, 1]"
