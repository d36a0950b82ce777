from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.common import Request
from flows.catalog import Platform

DEFAULT_CONFIG: dict[str, int] = {
    "dailyOutreachLimit": 5,
    "messageDelaySec": 30,
    "postDelaySec": 60,
}


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dailyOutreachLimit: int | None = Field(None, ge=0, le=100_000)
    messageDelaySec: int | None = Field(None, ge=0, le=86_400)
    postDelaySec: int | None = Field(None, ge=0, le=86_400)


def _fold_dotted_config(data: Any) -> Any:
    """Accept ``{"config.postDelaySec": 10}`` as well as ``{"config": {...}}``: the API
    document names the fields with dots."""
    if not isinstance(data, dict):
        return data
    dotted = {k: v for k, v in data.items() if isinstance(k, str) and k.startswith("config.")}
    if not dotted:
        return data
    folded = {k: v for k, v in data.items() if k not in dotted}
    config = dict(folded.get("config") or {})
    for key, value in dotted.items():
        config[key.removeprefix("config.")] = value
    folded["config"] = config
    return folded


class AgentCreate(Request):
    name: str = Field(min_length=1, max_length=200)
    platforms: list[Platform] = Field(default_factory=list)
    config: AgentConfig | None = None
    executor: Literal["runner", "extension"] = "runner"
    browser: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fold(cls, data: Any) -> Any:
        return _fold_dotted_config(data)


class AgentUpdate(Request):
    name: str | None = Field(None, min_length=1, max_length=200)
    platforms: list[Platform] | None = None
    status: Literal["online", "offline", "paused"] | None = None
    config: AgentConfig | None = None
    executor: Literal["runner", "extension"] | None = None
    browser: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fold(cls, data: Any) -> Any:
        return _fold_dotted_config(data)


class AgentConfigPublic(BaseModel):
    dailyOutreachLimit: int
    messageDelaySec: int
    postDelaySec: int


class AgentPublic(BaseModel):
    agentId: str
    name: str
    userId: str
    userEmail: str
    status: str
    platforms: list[str]
    config: AgentConfigPublic
    executor: str
    browser: dict[str, Any]
    lastSeenAt: str | None
    extensionVersion: str | None
    createdAt: str | None
    todayCount: int


class AgentWithToken(AgentPublic):
    token: str


class AgentListResponse(BaseModel):
    success: bool = True
    agents: list[AgentPublic]


class AgentResponse(BaseModel):
    success: bool = True
    agent: AgentPublic


class AgentCreateResponse(BaseModel):
    success: bool = True
    agent: AgentWithToken


class TokenResponse(BaseModel):
    success: bool = True
    token: str


class TokenRotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = None


class HeartbeatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str | None = None
    version: str | None = Field(None, max_length=64)


class HeartbeatAgent(BaseModel):
    agentId: str
    name: str
    userEmail: str
    status: str
    platforms: list[str]


class HeartbeatResponse(BaseModel):
    success: bool = True
    agent: HeartbeatAgent
