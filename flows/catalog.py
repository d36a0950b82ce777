"""The task catalogue: the twelve actions, the five platforms, each action's ``params``
shape and each platform's content limits. The API validates dispatches with these; flows
read their params through them."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ACTIONS: tuple[str, ...] = (
    "post",
    "post-to-groups",
    "comment",
    "comment-feed",
    "fetch-posts",
    "search",
    "smart-post",
    "smart-comment",
    "friend-msg",
    "send-msg",
    "group-outreach",
    "auto-outreach",
)
PLATFORMS: tuple[str, ...] = ("facebook", "twitter", "instagram", "linkedin", "threads")
MEDIA_TYPES: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp", "image/gif")

Action = Literal[
    "post",
    "post-to-groups",
    "comment",
    "comment-feed",
    "fetch-posts",
    "search",
    "smart-post",
    "smart-comment",
    "friend-msg",
    "send-msg",
    "group-outreach",
    "auto-outreach",
]
Platform = Literal["facebook", "twitter", "instagram", "linkedin", "threads"]

MAX_CONTENT_CHARS: dict[str, int] = {
    "facebook": 63_206,
    "twitter": 280,
    "instagram": 2_200,
    "linkedin": 3_000,
    "threads": 500,
}
MAX_IMAGES: dict[str, int] = {"twitter": 4, "instagram": 10, "threads": 10, "linkedin": 9}


class ParamsError(ValueError):
    """Params that do not fit their action or platform; ``message`` is shown to users."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class MediaItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    type: Literal["image/jpeg", "image/png", "image/webp", "image/gif"]

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        if not (value.startswith("/api/media-proxy/") or re.match(r"^https?://\S+$", value)):
            raise ValueError("must be a /api/media-proxy/ path or an http(s) URL")
        return value


def _text(min_length: int = 1) -> Any:
    return Field(min_length=min_length)


class PostParams(_Params):
    content: str = ""
    media: list[MediaItem] | None = None


class PostToGroupsParams(_Params):
    content: str = _text()
    topic: str | None = Field(None, min_length=1, max_length=200)
    groupUrls: list[str] | None = Field(None, min_length=1, max_length=100)
    maxGroups: int = Field(5, ge=1, le=100)
    intervalSec: int = Field(300, ge=0, le=86_400)
    media: list[MediaItem] | None = None


class CommentParams(_Params):
    postUrl: str = _text()
    content: str = _text()


class CommentFeedParams(_Params):
    feedUrl: str = _text()
    content: str = _text()


class FetchPostsParams(_Params):
    feedUrl: str = _text()
    limit: int = Field(10, ge=1, le=200)


class SearchParams(_Params):
    query: str = _text()


class SmartPostParams(_Params):
    topic: str = _text()
    tone: str | None = None


class SmartCommentParams(_Params):
    postUrl: str = _text()
    stance: str | None = None


class FriendMsgParams(_Params):
    userId: str = _text()
    content: str = _text()


class SendMsgParams(_Params):
    threadId: str = _text()
    content: str = _text()


class GroupOutreachParams(_Params):
    groupUrl: str = _text()
    template: str = _text()


class AutoOutreachParams(_Params):
    policyId: str = _text()


PARAMS_MODELS: dict[str, type[_Params]] = {
    "post": PostParams,
    "post-to-groups": PostToGroupsParams,
    "comment": CommentParams,
    "comment-feed": CommentFeedParams,
    "fetch-posts": FetchPostsParams,
    "search": SearchParams,
    "smart-post": SmartPostParams,
    "smart-comment": SmartCommentParams,
    "friend-msg": FriendMsgParams,
    "send-msg": SendMsgParams,
    "group-outreach": GroupOutreachParams,
    "auto-outreach": AutoOutreachParams,
}

# X counts most Latin, Greek, Cyrillic and punctuation as 1 and everything else (CJK,
# emoji) as 2; every URL counts 23 whatever its length (twitter-text v3 configuration).
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_X_URL = re.compile(r"https?://\S+|\bwww\.\S+", re.IGNORECASE)
_X_URL_WEIGHT = 23


def twitter_length(text: str) -> int:
    """The length X shows for ``text`` (limit 280)."""
    text = unicodedata.normalize("NFC", text)
    length = _X_URL_WEIGHT * len(_X_URL.findall(text))
    remainder = _X_URL.sub("", text)
    for char in remainder:
        code = ord(char)
        light = any(lo <= code <= hi for lo, hi in _X_LIGHT_RANGES)
        length += 1 if light else 2
    return length


def content_length(platform: str, text: str) -> int:
    if platform == "twitter":
        return twitter_length(text)
    return len(text)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"params.{where}: {item['msg']}" if where else f"params: {item['msg']}")
    return "; ".join(parts)


def validate_params(action: str, platform: str, params: Any) -> dict[str, Any]:
    """Check ``params`` against the action's shape and the platform's limits; return
    them normalised. Raises :class:`ParamsError` with a message naming the field."""
    model = PARAMS_MODELS.get(action)
    if model is None:
        raise ParamsError(f"action must be one of: {', '.join(ACTIONS)}")
    if not isinstance(params, dict):
        raise ParamsError("params must be an object")
    try:
        parsed = model.model_validate(params)
    except ValidationError as error:
        raise ParamsError(_describe(error)) from None

    content = getattr(parsed, "content", None)
    media = getattr(parsed, "media", None) or []
    if action == "post" and not (content or "").strip() and not media:
        raise ParamsError("params.content is required (or attach media)")
    if isinstance(content, str) and platform in MAX_CONTENT_CHARS:
        limit = MAX_CONTENT_CHARS[platform]
        length = content_length(platform, content)
        if length > limit:
            raise ParamsError(
                f"params.content is too long for {platform}: {length} characters, max {limit}"
            )
    max_images = MAX_IMAGES.get(platform)
    if max_images is not None and len(media) > max_images:
        raise ParamsError(f"params.media: {platform} allows at most {max_images} images")
    if action == "post-to-groups" and not (parsed.topic or parsed.groupUrls):  # type: ignore[attr-defined]
        raise ParamsError("params.topic or params.groupUrls is required")
    return parsed.model_dump(exclude_none=True)
