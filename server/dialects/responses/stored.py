"""``GET``/``DELETE /v1/responses/{id}`` and ``GET /v1/responses/{id}/input_items``: stored responses.

A response exists only for the client key that made it, and only while the store keeps it; with
the store off every id is unknown (a 404 that says why). Errors are the OpenAI error body, as on
``POST /v1/responses``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from server.auth import client_name
from server.dialects.responses.output import item_id
from server.dialects.responses.store import Record, ResponseStore
from server.errors import NotFound
from server.state import AppState

router = APIRouter()

_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


def _store(request: Request) -> ResponseStore:
    state: AppState = request.app.state.toolrelay
    if state.response_store is None:
        raise NotFound(
            "stored responses are off in this toolrelay's config (responses.store.enabled: false)",
            param="response_id",
        )
    return state.response_store


async def _record(request: Request, response_id: str) -> Record:
    record = await _store(request).get(response_id, client_name(request))
    if record is None:
        raise NotFound(f"No response found with id {response_id!r}.", param="response_id")
    return record


@router.get("/v1/responses/{response_id}")
async def get_response(response_id: str, request: Request) -> dict[str, Any]:
    return (await _record(request, response_id)).response


@router.delete("/v1/responses/{response_id}")
async def delete_response(response_id: str, request: Request) -> dict[str, Any]:
    if not await _store(request).delete(response_id, client_name(request)):
        raise NotFound(f"No response found with id {response_id!r}.", param="response_id")
    return {"id": response_id, "object": "response.deleted", "deleted": True}


@router.get("/v1/responses/{response_id}/input_items")
async def input_items(
    response_id: str,
    request: Request,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> dict[str, Any]:
    record = await _record(request, response_id)
    items = [
        {**item, "id": item.get("id") or f"{_PREFIXES.get(str(item.get('type')), 'item')}_{response_id[5:]}_{n}"}
        for n, item in enumerate(record.input)
    ]
    if order == "desc":
        items.reverse()
    if after is not None:
        at = next((n for n, item in enumerate(items) if item["id"] == after), None)
        if at is None:
            raise NotFound(f"No input item with id {after!r} in response {response_id!r}.", param="after")
        items = items[at + 1 :]
    page = items[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }


__all__ = ["item_id", "router"]
