from __future__ import annotations

from pydantic import BaseModel


class UploadResponse(BaseModel):
    success: bool = True
    url: str
    directUrl: str
    key: str
    type: str
    size: int
