"""Prometheus metrics of one server (its own registry, so apps never share counters)."""

from __future__ import annotations

from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """Requests, latency, queue depth, documents and tokens scored, cache hits."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("rerankit_requests_total", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("rerankit_request_seconds", "Request latency",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("rerankit_queue_depth", "Requests waiting per model",
                                 ["model"], registry=self.registry)
        self.documents = Counter("rerankit_documents_scored_total",
                                 "Documents (query, document pairs) scored", ["model"],
                                 registry=self.registry)
        self.tokens = Counter("rerankit_tokens_scored_total", "Model input tokens scored",
                              ["model"], registry=self.registry)
        self.cache_hits = Counter("rerankit_cache_hits_total",
                                  "Documents served from the score cache", ["model"],
                                  registry=self.registry)
        self.batch_seconds = Histogram("rerankit_batch_seconds",
                                       "Model time per scheduler batch", ["model"],
                                       buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_requests = Histogram("rerankit_batch_requests",
                                        "Requests sharing one scheduler batch", ["model"],
                                        buckets=(1, 2, 4, 8, 16, 32, 64),
                                        registry=self.registry)

    def on_batch(self, model: str, jobs: list[Any], results: list[list[Any]],
                 seconds: float) -> None:
        """Called by a scheduler after each batch."""
        flat = [r for result in results for r in result]
        self.documents.labels(model).inc(sum(1 for r in flat if r.windows))
        self.tokens.labels(model).inc(sum(r.tokens for r in flat))
        self.cache_hits.labels(model).inc(sum(1 for r in flat if not r.windows))
        self.batch_seconds.labels(model).observe(seconds)
        self.batch_requests.labels(model).observe(len(jobs))

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
