"""Fetching the images a task attaches: Bredgio's own media from the data dir (or from
the API when this runner does not share it), anything else over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath
from urllib.parse import urlparse

import httpx
from sqlmodel import select

from api.context import AppContext
from api.db.models import Media
from api.services.media import key_from_url, sniff_type
from flows.executor import CommandError

MAX_MEDIA_BYTES = 10 * 1024 * 1024


class MediaFetcher:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def __call__(self, url: str) -> tuple[bytes, str, str]:
        key = key_from_url(url)
        if key is not None:
            local = await asyncio.to_thread(self._local, key)
            if local is not None:
                return local
            base = self.context.settings.public_url
            if not url.startswith("http"):
                if not base:
                    raise CommandError(f"media {key} is not on this runner and no API URL is set")
                url = base.rstrip("/") + url
        return await self._download(url)

    def _local(self, key: str) -> tuple[bytes, str, str] | None:
        with self.context.db.unit(write=False) as session:
            media = session.exec(select(Media).where(Media.key == key)).first()
        if media is None:
            raise CommandError(f"media {key} not found")
        path = self.context.settings.media_dir / media.key
        if not path.is_file():
            return None
        return path.read_bytes(), media.type, PurePosixPath(media.key).name

    async def _download(self, url: str) -> tuple[bytes, str, str]:
        try:
            async with (
                httpx.AsyncClient(timeout=30, follow_redirects=True) as client,
                client.stream("GET", url) as response,
            ):
                response.raise_for_status()
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_MEDIA_BYTES:
                        raise CommandError(f"media at {url} is larger than 10 MB")
                    chunks.append(chunk)
        except httpx.HTTPError as error:
            raise CommandError(f"could not fetch media {url}: {error}") from None
        data = b"".join(chunks)
        content_type = sniff_type(data[:16])
        if content_type is None:
            raise CommandError(f"media at {url} is not a JPEG, PNG, WebP or GIF image")
        name = PurePosixPath(urlparse(url).path).name or "image"
        return data, content_type, name
