"""End to end through the API: create agent → import cookies → dispatch → the runner
posts on the look-alike site → the task is completed with the post's URL."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import httpx

from tests.e2e.conftest import Bredgio
from tests.fixtures.sites.server import SiteServer, login_cookies
from tests.helpers import png_bytes

TERMINAL = {"completed", "failed", "cancelled"}


def wait_for_task(client: httpx.Client, task_id: str, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task = client.get(f"/api/tasks/{task_id}").json()["task"]
        if task["status"] in TERMINAL:
            return dict(task)
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish: {task}")


def api_cookies(platform: str, origin: str) -> list[dict[str, Any]]:
    return [
        {"name": c["name"], "value": c["value"], "domain": "127.0.0.1", "path": "/"}
        for c in login_cookies(platform, origin)  # type: ignore[arg-type]
    ]


def new_agent(client: httpx.Client, *platforms: str) -> str:
    response = client.post("/api/agents", json={"name": "e2e", "platforms": list(platforms)})
    return str(response.json()["agent"]["agentId"])


def upload(client: httpx.Client, data: bytes, name: str) -> dict[str, Any]:
    response = client.post("/api/media/upload", files={"file": (name, data, "image/png")})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_x_post_with_images_end_to_end(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    agent_id = new_agent(client, "twitter")
    imported = client.post(
        f"/api/agents/{agent_id}/cookies",
        json={"cookies": api_cookies("twitter", twitter_site.origin)},
    )
    assert imported.json() == {"success": True, "imported": 2, "rejected": []}
    check = client.post(f"/api/agents/{agent_id}/login-check").json()
    assert check["platforms"] == [
        {"platform": "twitter", "loggedIn": True, "reason": "cookie auth_token, ct0 present"}
    ]

    first, second = png_bytes(rgb=(255, 0, 0)), png_bytes(rgb=(0, 0, 255))
    media = [upload(client, first, "a.png"), upload(client, second, "b.png")]
    content = "Hello from Bredgio 🍣\n第二行 https://example.com/x"
    task_id = client.post(
        f"/api/agents/{agent_id}/command",
        json={
            "action": "post",
            "platform": "twitter",
            "params": {
                "content": content,
                "media": [{"url": m["url"], "type": m["type"]} for m in media],
            },
        },
    ).json()["task"]["taskId"]

    task = wait_for_task(client, task_id)
    assert task["status"] == "completed", task
    (post,) = twitter_site.posts
    assert post.text == content
    assert [data for _, _, data in post.images] == [first, second]
    assert task["result"]["post"]["url"] == twitter_site.origin + post.url
    steps = [entry["step"] for entry in task["log"]]
    assert "submit" in steps and all(e["status"] != "error" for e in task["log"])

    trace = client.get(f"/api/tasks/{task_id}/trace")
    assert trace.status_code == 200
    assert trace.content[:2] == b"PK"


def snapshots_in_trace(client: httpx.Client, task_id: str) -> int:
    """How many DOM snapshots the task's Playwright trace holds."""
    response = client.get(f"/api/tasks/{task_id}/trace")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        events = archive.read("trace.trace").decode().splitlines()
    actions = [json.loads(line) for line in events if '"before"' in line]
    assert actions, "the trace records the task's actions"
    return sum(json.loads(line)["type"] == "frame-snapshot" for line in events)


