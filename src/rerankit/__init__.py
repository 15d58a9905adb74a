"""rerankit: the reranking stage of retrieval-augmented generation.

>>> from rerankit import Reranker
>>> reranker = Reranker("cross-encoder/ms-marco-MiniLM-L-6-v2")      # doctest: +SKIP
>>> reranker.rerank("what is bm25?", ["BM25 is a ranking function.", "Paris"])  # doctest: +SKIP
"""

from rerankit._exceptions import (
    IndexMismatchError,
    InvalidInputError,
    MissingDependencyError,
    ModelLoadError,
    ModelNotFoundError,
    RerankitError,
    ScoringError,
    UnsupportedModelError,
)
from rerankit._types import Document, RankedResult
from rerankit.boost import KeywordBoost
from rerankit.calibration import Calibration
from rerankit.models import KNOWN_MODELS, LOCAL_BACKENDS, KnownModel, find_known_model
from rerankit.pipeline import Pipeline, PipelineHit, PipelineResult
from rerankit.reranker import Reranker

__version__ = "0.1.0"

__all__ = [
    "KNOWN_MODELS",
    "LOCAL_BACKENDS",
    "Calibration",
    "Document",
    "IndexMismatchError",
    "InvalidInputError",
    "KeywordBoost",
    "KnownModel",
    "MissingDependencyError",
    "ModelLoadError",
    "ModelNotFoundError",
    "Pipeline",
    "PipelineHit",
    "PipelineResult",
    "RankedResult",
    "Reranker",
    "RerankitError",
    "ScoringError",
    "UnsupportedModelError",
    "__version__",
    "find_known_model",
]
