"""Order, pacing and control through a real `bredgio up`, and crash recovery with a real
runner process killed by SIGKILL: nothing lost, nothing published twice."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.conftest import Bredgio
from tests.e2e.test_posting import api_cookies, new_agent, upload, wait_for_task
from tests.fixtures.sites.server import SiteServer
from tests.helpers import png_bytes


def logged_in_agent(client: httpx.Client, site: SiteServer, **config: int) -> str:
    agent_id = new_agent(client, site.platform)
    client.post(
        f"/api/agents/{agent_id}/cookies",
        json={"cookies": api_cookies(site.platform, site.origin)},
    )
    client.patch(f"/api/agents/{agent_id}", json={"config": {"postDelaySec": 0, **config}})
    return agent_id


def post(client: httpx.Client, agent_id: str, content: str, **extra: Any) -> str:
    params = {"content": content, **extra.pop("params", {})}
    response = client.post(
        f"/api/agents/{agent_id}/command",
        json={"action": "post", "platform": "twitter", "params": params, **extra},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["task"]["taskId"])


def wait_until(predicate: Any, timeout_s: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def task_of(client: httpx.Client, task_id: str) -> dict[str, Any]:
    return dict(client.get(f"/api/tasks/{task_id}").json()["task"])


def runner_pids(bredgio: Bredgio) -> list[int]:
    output = os.popen(f"pgrep -P {bredgio.process.pid} -f 'api.cli runner'").read()
    return [int(pid) for pid in output.split()]


def kill_runner(bredgio: Bredgio) -> None:
    pids = runner_pids(bredgio)
    assert pids, "no runner process under bredgio up"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def test_paused_agent_holds_tasks_and_shows_its_queue(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    agent_id = logged_in_agent(client, twitter_site)
    client.patch(f"/api/agents/{agent_id}", json={"status": "paused"})
    first, second = post(client, agent_id, "held 1"), post(client, agent_id, "held 2")
    time.sleep(1.0)
    held = [task_of(client, first), task_of(client, second)]
    assert [t["status"] for t in held] == ["pending", "pending"]
    assert [t["queuePosition"] for t in held] == [1, 2]
    client.patch(f"/api/agents/{agent_id}", json={"status": "online"})
    done = [wait_for_task(client, first), wait_for_task(client, second)]
    assert [t["status"] for t in done] == ["completed", "completed"]
    assert [p.text for p in twitter_site.posts] == ["held 1", "held 2"]


def test_cancel_pending_and_errors(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    agent_id = logged_in_agent(client, twitter_site)
    client.patch(f"/api/agents/{agent_id}", json={"status": "paused"})
    first, second = post(client, agent_id, "never 1"), post(client, agent_id, "never 2")
    cancelled = client.post(f"/api/tasks/{first}/cancel").json()
    assert cancelled["task"]["status"] == "cancelled"
    assert client.delete(f"/api/tasks/{second}").json()["task"]["status"] == "cancelled"
    again = client.post(f"/api/tasks/{first}/cancel")
    assert again.status_code == 409 and again.json()["success"] is False
    assert client.post("/api/tasks/nope/cancel").status_code == 404
    client.patch(f"/api/agents/{agent_id}", json={"status": "online"})
    time.sleep(1.5)
    assert twitter_site.posts == []


def test_cancel_running_task_stops_before_publishing(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    twitter_site.set_scenario(upload_delay_ms=6000)
    agent_id = logged_in_agent(client, twitter_site)
    image = upload(client, png_bytes(), "slow.png")
    task_id = post(
        client,
        agent_id,
        "cancel me",
        params={"media": [{"url": image["url"], "type": "image/png"}]},
    )
    wait_until(
        lambda: task_of(client, task_id)["currentStep"] in ("attach_media", "wait_post_enabled"),
        what="the upload step",
    )
    assert client.post(f"/api/tasks/{task_id}/cancel").status_code == 200
    task = wait_for_task(client, task_id)
    assert task["status"] == "cancelled"
    time.sleep(1.0)
    assert twitter_site.posts == []
    # The agent is free again.
    twitter_site.set_scenario(upload_delay_ms=0)
    assert wait_for_task(client, post(client, agent_id, "after cancel"))["status"] == "completed"


def test_retry_and_idempotency_key(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    agent_id = new_agent(client, "twitter")  # no cookies: it fails
    client.patch(f"/api/agents/{agent_id}", json={"config": {"postDelaySec": 0}})
    failed = wait_for_task(client, post(client, agent_id, "retry me"))
    assert failed["errorCode"] == "x_login_required"
    client.post(
        f"/api/agents/{agent_id}/cookies",
        json={"cookies": api_cookies("twitter", twitter_site.origin)},
    )
    retried = client.post(f"/api/tasks/{failed['taskId']}/retry").json()["task"]
    assert retried["taskId"] != failed["taskId"]
    assert wait_for_task(client, retried["taskId"])["status"] == "completed"
    assert [p.text for p in twitter_site.posts] == ["retry me"]

    body = {"action": "post", "platform": "twitter", "params": {"content": "once"}}
    headers = {"Idempotency-Key": "order-42"}
    first = client.post(f"/api/agents/{agent_id}/command", json=body, headers=headers).json()
    second = client.post(f"/api/agents/{agent_id}/command", json=body, headers=headers).json()
    assert first["task"]["taskId"] == second["task"]["taskId"]
    other = client.post(
        f"/api/agents/{agent_id}/command",
        json={**body, "params": {"content": "different"}},
        headers=headers,
    )
    assert other.status_code == 409
    wait_for_task(client, first["task"]["taskId"])
    assert [p.text for p in twitter_site.posts] == ["retry me", "once"]


def test_timeout_fails_with_task_timeout(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    twitter_site.set_scenario(upload_delay_ms=8000)
    agent_id = logged_in_agent(client, twitter_site)
    image = upload(client, png_bytes(), "slow.png")
    task_id = post(
        client,
        agent_id,
        "too slow",
        params={"media": [{"url": image["url"], "type": "image/png"}]},
        timeoutSec=3,
    )
    task = wait_for_task(client, task_id)
    assert (task["status"], task["errorCode"]) == ("failed", "task_timeout")
    assert twitter_site.posts == []


def test_post_delay_spaces_posts_of_one_agent(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    agent_id = logged_in_agent(client, twitter_site, postDelaySec=3)
    first, second = post(client, agent_id, "paced 1"), post(client, agent_id, "paced 2")
    done_first = wait_for_task(client, first)
    waiting = task_of(client, second)
    if waiting["status"] == "pending":
        assert waiting["notBefore"] is not None
    done_second = wait_for_task(client, second)
    assert done_second["status"] == "completed"
    gap = datetime.fromisoformat(done_second["startedAt"]) - datetime.fromisoformat(
        done_first["completedAt"]
    )
    assert 3.0 <= gap.total_seconds() < 4.0


def test_scheduled_task_starts_at_its_time(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    """The runners poll the queue every 30 s here: the deferred wake-up must start the
    task on time by itself."""
    client = bredgio.client
    agent_id = logged_in_agent(client, twitter_site)
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    task_id = post(client, agent_id, "scheduled", scheduledFor=when.isoformat())
    done = wait_for_task(client, task_id)
    assert done["status"] == "completed", done
    late = datetime.fromisoformat(done["startedAt"]) - when
    assert timedelta(0) <= late < timedelta(seconds=1)


def test_runner_killed_before_publishing_retries_once(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    twitter_site.set_scenario(upload_delay_ms=5000)
    agent_id = logged_in_agent(client, twitter_site)
    image = upload(client, png_bytes(), "kill.png")
    task_id = post(
        client,
        agent_id,
        "survives a crash",
        params={"media": [{"url": image["url"], "type": "image/png"}]},
    )
    wait_until(
        lambda: task_of(client, task_id)["currentStep"] in ("attach_media", "wait_post_enabled"),
        what="the upload step",
    )
    kill_runner(bredgio)
    twitter_site.set_scenario(upload_delay_ms=300)
    task = wait_for_task(client, task_id, timeout_s=90)
    assert task["status"] == "completed", task
    assert task["attempt"] == 2
    assert [p.text for p in twitter_site.posts] == ["survives a crash"]
    assert any(e["step"] == "recover" for e in task["log"])


def test_runner_killed_after_publishing_verifies_and_never_posts_twice(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    twitter_site.set_scenario(publish_delay_ms=8000)
    agent_id = logged_in_agent(client, twitter_site)
    task_id = post(client, agent_id, "published then crashed")
    wait_until(lambda: twitter_site.posts, what="the site to record the post")
    kill_runner(bredgio)
    twitter_site.set_scenario(publish_delay_ms=0)
    task = wait_for_task(client, task_id, timeout_s=90)
    assert task["status"] == "completed", task
    (only,) = twitter_site.posts
    assert task["result"]["post"]["url"] == twitter_site.origin + only.url
    assert any(e["step"] == "verify" for e in task["log"])


def test_runner_agents_are_online_while_a_runner_lives(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    agent_id = new_agent(client, "twitter")

    def status() -> str:
        return str(client.get(f"/api/agents/{agent_id}").json()["agent"]["status"])

    assert wait_until(lambda: status() == "online", what="online")
    client.patch(f"/api/agents/{agent_id}", json={"status": "paused"})
    assert status() == "paused"
    client.patch(f"/api/agents/{agent_id}", json={"status": "online"})
    assert status() == "online"