def test_traces_take_dom_snapshots_after_a_failure_until_a_task_completes(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    """BREDGIO_RUNNER_TRACE_SNAPSHOTS=after_failure (the default): a plain trace while
    all goes well, the page at every step once something went wrong."""
    client = bredgio.client
    agent_id = new_agent(client, "twitter")

    def post(content: str) -> dict[str, Any]:
        task_id = client.post(
            f"/api/agents/{agent_id}/command",
            json={"action": "post", "platform": "twitter", "params": {"content": content}},
        ).json()["task"]["taskId"]
        return wait_for_task(client, task_id)

    client.patch(f"/api/agents/{agent_id}", json={"config": {"postDelaySec": 0}})
    failed = post("logged out")
    assert failed["errorCode"] == "x_login_required", failed
    assert snapshots_in_trace(client, failed["taskId"]) == 0

    client.post(
        f"/api/agents/{agent_id}/cookies",
        json={"cookies": api_cookies("twitter", twitter_site.origin)},
    )
    retry = client.post(f"/api/tasks/{failed['taskId']}/retry").json()["task"]["taskId"]
    retried = wait_for_task(client, retry)
    assert retried["status"] == "completed", retried
    assert snapshots_in_trace(client, retry) > 0

    after = post("all well again")
    assert after["status"] == "completed", after
    assert snapshots_in_trace(client, after["taskId"]) == 0


def test_facebook_post_end_to_end(
    bredgio: Bredgio, facebook_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    agent_id = new_agent(client, "facebook")
    client.post(
        f"/api/agents/{agent_id}/cookies",
        json={"cookies": api_cookies("facebook", facebook_site.origin)},
    )
    image = png_bytes(rgb=(10, 200, 10))
    media = upload(client, image, "green.png")
    content = "Today\u2019s new menu 🍣\n今日菜單"
    task_id = client.post(
        f"/api/agents/{agent_id}/command",
        json={
            "action": "post",
            "platform": "facebook",
            "params": {"content": content, "media": [{"url": media["url"], "type": "image/png"}]},
        },
    ).json()["task"]["taskId"]
    task = wait_for_task(client, task_id)
    assert task["status"] == "completed", task
    (post,) = facebook_site.posts
    assert post.text == content
    assert [data for _, _, data in post.images] == [image]
    assert task["result"]["post"]["url"].startswith(facebook_site.origin + post.url)


def test_logged_out_agent_fails_with_code_and_screenshot(
    bredgio: Bredgio, facebook_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    agent_id = new_agent(client, "facebook")
    check = client.post(f"/api/agents/{agent_id}/login-check").json()
    assert check["platforms"][0]["loggedIn"] is False
    task_id = client.post(
        f"/api/agents/{agent_id}/command",
        json={"action": "post", "platform": "facebook", "params": {"content": "nope"}},
    ).json()["task"]["taskId"]
    task = wait_for_task(client, task_id)
    assert task["status"] == "failed"
    assert task["errorCode"] == "fb_login_required"
    assert facebook_site.posts == []
    failing = [i for i, e in enumerate(task["log"]) if e["status"] == "error"]
    assert failing and task["log"][failing[-1]]["errorCode"] == "fb_login_required"
    shot = client.get(f"/api/tasks/{task_id}/steps/{failing[-1]}/screenshot")
    assert shot.status_code == 200
    assert shot.headers["content-type"] == "image/png"
    assert shot.content.startswith(b"\x89PNG")
    assert client.get(f"/api/tasks/{task_id}/steps/0/screenshot").status_code in (200, 404)


def test_unshipped_action_fails_not_implemented(bredgio: Bredgio, reset_sites: None) -> None:
    client = bredgio.client
    agent_id = new_agent(client, "facebook")
    task_id = client.post(
        f"/api/agents/{agent_id}/command",
        json={"action": "search", "platform": "facebook", "params": {"query": "bredgio"}},
    ).json()["task"]["taskId"]
    task = wait_for_task(client, task_id)
    assert (task["status"], task["errorCode"]) == ("failed", "action_not_implemented")


def test_tasks_of_one_agent_run_in_order(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    client = bredgio.client
    agent_id = new_agent(client, "twitter")
    # Order is the point here; pacing (postDelaySec, 60 s by default) has tests of its own.
    client.patch(f"/api/agents/{agent_id}", json={"config": {"postDelaySec": 0}})
    client.post(
        f"/api/agents/{agent_id}/cookies",
        json={"cookies": api_cookies("twitter", twitter_site.origin)},
    )
    ids = [
        client.post(
            f"/api/agents/{agent_id}/command",
            json={"action": "post", "platform": "twitter", "params": {"content": f"post {i}"}},
        ).json()["task"]["taskId"]
        for i in range(3)
    ]
    tasks = [wait_for_task(client, task_id) for task_id in ids]
    assert [t["status"] for t in tasks] == ["completed"] * 3
    assert [p.text for p in twitter_site.posts] == ["post 0", "post 1", "post 2"]
    starts = [t["startedAt"] for t in tasks]
    assert starts == sorted(starts)


def test_cookies_export_and_survive_a_runner_restart(
    bredgio: Bredgio, twitter_site: SiteServer, reset_sites: None
) -> None:
    import os
    import signal

    client = bredgio.client
    agent_id = new_agent(client, "twitter")
    client.post(
        f"/api/agents/{agent_id}/cookies",
        json={"cookies": api_cookies("twitter", twitter_site.origin)},
    )
    exported = client.get(f"/api/agents/{agent_id}/cookies").json()["cookies"]
    assert {c["name"] for c in exported} >= {"auth_token", "ct0"}

    runners = [
        int(pid)
        for pid in os.popen(f"pgrep -P {bredgio.process.pid} -f 'api.cli runner'").read().split()
    ]
    assert runners, "no runner process under bredgio up"
    for pid in runners:
        os.kill(pid, signal.SIGKILL)
    time.sleep(1.5)
    deadline = time.monotonic() + 60
    while True:
        response = client.get(f"/api/agents/{agent_id}/cookies")
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert {c["name"] for c in response.json()["cookies"]} >= {"auth_token", "ct0"}
