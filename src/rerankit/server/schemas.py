"""Request bodies of the rerank APIs the server speaks (shapes in DESIGN.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CohereV1Request(_Request):
    """Cohere v1 ``/v1/rerank`` (also Jina's): documents as strings or objects."""

    model: StrictStr | None = None
    query: StrictStr
    documents: list[StrictStr | dict[str, Any]]
    top_n: int | None = Field(default=None, ge=1)
    return_documents: StrictBool | None = None
    rank_fields: list[StrictStr] | None = None
    max_chunks_per_doc: int | None = Field(default=None, ge=1)
    max_tokens_per_doc: int | None = Field(default=None, ge=1)


class CohereV2Request(_Request):
    """Cohere v2 ``/v2/rerank``: documents are strings."""

    model: StrictStr | None = None
    query: StrictStr
    documents: list[StrictStr]
    top_n: int | None = Field(default=None, ge=1)
    max_tokens_per_doc: int | None = Field(default=None, ge=1)


class TEIRequest(_Request):
    """Text Embeddings Inference ``/rerank``."""

    query: StrictStr
    texts: list[StrictStr]
    truncate: StrictBool = False
    truncation_direction: Literal["Right", "right", "Left", "left"] = "Right"
    raw_scores: StrictBool = False
    return_text: StrictBool = False
