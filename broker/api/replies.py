"""Answers serialised once by their own model."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def model_reply(model: BaseModel, status_code: int, headers: dict[str, str] | None = None) -> Response:
    """`model` as JSON, serialised once: it is valid by construction, so FastAPI need not check it again.

    The route's `response_model` then only documents the answer.
    """
    return Response(model.model_dump_json(), status_code, headers, media_type="application/json")
