"""Scale-out faults with real processes on PostgreSQL and a real Redis: runners competing
for one agent, runners killed or stopped mid-task, Redis losing everything. Nothing is
lost, nothing is published twice, one agent's browser runs in one runner at a time."""

from __future__ import annotations

import itertools
import time
from datetime import datetime

from profiles.processes import processes_for_profile
from tests.fleet.conftest import Fleet, wait_until
from tests.helpers import png_bytes


def _intervals(tasks: list[dict[str, object]]) -> list[tuple[datetime, datetime]]:
    return [
        (datetime.fromisoformat(str(t["startedAt"])), datetime.fromisoformat(str(t["completedAt"])))
        for t in tasks
    ]


def test_two_runners_take_turns_at_one_agent(fleet: Fleet) -> None:
    """Six posts to one agent in three waves with both runners up. Each wave after the
    first goes to the runner that does not hold the agent's warm browser (the holder is
    stopped with SIGSTOP until the other one claimed the wave), so the profile changes
    hands every wave: posts stay in order, once each, one task at a time, and never do
    both runners' Chromium run on the profile at once."""
    fleet.start_runners(2)
    agent_id = fleet.new_agent()
    texts = [f"shared agent post {n}" for n in range(1, 7)]
    task_ids: list[str] = []
    with fleet.watch_profile(agent_id) as watcher:
        for wave in (texts[:2], texts[2:4], texts[4:]):
            holder = fleet.runner_of(task_ids[-1]) if task_ids else None
            if holder is None:
                wave_ids = [fleet.post(agent_id, text) for text in wave]
            else:
                with fleet.paused(holder):
                    wave_ids = [fleet.post(agent_id, text) for text in wave]
                    fleet.wait_claimed(wave_ids[0])
            task_ids += wave_ids
            fleet.wait_for_tasks(wave_ids)

    tasks = [fleet.task(task_id) for task_id in task_ids]
    assert [t["status"] for t in tasks] == ["completed"] * 6, tasks
    assert [p.text for p in fleet.site.posts] == texts
    spans = sorted(_intervals(tasks))
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, spans
    assert watcher.samples > 50
    assert watcher.violations == [], watcher.violations[:3]
    # The profile went runner A -> B -> A (plus any extra turns the drains took).
    assert len(watcher.holders) >= 3 and "orphan" not in watcher.holders, watcher.holders
    assert len(set(fleet.runner_ids(task_ids).values())) == 2


def test_an_agents_tasks_follow_its_warm_browser(fleet: Fleet) -> None:
    """Posts dispatched one at a time: each wake-up lands in either runner, and the one
    that does not hold the agent's browser forwards it to the one that does, so every
    post runs in the same runner and the browser is never relaunched elsewhere (by
    chance alone, six in one runner happen about one time in 32)."""
    fleet.start_runners(2)
    agent_id = fleet.new_agent()
    task_ids = []
    for n in range(6):
        task_ids.append(fleet.post(agent_id, f"stays warm {n}"))
        (task,) = fleet.wait_for_tasks(task_ids[-1:])
        assert task["status"] == "completed", task
    assert len(set(fleet.runner_ids(task_ids).values())) == 1, fleet.runner_ids(task_ids)
    assert [p.text for p in fleet.site.posts] == [f"stays warm {n}" for n in range(6)]


def test_max_running_caps_the_tasks_a_runner_runs_at_once(fleet: Fleet) -> None:
    """With BREDGIO_RUNNER_MAX_RUNNING=1, three agents' posts dispatched together run one
    at a time, oldest first, each agent's in order; the three browsers stay warm."""
    (runner,) = fleet.start_runners(1, BREDGIO_RUNNER_MAX_RUNNING="1")
    agents = fleet.new_agents(3)
    texts = {agent_id: [f"{agent_id}: capped {n}" for n in range(3)] for agent_id in agents}
    task_ids = [fleet.post(agent_id, texts[agent_id][n]) for n in range(3) for agent_id in agents]
    tasks = fleet.wait_for_tasks(task_ids)
    assert [t["status"] for t in tasks] == ["completed"] * len(tasks), tasks
    spans = sorted(_intervals(tasks))
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, spans
    # Oldest first: the tasks started in the order they were dispatched.
    started = sorted(task_ids, key=lambda task_id: fleet.task(task_id)["startedAt"])
    assert started == task_ids
    posted = [p.text for p in fleet.site.posts]
    for agent_id, mine in texts.items():
        assert [text for text in posted if text.startswith(agent_id)] == mine
    # Waiting for a turn did not cost an agent its browser.
    for agent_id in agents:
        assert processes_for_profile(fleet.profile_dir(agent_id)), agent_id
    assert runner.alive


def test_profile_operations_reach_an_agent_warm_in_either_runner(fleet: Fleet) -> None:
    """Cookie exports and login checks land in whichever runner polls first; the one
    that does not hold the agent's warm browser gets the profile handed over."""
    fleet.start_runners(2)
    agent_id = fleet.new_agent()
    (task,) = fleet.wait_for_tasks([fleet.post(agent_id, "warm it up")])
    assert task["status"] == "completed", task
    for _ in range(6):
        exported = fleet.client.get(f"/api/agents/{agent_id}/cookies", timeout=60)
        assert exported.status_code == 200, exported.text
        assert exported.json()["cookies"], exported.json()
        checked = fleet.client.post(f"/api/agents/{agent_id}/login-check", timeout=60)
        assert checked.status_code == 200, checked.text
    (task,) = fleet.wait_for_tasks([fleet.post(agent_id, "still posts")])
    assert task["status"] == "completed", task


