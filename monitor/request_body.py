"""Request bodies read with a size limit: hostile or broken clients get 413, never an unbounded read."""

from __future__ import annotations

from fastapi import HTTPException, Request


async def bounded_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 past `limit` bytes (before reading it all when Content-Length says so)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(413, f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
