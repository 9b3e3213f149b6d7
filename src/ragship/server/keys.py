"""The caller's own key: `/v1/me` says which key it is, its role and the groups it reads (keys are made and revoked
with `ragship keys`, not over HTTP)."""

from __future__ import annotations

from fastapi import APIRouter

from ragship.access import Principal
from ragship.server.deps import COMMON, Reader

router = APIRouter(responses=COMMON)


@router.get("/v1/me", tags=["keys"])
async def me(principal: Principal = Reader) -> dict:
    return {"key_id": principal.key_id, "role": principal.role,
            "groups": None if principal.groups is None else sorted(principal.groups)}
