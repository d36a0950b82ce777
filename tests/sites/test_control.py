"""The sites' control API, ``RemoteSite`` and the command line, without a browser."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fixtures.sites import FacebookScenario, Post, RemoteSite, SiteServer
from tests.fixtures.sites.twitter import CREATE_TWEET_PATH
from tests.sites.conftest import png

REPO_ROOT = Path(__file__).resolve().parents[2]


def publish_tweet(
    site: SiteServer, text: str, images: list[tuple[str, str, bytes]]
) -> httpx.Response:
    cookies = {cookie["name"]: cookie["value"] for cookie in site.login_cookies()}
    return httpx.post(
        site.origin + CREATE_TWEET_PATH,
        data={"payload": json.dumps({"text": text})},
        files=[("media", (name, data, kind)) for name, kind, data in images],
        cookies=cookies,
    )


def test_posts_endpoint_returns_base64_and_sha256(twitter_site: SiteServer) -> None:
    image = png(9)
    response = publish_tweet(twitter_site, "a\r\nb 🍣", [("x.png", "image/png", image)])
    assert response.json()["ok"] is True

    [item] = httpx.get(twitter_site.origin + "/__test__/posts").json()["posts"]
    assert item["text"] == "a\r\nb 🍣"
    assert item["images"] == [
        {
            "filename": "x.png",
            "content_type": "image/png",
            "size": len(image),
            "sha256": hashlib.sha256(image).hexdigest(),
            "data": base64.b64encode(image).decode(),
        }
    ]
    assert item["url"] == twitter_site.posts[0].url
    assert (item["group_id"], item["status"]) == (None, "posted")


def test_remote_site_controls_a_running_site(facebook_site: SiteServer) -> None:
    remote = RemoteSite("facebook", facebook_site.origin)
    remote.set_scenario(blocked=True, groups=[{"id": "7", "name": "Seven", "approval": True}])
    scenario: FacebookScenario = facebook_site.scenario
    assert scenario.blocked == "You can't post right now"
    assert scenario.group("7") is not None and scenario.group("7").approval  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unknown scenario keys"):
        remote.set_scenario(bloked=True)
    remote.reset()
    assert facebook_site.scenario == FacebookScenario()
    assert remote.posts == []


def test_set_scenario_rejects_unknown_keys(twitter_site: SiteServer) -> None:
    with pytest.raises(ValueError, match="unknown scenario keys"):
        twitter_site.set_scenario(stacked_dialogs=True)


def test_reset_forgets_posts(twitter_site: SiteServer) -> None:
    publish_tweet(twitter_site, "to forget", [])
    assert [post.text for post in twitter_site.posts] == ["to forget"]
    twitter_site.reset()
    assert twitter_site.posts == []


def test_post_round_trips_through_json() -> None:
    post = Post("t", [("a.png", "image/png", b"\x00\x01")], "/u/status/1", None, "posted")
    assert Post.from_json(post.to_json()) == post


def test_command_line_serves_both_sites() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fixtures.sites",
            "--facebook-port",
            "0",
            "--twitter-port",
            "0",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        origins = dict(process.stdout.readline().split() for _ in range(2))
        assert set(origins) == {"facebook", "twitter"}
        assert origins["facebook"] != origins["twitter"]
        for origin in origins.values():
            assert httpx.get(origin + "/__test__/posts").json() == {"posts": []}
        login = httpx.get(origins["facebook"] + "/")
        assert login.status_code == 302
        assert login.headers["location"].startswith("/login/?next=")
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
