"""The actions and platforms of the API document, and the ``params`` shape of each action.

``validate_params`` is what the API checks at dispatch (400 on a bad shape); flows parse
the same models when they run, so a task can never reach a flow with params the API
would have refused.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Platform = Literal["facebook", "twitter", "instagram", "linkedin", "threads"]
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
MediaType = Literal["image/jpeg", "image/png", "image/webp", "image/gif"]

PLATFORMS: tuple[str, ...] = get_args(Platform)
ACTIONS: tuple[str, ...] = get_args(Action)
SUPPORTED_MEDIA_TYPES: tuple[str, ...] = get_args(MediaType)

FACEBOOK_MAX_CHARS = 63_206
TWITTER_MAX_WEIGHT = 280
TWITTER_URL_WEIGHT = 23
TWITTER_MAX_IMAGES = 4


class ParamsError(ValueError):
    """``params`` do not fit the action; the message names the field
    (``params.content: Field required``)."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class MediaItem(_Params):
    """One image to attach, in attachment order; the executor fetches ``url``."""

    url: str = Field(min_length=1)
    type: MediaType


class PostParams(_Params):
    """``post``: ``content`` (newlines preserved) and optional images."""

    content: str
    media: list[MediaItem] | None = None

    @model_validator(mode="after")
    def _something_to_post(self) -> PostParams:
        if not self.content.strip() and not self.media:
            raise ValueError("content must not be empty")
        return self


class GroupPostParams(PostParams):
    """``post-to-groups``: the given ``groupUrls``, or the joined groups whose name
    contains ``topic``; at most ``maxGroups``, ``intervalSec`` apart."""

    topic: str | None = None
    group_urls: list[str] | None = Field(None, alias="groupUrls")
    max_groups: int = Field(5, alias="maxGroups", ge=1, le=100)
    interval_sec: float = Field(300, alias="intervalSec", ge=0, le=86_400)

    @model_validator(mode="after")
    def _has_targets(self) -> GroupPostParams:
        if not self.group_urls and not (self.topic or "").strip():
            raise ValueError("topic or groupUrls is required")
        return self


class CommentParams(_Params):
    post_url: str = Field(alias="postUrl", min_length=1)
    content: str = Field(min_length=1)


class CommentFeedParams(_Params):
    feed_url: str = Field(alias="feedUrl", min_length=1)
    content: str = Field(min_length=1)


class FetchPostsParams(_Params):
    feed_url: str = Field(alias="feedUrl", min_length=1)
    limit: int = Field(10, ge=1, le=500)


class SearchParams(_Params):
    query: str = Field(min_length=1)


class SmartPostParams(_Params):
    topic: str = Field(min_length=1)
    tone: str | None = None


class SmartCommentParams(_Params):
    post_url: str = Field(alias="postUrl", min_length=1)
    stance: str | None = None


class FriendMessageParams(_Params):
    user_id: str = Field(alias="userId", min_length=1)
    content: str = Field(min_length=1)


class SendMessageParams(_Params):
    thread_id: str = Field(alias="threadId", min_length=1)
    content: str = Field(min_length=1)


class GroupOutreachParams(_Params):
    group_url: str = Field(alias="groupUrl", min_length=1)
    template: str = Field(min_length=1)


class AutoOutreachParams(_Params):
    policy_id: str = Field(alias="policyId", min_length=1)


PARAMS_MODELS: dict[str, type[_Params]] = {
    "post": PostParams,
    "post-to-groups": GroupPostParams,
    "comment": CommentParams,
    "comment-feed": CommentFeedParams,
    "fetch-posts": FetchPostsParams,
    "search": SearchParams,
    "smart-post": SmartPostParams,
    "smart-comment": SmartCommentParams,
    "friend-msg": FriendMessageParams,
    "send-msg": SendMessageParams,
    "group-outreach": GroupOutreachParams,
    "auto-outreach": AutoOutreachParams,
}

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_ZERO_WEIGHT = {0xFE0E, 0xFE0F, 0x200D}


def _char_weight(char: str) -> int:
    code = ord(char)
    if code in _ZERO_WEIGHT or unicodedata.category(char) == "Mn":
        return 0
    if code <= 4351 or 8192 <= code <= 8205 or 8208 <= code <= 8223 or 8242 <= code <= 8247:
        return 1
    return 2


def twitter_length(text: str) -> int:
    """X's weighted length: CJK and emoji count 2, any URL 23, the rest 1."""
    weight = 0
    position = 0
    for match in _URL.finditer(text):
        weight += sum(_char_weight(c) for c in text[position : match.start()])
        weight += TWITTER_URL_WEIGHT
        position = match.end()
    return weight + sum(_char_weight(c) for c in text[position:])


def _messages(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        location = ".".join(str(part) for part in ("params", *item["loc"]))
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}")
    return "; ".join(parts)


def parse_params(action: str, params: Any) -> _Params:
    """The validated model of ``params`` for ``action`` (no platform limits)."""
    model = PARAMS_MODELS.get(action)
    if model is None:
        raise ParamsError(f"action: unknown action {action!r}")
    if not isinstance(params, dict):
        raise ParamsError("params: must be an object")
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise ParamsError(_messages(error)) from None


def validate_params(action: str, platform: str, params: Any) -> dict[str, Any]:
    """Check ``params`` for ``action`` on ``platform`` and return them as stored (the
    keys the caller sent, camelCase). Raises :class:`ParamsError`."""
    if platform not in PLATFORMS:
        raise ParamsError(f"platform: unknown platform {platform!r}")
    model = parse_params(action, params)
    content = getattr(model, "content", None)
    media = getattr(model, "media", None) or []
    if platform == "twitter" and isinstance(content, str):
        if twitter_length(content) > TWITTER_MAX_WEIGHT:
            raise ParamsError(
                f"params.content: longer than X's {TWITTER_MAX_WEIGHT} weighted characters"
            )
        if len(media) > TWITTER_MAX_IMAGES:
            raise ParamsError(f"params.media: X allows at most {TWITTER_MAX_IMAGES} images")
    if platform == "facebook" and isinstance(content, str) and len(content) > FACEBOOK_MAX_CHARS:
        raise ParamsError(f"params.content: longer than Facebook's {FACEBOOK_MAX_CHARS} characters")
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)
