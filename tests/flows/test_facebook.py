# ruff: noqa: RUF001 -- posts carry typographic and full-width characters on purpose.
"""facebook + post and facebook + post-to-groups, end to end in Chromium."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.sites import (
    FACEBOOK_BLOCK_TEXTS,
    GROUP_CLOSED_CIRCLE,
    GROUP_PYTHON_TAIPEI,
    GROUP_PYTHON_WORLDWIDE,
    GROUP_RUST_LOVERS,
)
from tests.flows.harness import FAST, LOCALES, MEDIA, Harness, media

CONTENT = "Today’s new menu 🍣\n\n第二行：中文 😀\nhttps://example.com/menu — see you!"
POST_STEPS = [
    "navigate",
    "check_login",
    "click_compose",
    "type_content",
    "attach_media",
    "wait_post_enabled",
    "submit",
    "extract_post_url",
]


@pytest.mark.parametrize("locale", LOCALES)
async def test_post_publishes_exact_text_and_images_in_order(harness: Harness, locale: str) -> None:
    await harness.login("facebook", locale)

    outcome = await harness.run("facebook", "post", {"content": CONTENT, "media": media(3, 1, 2)})

    assert outcome.status == "completed", (outcome, harness.steps())
    [post] = harness.facebook.posts
    assert post.text == CONTENT
    assert [(name, data) for name, _, data in post.images] == [
        ("img3.png", MEDIA["/api/media-proxy/test/img3.png"][0]),
        ("img1.png", MEDIA["/api/media-proxy/test/img1.png"][0]),
        ("img2.png", MEDIA["/api/media-proxy/test/img2.png"][0]),
    ]
    assert outcome.result == {"post": {"url": harness.facebook.origin + post.url}}
    assert "/posts/pfbid" in post.url
    assert outcome.passed_point_of_no_return and harness.sink.passed_point_of_no_return
    assert harness.steps() == [(step, "ok") for step in POST_STEPS]
    last = harness.sink.entries[-1]
    assert last.data is not None and last.data["url"] == outcome.result["post"]["url"]
    assert all(isinstance(e.data and e.data["durationMs"], int) for e in harness.sink.entries)
    lang = await harness.page.locator("html").get_attribute("lang")
    assert lang == ("zh-Hant" if locale == "zh-TW" else "en")


@pytest.mark.parametrize(
    "scenario",
    [
        {"layout": "aria"},
        {"stacked_dialogs": True},
        {"next_first": True},
        {"cookie_banner": True},
        {"stacked_dialogs": True, "next_first": True, "cookie_banner": True, "layout": "aria"},
    ],
    ids=["aria", "stacked", "next-first", "cookie-banner", "all"],
)
@pytest.mark.parametrize("locale", LOCALES)
async def test_post_survives_layout_variants(
    harness: Harness, locale: str, scenario: dict[str, object]
) -> None:
    harness.facebook.set_scenario(**scenario)
    await harness.login("facebook", locale)

    outcome = await harness.run("facebook", "post", {"content": f"Variant {scenario}\nline 2"})

    assert outcome.status == "completed", (outcome, harness.steps())
    [post] = harness.facebook.posts
    assert post.text == f"Variant {scenario}\nline 2"
    assert outcome.result == {"post": {"url": harness.facebook.origin + post.url}}
    steps = [step for step, _ in harness.steps()]
    assert ("dismiss_cookies" in steps) == bool(scenario.get("cookie_banner"))


async def test_post_never_types_into_a_comment_box(harness: Harness) -> None:
    """The feed's articles hold comment editors too; only the dialog's editor counts."""
    await harness.login("facebook")
    first = await harness.run("facebook", "post", {"content": "first"})
    second = await harness.run("facebook", "post", {"content": "second"})

    assert first.status == second.status == "completed"
    assert [p.text for p in harness.facebook.posts] == ["first", "second"]
    assert first.result != second.result
    comments = await harness.page.locator('[role="article"] [role="article"]').count()
    assert comments == 0


@pytest.mark.parametrize("locale", LOCALES)
async def test_post_logged_out_is_fb_login_required(harness: Harness, locale: str) -> None:
    await harness.set_locale(locale)

    outcome = await harness.run("facebook", "post", {"content": "hi"})

    assert (outcome.status, outcome.error_code) == ("failed", "fb_login_required")
    assert not outcome.passed_point_of_no_return
    assert harness.error_entry().step == "check_login"
    assert harness.error_entry().error_code == "fb_login_required"
    assert harness.facebook.posts == []


@pytest.mark.parametrize("locale", LOCALES)
async def test_post_checkpoint_is_fb_checkpoint(harness: Harness, locale: str) -> None:
    harness.facebook.set_scenario(checkpoint=True)
    await harness.login("facebook", locale)

    outcome = await harness.run("facebook", "post", {"content": "hi"})

    assert (outcome.status, outcome.error_code) == ("failed", "fb_checkpoint")
    assert harness.facebook.posts == []


@pytest.mark.parametrize("text", FACEBOOK_BLOCK_TEXTS)
@pytest.mark.parametrize("locale", LOCALES)
async def test_post_blocked_is_fb_post_blocked(harness: Harness, locale: str, text: str) -> None:
    harness.facebook.set_scenario(blocked=text)
    await harness.login("facebook", locale)

    outcome = await harness.run("facebook", "post", {"content": "blocked?"})

    assert (outcome.status, outcome.error_code) == ("failed", "fb_post_blocked")
    assert outcome.error_message is not None and text.rstrip("…") in outcome.error_message
    assert outcome.passed_point_of_no_return
    assert harness.error_entry().step == "extract_post_url"


@pytest.mark.parametrize(
    ("css", "code", "step"),
    [
        (
            "[data-composer-entry] { display: none !important; }",
            "fb_compose_not_found",
            "click_compose",
        ),
        (
            '[role="dialog"] [contenteditable] { display: none !important; }',
            "fb_textbox_not_found",
            "type_content",
        ),
        (
            '[role="dialog"] [data-action="post"] { display: none !important; }',
            "fb_post_button_not_found",
            "wait_post_enabled",
        ),
    ],
    ids=["compose", "textbox", "post-button"],
)
@pytest.mark.parametrize("locale", LOCALES)
async def test_post_missing_controls(
    harness: Harness, locale: str, css: str, code: str, step: str
) -> None:
    await harness.login("facebook", locale)
    await harness.add_style(css)

    outcome = await harness.run("facebook", "post", {"content": "hi"}, timeouts=FAST)

    assert (outcome.status, outcome.error_code) == ("failed", code), harness.steps()
    assert outcome.step == step
    assert not outcome.passed_point_of_no_return
    assert harness.facebook.posts == []


async def test_post_that_never_appears_is_fb_unknown(harness: Harness) -> None:
    """Post clicked, the site swallowed it: past the point of no return, no URL."""
    await harness.login("facebook")
    await harness.context.add_init_script(
        "const f = window.fetch; window.fetch = (u, o) => String(u).includes('/api/graphql/')"
        " ? Promise.resolve(new Response(JSON.stringify({ok: true, status: 'posted',"
        " article_html: '<div></div>'}))) : f(u, o);"
    )

    outcome = await harness.run("facebook", "post", {"content": "vanishing"}, timeouts=FAST)

    assert (outcome.status, outcome.error_code) == ("failed", "fb_unknown")
    assert outcome.passed_point_of_no_return


async def test_post_verify_finds_the_published_post(harness: Harness) -> None:
    await harness.login("facebook")
    params = {"content": "verify me\nplease 🍣"}
    missing = await harness.verify("facebook", "post", params, timeouts=FAST)
    assert (missing.status, missing.error_code) == ("failed", "outcome_unknown")

    outcome = await harness.run("facebook", "post", params)
    verified = await harness.verify("facebook", "post", params)

    assert verified.status == "completed"
    assert verified.result == outcome.result
    assert len(harness.facebook.posts) == 1


# -- post-to-groups ---------------------------------------------------------------------


def group(harness: Harness, group_id: str) -> str:
    return f"{harness.facebook.origin}/groups/{group_id}/"


@pytest.mark.parametrize("locale", LOCALES)
async def test_groups_by_topic(harness: Harness, locale: str) -> None:
    await harness.login("facebook", locale)
    params = {"content": "Python meetup 🐍\n週五見", "topic": "PYTHON", "intervalSec": 0}

    outcome = await harness.run("facebook", "post-to-groups", params)

    assert outcome.status == "completed", (outcome, harness.steps())
    posts = harness.facebook.posts
    assert [(p.group_id, p.status, p.text) for p in posts] == [
        (GROUP_PYTHON_TAIPEI, "posted", params["content"]),
        (GROUP_PYTHON_WORLDWIDE, "pending_approval", params["content"]),
    ]
    assert outcome.result == {
        "groups": [
            {
                "url": group(harness, GROUP_PYTHON_TAIPEI),
                "name": "Python Taipei",
                "status": "posted",
                "postUrl": harness.facebook.origin + posts[0].url,
            },
            {
                "url": group(harness, GROUP_PYTHON_WORLDWIDE),
                "name": "Python Developers Worldwide",
                "status": "pending_approval",
            },
        ]
    }
    assert [(a.result, a.target_name) for a in harness.sink.attempts] == [
        ("sent", "Python Taipei"),
        ("sent", "Python Developers Worldwide"),
    ]
    assert harness.steps()[0] == ("resolve_groups", "ok")


async def test_groups_max_groups_and_interval(harness: Harness) -> None:
    await harness.login("facebook")
    params = {
        "content": "spaced out",
        "groupUrls": [
            group(harness, GROUP_PYTHON_TAIPEI),
            f"https://www.facebook.com/groups/{GROUP_RUST_LOVERS}/?ref=share",
            GROUP_PYTHON_WORLDWIDE,
        ],
        "maxGroups": 2,
        "intervalSec": 1,
    }
    started = time.monotonic()

    outcome = await harness.run("facebook", "post-to-groups", params)

    assert outcome.status == "completed", harness.steps()
    assert time.monotonic() - started >= 1
    assert [p.group_id for p in harness.facebook.posts] == [GROUP_PYTHON_TAIPEI, GROUP_RUST_LOVERS]
    assert outcome.result is not None
    assert [g["status"] for g in outcome.result["groups"]] == ["posted", "posted", "skipped"]
    assert [a.result for a in harness.sink.attempts] == ["skipped", "sent", "sent"]
    assert ("wait_interval", "ok") in harness.steps()


@pytest.mark.parametrize("locale", LOCALES)
async def test_groups_not_a_member_and_group_block(harness: Harness, locale: str) -> None:
    """One group refuses, one is blocked (its draft left behind must not block leaving
    the page: beforeunload), one takes the post."""
    harness.facebook.set_scenario(blocked_group_ids=[GROUP_PYTHON_TAIPEI])
    await harness.login("facebook", locale)
    params = {
        "content": "three groups",
        "groupUrls": [GROUP_CLOSED_CIRCLE, GROUP_PYTHON_TAIPEI, GROUP_RUST_LOVERS],
        "intervalSec": 0,
    }

    outcome = await harness.run("facebook", "post-to-groups", params)

    assert outcome.status == "completed", harness.steps()
    assert outcome.result is not None
    assert [(g["status"], g.get("errorCode")) for g in outcome.result["groups"]] == [
        ("failed", "fb_not_group_member"),
        ("failed", "fb_post_blocked"),
        ("posted", None),
    ]
    assert outcome.result["groups"][0]["name"] == "Closed Python Circle"
    assert [p.group_id for p in harness.facebook.posts] == [GROUP_RUST_LOVERS]
    assert [a.result for a in harness.sink.attempts] == ["failed", "failed", "sent"]


async def test_groups_all_refused_still_reports_each(harness: Harness) -> None:
    await harness.login("facebook")
    outcome = await harness.run(
        "facebook", "post-to-groups", {"content": "x", "groupUrls": [GROUP_CLOSED_CIRCLE]}
    )
    assert outcome.status == "completed"
    assert outcome.result is not None
    assert outcome.result["groups"][0]["errorCode"] == "fb_not_group_member"


async def test_groups_topic_without_match_is_fb_not_group_member(harness: Harness) -> None:
    await harness.login("facebook")
    outcome = await harness.run(
        "facebook", "post-to-groups", {"content": "x", "topic": "knitting"}, timeouts=FAST
    )
    assert (outcome.status, outcome.error_code) == ("failed", "fb_not_group_member")


@pytest.mark.parametrize(
    ("scenario", "cookies", "code"),
    [({}, False, "fb_login_required"), ({"checkpoint": True}, True, "fb_checkpoint")],
    ids=["login", "checkpoint"],
)
async def test_groups_account_problem_fails_the_task(
    harness: Harness, scenario: dict[str, object], cookies: bool, code: str
) -> None:
    harness.facebook.set_scenario(**scenario)
    if cookies:
        await harness.login("facebook")
    params = {"content": "x", "groupUrls": [GROUP_PYTHON_TAIPEI, GROUP_RUST_LOVERS]}

    outcome = await harness.run("facebook", "post-to-groups", params)

    assert (outcome.status, outcome.error_code) == ("failed", code)
    assert outcome.result is not None
    assert [g["status"] for g in outcome.result["groups"]] == ["failed", "skipped"]
    assert [a.result for a in harness.sink.attempts] == ["failed", "skipped"]


async def test_groups_account_block_stops_after_the_first(harness: Harness) -> None:
    harness.facebook.set_scenario(blocked="You're temporarily blocked")
    await harness.login("facebook")
    params = {"content": "x", "groupUrls": [GROUP_PYTHON_TAIPEI, GROUP_RUST_LOVERS]}

    outcome = await harness.run("facebook", "post-to-groups", params)

    assert (outcome.status, outcome.error_code) == ("failed", "fb_post_blocked")
    assert outcome.passed_point_of_no_return


async def test_groups_verify(harness: Harness) -> None:
    await harness.login("facebook")
    params = {"content": "verify groups", "groupUrls": [GROUP_PYTHON_TAIPEI, GROUP_RUST_LOVERS]}
    outcome = await harness.run("facebook", "post-to-groups", {**params, "intervalSec": 0})
    assert outcome.status == "completed" and outcome.result is not None

    verified = await harness.verify("facebook", "post-to-groups", params)

    assert verified.status == "completed"
    assert verified.result is not None
    urls = [g["postUrl"] for g in outcome.result["groups"]]
    assert [g["postUrl"] for g in verified.result["groups"]] == urls
    assert verified.result["post"] == {"url": urls[0]}
