"""Errors raised by rerankit.

Every error derives from one root, so ``except RerankitError`` catches them all, and each
also derives from the matching built-in so generic handlers keep working::

    RerankitError
    ├── InvalidInputError (ValueError)      bad query, documents or arguments
    ├── MissingDependencyError (ImportError) an optional extra is not installed
    ├── ModelNotFoundError (LookupError)     no such hub id, folder or alias; offline hub
    ├── UnsupportedModelError (ValueError)   the model exists but no backend can run it
    ├── ModelLoadError (RuntimeError)        the files exist but loading them failed
    ├── ScoringError (RuntimeError)          the model produced NaN or infinite scores
    └── IndexMismatchError (ValueError)      a saved index does not match the settings asked for
"""

from __future__ import annotations


class RerankitError(Exception):
    """Root of every error rerankit raises."""


class InvalidInputError(RerankitError, ValueError):
    """A query, document list or argument is not acceptable."""


class MissingDependencyError(RerankitError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class ModelNotFoundError(RerankitError, LookupError):
    """The model could not be found locally and could not be downloaded."""


class UnsupportedModelError(RerankitError, ValueError):
    """The model was found but no rerankit backend knows how to score with it."""


class ModelLoadError(RerankitError, RuntimeError):
    """The model files were found but could not be loaded."""


class ScoringError(RerankitError, RuntimeError):
    """The model produced scores that cannot be used (NaN or infinite)."""


class IndexMismatchError(RerankitError, ValueError):
    """A saved index was built with other settings (tokenizer, model) than the ones asked for,
    or the folder is not a rerankit index of the expected kind."""
