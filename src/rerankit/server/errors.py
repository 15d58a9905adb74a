"""Errors answered in the JSON shape of the API the caller used."""

from __future__ import annotations

from typing import Any

#: TEI's error_type per status.
_TEI_TYPES = {400: "validation", 401: "validation", 404: "validation", 413: "validation",
              422: "validation", 429: "overloaded", 503: "unhealthy", 504: "backend"}


class ApiError(Exception):
    """An error with its HTTP status (and headers, e.g. Retry-After)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def style_of(path: str) -> str:
    """``tei`` for TEI's ``/rerank``, else ``cohere`` (Cohere v1/v2 and Jina)."""
    return "tei" if path.rstrip("/") == "/rerank" else "cohere"


def error_body(style: str, status: int, message: str) -> dict[str, Any]:
    """Cohere answers ``{"message"}``, Jina ``{"detail"}`` (both given on /v1 and /v2),
    TEI ``{"error", "error_type"}``."""
    if style == "tei":
        return {"error": message, "error_type": _TEI_TYPES.get(status, "backend")}
    return {"message": message, "detail": message}