def test_runner_killed_before_publishing_is_retried_by_the_other(fleet: Fleet) -> None:
    fleet.start_runners(2)
    agent_id = fleet.new_agent()
    fleet.site.set_scenario(upload_delay_ms=6000)
    image = fleet.upload_image(png_bytes())
    task_id = fleet.post(agent_id, "survives its runner", image)
    fleet.wait_for_step(task_id, "attach_media", "wait_post_enabled")
    victim = fleet.runner_of(task_id)
    fleet.kill(victim)
    fleet.site.set_scenario(upload_delay_ms=300)
    (task,) = fleet.wait_for_tasks([task_id])
    assert task["status"] == "completed", task
    assert task["attempt"] == 2
    assert any(entry["step"] == "recover" for entry in task["log"])
    assert [p.text for p in fleet.site.posts] == ["survives its runner"]
    assert fleet.runner_of(task_id) is not victim


def test_runner_killed_after_publishing_is_verified_by_the_other(fleet: Fleet) -> None:
    fleet.start_runners(2)
    agent_id = fleet.new_agent()
    fleet.site.set_scenario(publish_delay_ms=8000)
    task_id = fleet.post(agent_id, "published, then its runner died")
    wait_until(lambda: fleet.site.posts, 60, "the site to record the post")
    victim = fleet.runner_of(task_id)
    fleet.kill(victim)
    fleet.site.set_scenario(publish_delay_ms=0)
    (task,) = fleet.wait_for_tasks([task_id])
    assert task["status"] == "completed", task
    (only,) = fleet.site.posts
    assert only.text == "published, then its runner died"
    assert task["result"]["post"]["url"] == fleet.site.origin + only.url
    assert any(entry["step"] == "verify" for entry in task["log"])
    assert fleet.runner_of(task_id) is not victim


def test_redis_restart_loses_no_task(fleet: Fleet) -> None:
    """Redis dies (SIGKILL) while tasks run and wait, and comes back empty: the runners
    carry on, the reconciler re-sends the lost wake-ups, every post is made once."""
    fleet.start_runners(2)
    *busy, idle = fleet.new_agents(3)
    fleet.site.set_scenario(upload_delay_ms=800)
    image = fleet.upload_image(png_bytes())
    texts: dict[str, list[str]] = {agent_id: [] for agent_id in [*busy, idle]}
    task_ids: list[str] = []

    def post(agent_id: str, text: str, with_image: bool = True) -> None:
        texts[agent_id].append(text)
        task_ids.append(fleet.post(agent_id, text, image if with_image else None))

    for n in range(4):
        for agent_id in busy:
            post(agent_id, f"{agent_id}: before the outage {n}")
    wait_until(
        lambda: [fleet.task(t)["status"] for t in task_ids].count("running") == 2,
        30,
        "both busy agents to run a task",
    )
    fleet.redis.kill()
    # Committed while Redis is down: the API cannot send their wake-ups.
    post(idle, f"{idle}: during the outage 1", with_image=False)
    post(idle, f"{idle}: during the outage 2", with_image=False)
    outage_ids = task_ids[-2:]
    time.sleep(1.0)  # the outage
    fleet.redis.start()
    # Nothing but the reconciler can wake these: Redis never got their wake-ups.
    fleet.wait_for_tasks(outage_ids)
    # And the runners still take new work.
    for agent_id in [*busy, idle]:
        post(agent_id, f"{agent_id}: after the outage", with_image=False)

    tasks = fleet.wait_for_tasks(task_ids, timeout_s=120)
    assert [t["status"] for t in tasks] == ["completed"] * len(tasks), tasks
    posted = [p.text for p in fleet.site.posts]
    assert sorted(posted) == sorted(text for mine in texts.values() for text in mine)
    for agent_id, mine in texts.items():
        assert [text for text in posted if text.startswith(agent_id)] == mine
    assert all(runner.alive for runner in fleet.runners)


def test_sigterm_hands_the_task_back_to_the_other_runner(fleet: Fleet) -> None:
    fleet.start_runners(2)
    agent_id = fleet.new_agent()
    fleet.site.set_scenario(upload_delay_ms=6000)
    image = fleet.upload_image(png_bytes())
    task_id = fleet.post(agent_id, "handed back on shutdown", image)
    fleet.wait_for_step(task_id, "attach_media", "wait_post_enabled")
    leaving = fleet.runner_of(task_id)
    fleet.site.set_scenario(upload_delay_ms=300)
    assert fleet.terminate(leaving) == 0
    # A clean exit closes its browsers: no Chromium is left without a runner.
    assert fleet.orphaned_chromium() == []
    (task,) = fleet.wait_for_tasks([task_id])
    assert task["status"] == "completed", task
    assert [p.text for p in fleet.site.posts] == ["handed back on shutdown"]
    steps = [entry["step"] for entry in task["log"]]
    assert "shutdown" in steps and "recover" not in steps, steps
    assert task["attempt"] == 1
    assert fleet.runner_of(task_id) is not leaving


def test_runner_agents_are_online_while_a_runner_is_up(fleet: Fleet) -> None:
    created = fleet.client.post("/api/agents", json={"name": "presence", "platforms": ["twitter"]})
    agent_id = created.json()["agent"]["agentId"]

    def status() -> str:
        agents = fleet.client.get("/api/agents").json()["agents"]
        return str(next(a["status"] for a in agents if a["agentId"] == agent_id))

    # A runner killed by an earlier test counts as live for a few more seconds.
    wait_until(lambda: status() == "offline", 30, "no runner to be up", every_s=0.2)
    (runner,) = fleet.start_runners(1)
    wait_until(lambda: status() == "online", 30, "the agent to show online")
    assert fleet.terminate(runner) == 0
    wait_until(lambda: status() == "offline", 30, "the agent to show offline", every_s=0.2)
