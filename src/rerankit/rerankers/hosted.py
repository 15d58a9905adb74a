"""Hosted rerankers over HTTP: Cohere, Jina, Voyage, Mixedbread, any TEI or rerankit server.

``Reranker("cohere:rerank-v3.5")``, ``"jina:jina-reranker-v2-base-multilingual"``,
``"voyage:rerank-2"``, ``"mixedbread:mixedbread-ai/mxbai-rerank-large-v1"``,
``"tei:http://host:8080"``, ``"rerankit:http://host:8080"`` (``?model=NAME`` picks one of
several served models). Keys come from environment variables (``COHERE_API_KEY``...);
``base_url=`` (or ``<PROVIDER>_BASE_URL``) points a provider at another host.

Requests time out, are retried with exponential backoff on 429 / 5xx / connection errors
(honouring Retry-After), and lists longer than a provider accepts are split, so a caller
never has to know the provider's limits. ``raw_score`` is the provider's relevance score.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import numpy as np

from rerankit._exceptions import InvalidInputError, ModelLoadError, ScoringError
from rerankit._optional import require


@dataclass(frozen=True)
class Provider:
    """How one hosted API is called."""

    url: str  # default endpoint (hosted) or the path appended to a given base URL
    key_env: str | None
    max_documents: int
    body: Callable[[str, str, list[str]], dict[str, Any]]
    parse: Callable[[Any], list[tuple[int, float]]]
    key_required: bool = True


def _results(key: str, score: str) -> Callable[[Any], list[tuple[int, float]]]:
    def parse(payload: Any) -> list[tuple[int, float]]:
        return [(int(item["index"]), float(item[score])) for item in payload[key]]
    return parse


def _tei(payload: Any) -> list[tuple[int, float]]:
    return [(int(item["index"]), float(item["score"])) for item in payload]


PROVIDERS: dict[str, Provider] = {
    "cohere": Provider(
        "https://api.cohere.com/v2/rerank", "COHERE_API_KEY", 1000,
        lambda model, query, docs: {"model": model, "query": query, "documents": docs},
        _results("results", "relevance_score")),
    "jina": Provider(
        "https://api.jina.ai/v1/rerank", "JINA_API_KEY", 1000,
        lambda model, query, docs: {"model": model, "query": query, "documents": docs,
                                    "return_documents": False},
        _results("results", "relevance_score")),
    "voyage": Provider(
        "https://api.voyageai.com/v1/rerank", "VOYAGE_API_KEY", 1000,
        lambda model, query, docs: {"model": model, "query": query, "documents": docs,
                                    "truncation": True},
        _results("data", "relevance_score")),
    "mixedbread": Provider(
        "https://api.mixedbread.com/v1/reranking", "MXBAI_API_KEY", 1000,
        lambda model, query, docs: {"model": model, "query": query, "input": docs,
                                    "return_input": False},
        _results("data", "score")),
    "tei": Provider(
        "/rerank", "TEI_API_KEY", 32,  # TEI's default --max-client-batch-size
        lambda model, query, docs: {"query": query, "texts": docs, "truncate": True},
        _tei, key_required=False),
    "rerankit": Provider(
        "/v2/rerank", "RERANKIT_API_KEY", 1000,
        lambda model, query, docs: {**({"model": model} if model else {}), "query": query,
                                    "documents": docs},
        _results("results", "relevance_score"), key_required=False),
}

#: Providers whose model part is a server URL.
SELF_HOSTED = ("tei", "rerankit")


def is_hosted(name: str) -> bool:
    """True for ``provider:...`` model names."""
    return isinstance(name, str) and name.split(":", 1)[0] in PROVIDERS and ":" in name


class HostedBackend:
    """Scores (query, documents) by calling a hosted rerank API."""

    name = "hosted"
    remote = True
    scores_by_content = True
    max_length = 0
    device = "remote"

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 60.0, max_retries: int = 4, max_documents: int | None = None,
                 transport: Any = None, **unused: Any) -> None:
        httpx = require("httpx", feature="Hosted rerankers")
        provider_name, _, target = model.partition(":")
        self.provider = PROVIDERS[provider_name]
        self.model_name = model
        if provider_name in SELF_HOSTED:
            parts = urlsplit(target)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InvalidInputError(f"{model!r}: expected {provider_name}:http://host:port")
            self.remote_model = parse_qs(parts.query).get("model", [None])[0]
            root = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
            self.url = (base_url or root) + self.provider.url
        else:
            if not target:
                raise InvalidInputError(f"{model!r}: name the model after '{provider_name}:'")
            self.remote_model = target
            override = base_url or os.environ.get(f"{provider_name.upper()}_BASE_URL")
            self.url = (override.rstrip("/") + urlsplit(self.provider.url).path
                        if override else self.provider.url)
        key = api_key or (os.environ.get(self.provider.key_env) if self.provider.key_env else None)
        if self.provider.key_required and not key:
            raise ModelLoadError(
                f"{model!r} needs an API key: set {self.provider.key_env} (or pass api_key=)")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.max_documents = max_documents or self.provider.max_documents
        self.max_retries = max_retries
        self._client = httpx.Client(headers=headers, transport=transport,
                                    timeout=httpx.Timeout(timeout, connect=10.0))
        self._httpx = httpx

    def score_texts(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Relevance scores in the order of ``texts``; long lists go in several requests."""
        scores = np.full(len(texts), np.nan)
        for start in range(0, len(texts), self.max_documents):
            chunk = list(texts[start:start + self.max_documents])
            payload = self._post(self.provider.body(self.remote_model, query, chunk))
            try:
                pairs = self.provider.parse(payload)
            except (KeyError, TypeError, ValueError) as exc:
                raise ScoringError(f"{self.model_name}: unexpected answer {str(payload)[:200]!r}"
                                   ) from exc
            for index, score in pairs:
                if not 0 <= index < len(chunk):
                    raise ScoringError(f"{self.model_name}: answer names document {index} of "
                                       f"{len(chunk)}")
                scores[start + index] = score
        if np.isnan(scores).any():
            missing = int(np.isnan(scores).sum())
            raise ScoringError(f"{self.model_name}: {missing} document(s) came back unscored")
        return scores

    def _post(self, body: dict[str, Any]) -> Any:
        httpx = self._httpx
        delay = 0.5
        for attempt in range(self.max_retries + 1):
            try:
                response = self._client.post(self.url, json=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt == self.max_retries:
                    raise ScoringError(f"{self.model_name}: {type(exc).__name__}: {exc}") \
                        from exc
            else:
                if response.status_code < 300:
                    return response.json()
                retryable = response.status_code == 429 or response.status_code >= 500
                if not retryable or attempt == self.max_retries:
                    raise ScoringError(
                        f"{self.model_name}: HTTP {response.status_code}: "
                        f"{response.text[:300]}")
                after = response.headers.get("retry-after", "")
                if after.replace(".", "", 1).isdigit():
                    delay = max(delay, float(after))
            time.sleep(min(delay, 30.0) * (0.5 + random.random() / 2))
            delay *= 2
        raise AssertionError("unreachable")

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """Hosted APIs answer relevance scores in [0, 1] already."""
        return np.clip(np.asarray(raw, dtype=np.float64), 0.0, 1.0)

    def close(self) -> None:
        self._client.close()
