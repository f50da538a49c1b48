from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.metrics import CONNECTIONS
from app.resources import Resources
from app.routes.deps import current_attendee, resources

router = APIRouter()


class ScanRequest(BaseModel):
    qr_code: str = Field(min_length=1, max_length=64)


@router.post("/v1/connections")
async def connect(body: ScanRequest, attendee: int = Depends(current_attendee),
                  res: Resources = Depends(resources)) -> JSONResponse:
    async with res.pool.connection() as conn:
        other = await (await conn.execute("SELECT id FROM attendees WHERE qr_code = %s", (body.qr_code,))).fetchone()
        if other is None:
            raise HTTPException(status_code=404, detail="unknown QR code")
        if other[0] == attendee:
            raise HTTPException(status_code=400, detail="cannot connect with yourself")
        created = await (await conn.execute(
            "INSERT INTO connections (attendee_id, connected_id) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING RETURNING id", (attendee, other[0]))).fetchone()
    if created is None:
        return JSONResponse({"connected_id": other[0], "new": False})
    CONNECTIONS.inc()
    return JSONResponse({"connected_id": other[0], "new": True}, status_code=201)


@router.delete("/v1/connections/{connected_id}")
async def disconnect(connected_id: int, attendee: int = Depends(current_attendee),
                     res: Resources = Depends(resources)) -> dict[str, object]:
    async with res.pool.connection() as conn:
        gone = await (await conn.execute(
            "DELETE FROM connections WHERE attendee_id = %s AND connected_id = %s RETURNING 1",
            (attendee, connected_id))).fetchone()
    return {"connected_id": connected_id, "existed": gone is not None}
