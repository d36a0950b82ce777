"""The engine's own logic, with an in-test executor and in-test flows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from flows import registry
from flows.commands import Click, Command, Evaluate, Navigate
from flows.engine import FlowContext, FlowOutcome, Origins, run_flow, verify_flow
from flows.executor import CommandError, Disconnected, ElementNotFound
from flows.sink import MemorySink

FlowBody = Callable[[FlowContext], Awaitable[Any]]


class FakeExecutor:
    """Answers every command with ``{"matched": …}``-ish data, or raises what it is told."""

    def __init__(self, fail: dict[str, Exception] | None = None) -> None:
        self.commands: list[Command] = []
        self.fail = fail or {}

    async def run(self, command: Command) -> dict[str, Any]:
        self.commands.append(command)
        if command.cmd in self.fail:
            raise self.fail[command.cmd]
        if isinstance(command, Click):
            return {"matched": command.selectors[0]}
        return {}


class InlineFlow:
    def __init__(self, run: FlowBody, verify: FlowBody | None = None) -> None:
        self._run = run
        self._verify = verify

    async def run(self, ctx: FlowContext) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(ctx)
        return result

    async def verify(self, ctx: FlowContext) -> dict[str, Any] | None:
        if self._verify is None:
            return None
        found: dict[str, Any] | None = await self._verify(ctx)
        return found


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    def put(run: FlowBody, verify: FlowBody | None = None, platform: str = "facebook") -> None:
        monkeypatch.setitem(registry.FLOWS, (platform, "search"), InlineFlow(run, verify))

    yield put


async def go(
    executor: FakeExecutor | None = None,
    sink: MemorySink | None = None,
    platform: str = "facebook",
    **kw: Any,
) -> tuple[FlowOutcome, MemorySink]:
    sink = sink or MemorySink()
    outcome = await run_flow(
        "search", platform, {"query": "q"}, executor or FakeExecutor(), sink, Origins(), **kw
    )
    return outcome, sink


def test_actions_and_platforms_are_exported() -> None:
    assert len(registry.ACTIONS) == 12 and "post-to-groups" in registry.ACTIONS
    assert registry.PLATFORMS == ("facebook", "twitter", "instagram", "linkedin", "threads")
    assert set(registry.FLOWS) == {
        ("facebook", "post"),
        ("facebook", "post-to-groups"),
        ("twitter", "post"),
    }


@pytest.mark.parametrize(
    ("action", "platform"),
    [("comment", "facebook"), ("post", "instagram"), ("dance", "facebook"), ("post", "myspace")],
)
async def test_unregistered_pairs_are_action_not_implemented(action: str, platform: str) -> None:
    sink = MemorySink()
    outcome = await run_flow(action, platform, {}, FakeExecutor(), sink, Origins())
    assert (outcome.status, outcome.error_code) == ("failed", "action_not_implemented")
    assert sink.entries[-1].error_code == "action_not_implemented"


async def test_steps_are_timed_and_logged(install: Callable[..., None]) -> None:
    async def flow(ctx: FlowContext) -> dict[str, Any]:
        async with ctx.step("navigate", url="u"):
            await ctx.do(Navigate(url="https://example.test/"))
        async with ctx.step("extract_post_url") as step:
            step.data["url"] = "https://example.test/p/1"
        return {"post": {"url": "https://example.test/p/1"}}

    install(flow)
    outcome, sink = await go()

    assert outcome == FlowOutcome("completed", {"post": {"url": "https://example.test/p/1"}})
    assert [(e.step, e.status) for e in sink.entries] == [
        ("navigate", "ok"),
        ("extract_post_url", "ok"),
    ]
    assert sink.entries[0].data == {"durationMs": sink.entries[0].data["durationMs"], "url": "u"}  # type: ignore[index]
    assert sink.entries[1].data and sink.entries[1].data["url"] == "https://example.test/p/1"
    assert sink.steps == ["navigate", "extract_post_url", None]


async def test_failures_map_to_codes(install: Callable[..., None]) -> None:
    async def flow(ctx: FlowContext) -> dict[str, Any]:
        async with ctx.step("click_compose"):
            await ctx.do(Click(selectors=["#x"]), not_found="fb_compose_not_found")
        return {}

    install(flow)
    outcome, sink = await go(FakeExecutor({"click": ElementNotFound("nothing")}))
    assert (outcome.error_code, outcome.error_message, outcome.step) == (
        "fb_compose_not_found",
        "nothing",
        "click_compose",
    )
    [entry] = sink.entries
    assert (entry.step, entry.status, entry.error_code) == (
        "click_compose",
        "error",
        "fb_compose_not_found",
    )


@pytest.mark.parametrize(
    ("error", "platform", "code"),
    [
        (ElementNotFound("gone"), "facebook", "command_timeout"),
        (Disconnected("socket dropped"), "twitter", "disconnected"),
        (CommandError("weird"), "twitter", "x_unknown"),
        (RuntimeError("bug"), "facebook", "fb_unknown"),
        (KeyError("result"), "twitter", "x_unknown"),
    ],
)
async def test_unmapped_errors(
    install: Callable[..., None], error: Exception, platform: str, code: str
) -> None:
    async def flow(ctx: FlowContext) -> dict[str, Any]:
        async with ctx.step("submit"):
            await ctx.do(Evaluate(expression="1"))
        return {}

    install(flow, platform=platform)
    outcome, sink = await go(FakeExecutor({"evaluate": error}), platform=platform)
    assert (outcome.status, outcome.error_code) == ("failed", code)
    assert [(e.step, e.error_code) for e in sink.entries] == [("submit", code)]


async def test_error_outside_a_step_is_logged_once(install: Callable[..., None]) -> None:
    async def flow(ctx: FlowContext) -> dict[str, Any]:
        ctx.fail("fb_checkpoint", "locked")

    install(flow)
    outcome, sink = await go()
    assert outcome.error_code == "fb_checkpoint"
    assert [(e.step, e.status, e.error_code) for e in sink.entries] == [
        ("flow", "error", "fb_checkpoint")
    ]


async def test_stop_is_honoured_until_the_point_of_no_return(install: Callable[..., None]) -> None:
    async def flow(ctx: FlowContext) -> dict[str, Any]:
        async with ctx.step("type_content"):
            await ctx.do(Evaluate(expression="1"))
        async with ctx.step("submit"):
            await ctx.point_of_no_return()
            ctx.sink.stop_requested = True  # type: ignore[attr-defined]
            await ctx.do(Evaluate(expression="2"))
        async with ctx.step("extract_post_url"):
            await ctx.do(Evaluate(expression="3"))
        return {"post": {"url": "u"}}

    install(flow)
    executor = FakeExecutor()
    outcome, _ = await go(executor)
    assert outcome.status == "completed" and outcome.passed_point_of_no_return
    assert len(executor.commands) == 3

    stopped = MemorySink()
    stopped.stop_requested = True
    executor = FakeExecutor()
    outcome, _ = await go(executor, stopped)
    assert outcome.status == "cancelled" and not outcome.passed_point_of_no_return
    assert executor.commands == []
    assert [(e.step, e.status) for e in stopped.entries] == [("type_content", "warn")]


async def test_flow_budget_is_command_timeout(install: Callable[..., None]) -> None:
    async def flow(ctx: FlowContext) -> dict[str, Any]:
        async with ctx.step("wait_post_enabled"):
            await asyncio.sleep(5)
        return {}

    install(flow)
    outcome, sink = await go(timeout_s=0.05)
    assert (outcome.status, outcome.error_code, outcome.step) == (
        "failed",
        "command_timeout",
        "wait_post_enabled",
    )
    assert sink.entries[-1].error_code == "command_timeout"


async def test_pauses_do_not_spend_the_budget_and_are_safe_points(
    install: Callable[..., None],
) -> None:
    async def flow(ctx: FlowContext) -> dict[str, Any]:
        await ctx.point_of_no_return()
        ctx.result = {"groups": ["first"]}
        await ctx.pause(0.3)
        ctx.renew_deadline()
        await asyncio.sleep(0.1)
        return {"groups": ["first", "second"]}

    install(flow)
    outcome, _ = await go(timeout_s=0.2)
    assert outcome.status == "completed", outcome

    class StopLater(MemorySink):
        async def should_stop(self) -> bool:
            return self.passed_point_of_no_return

    outcome, _ = await go(sink=StopLater(), timeout_s=0.2)
    assert outcome.status == "cancelled"
    assert outcome.result == {"groups": ["first"]}
    assert outcome.passed_point_of_no_return


async def test_verify(install: Callable[..., None]) -> None:
    async def nothing(ctx: FlowContext) -> dict[str, Any]:
        return {}

    async def found(ctx: FlowContext) -> dict[str, Any]:
        return {"post": {"url": "https://example.test/p/1"}}

    install(nothing, found)
    sink = MemorySink()
    outcome = await verify_flow("search", "facebook", {}, FakeExecutor(), sink)
    assert outcome.status == "completed" and outcome.result == {
        "post": {"url": "https://example.test/p/1"}
    }

    async def missing(ctx: FlowContext) -> None:
        return None

    install(nothing, missing)
    outcome = await verify_flow("search", "facebook", {}, FakeExecutor(), sink)
    assert (outcome.status, outcome.error_code) == ("failed", "outcome_unknown")
    assert outcome.passed_point_of_no_return

    async def broken(ctx: FlowContext) -> None:
        ctx.fail("fb_login_required", "logged out")

    install(nothing, broken)
    outcome = await verify_flow("search", "facebook", {}, FakeExecutor(), sink)
    assert (outcome.status, outcome.error_code) == ("failed", "outcome_unknown")
    assert outcome.error_message is not None and "fb_login_required" in outcome.error_message


async def test_engine_overhead_is_tiny(install: Callable[..., None]) -> None:
    """Per command and per step the engine adds microseconds, not milliseconds."""
    count = 500

    async def flow(ctx: FlowContext) -> dict[str, Any]:
        for i in range(count):
            async with ctx.step("type_content", i=i):
                await ctx.do(Evaluate(expression="1"))
        return {}

    executor = FakeExecutor()
    started = time.perf_counter()
    for _ in range(count):
        await executor.run(Evaluate(expression="1"))
    bare = time.perf_counter() - started

    install(flow)
    started = time.perf_counter()
    outcome, _ = await go(executor)
    engine = time.perf_counter() - started

    assert outcome.status == "completed"
    assert (engine - bare) / count < 200e-6
