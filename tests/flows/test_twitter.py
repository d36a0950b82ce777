"""twitter + post, end to end in Chromium."""

from __future__ import annotations

import re

import pytest

from tests.flows.harness import FAST, LOCALES, MEDIA, Harness, media

CONTENT = "Draft.js keeps this 🍣\n第二行 中文\nsee https://example.com/a?b=1 #bredgio"
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
    await harness.login("twitter", locale)

    outcome = await harness.run("twitter", "post", {"content": CONTENT, "media": media(4, 2, 1, 3)})

    assert outcome.status == "completed", (outcome, harness.steps())
    [post] = harness.twitter.posts
    assert post.text == CONTENT
    assert [name for name, _, _ in post.images] == ["img4.png", "img2.png", "img1.png", "img3.png"]
    assert post.images[0][2] == MEDIA["/api/media-proxy/test/img4.png"][0]
    url = outcome.result and outcome.result["post"]["url"]
    assert url == harness.twitter.origin + post.url
    assert re.fullmatch(re.escape(harness.twitter.origin) + r"/ada_bredgio/status/\d+", url)
    assert harness.steps() == [(step, "ok") for step in POST_STEPS]
    assert outcome.passed_point_of_no_return
    lang = await harness.page.locator("html").get_attribute("lang")
    assert lang == ("zh-Hant" if locale == "zh-TW" else "en")


async def test_post_text_only_with_cookie_bar(harness: Harness) -> None:
    harness.twitter.set_scenario(cookie_bar=True)
    await harness.login("twitter")

    outcome = await harness.run("twitter", "post", {"content": "no pictures\n\nat all"})

    assert outcome.status == "completed", harness.steps()
    assert [p.text for p in harness.twitter.posts] == ["no pictures\n\nat all"]
    assert ("dismiss_cookies", "ok") in harness.steps()


@pytest.mark.parametrize("locale", LOCALES)
async def test_post_logged_out_is_x_login_required(harness: Harness, locale: str) -> None:
    await harness.set_locale(locale)

    outcome = await harness.run("twitter", "post", {"content": "hi"})

    assert (outcome.status, outcome.error_code) == ("failed", "x_login_required")
    assert harness.error_entry().step == "check_login"
    assert not outcome.passed_point_of_no_return


@pytest.mark.parametrize(
    ("scenario", "code"),
    [({"rate_limited": True}, "x_rate_limited"), ({"generic_error": True}, "x_unknown")],
    ids=["rate-limited", "generic"],
)
@pytest.mark.parametrize("locale", LOCALES)
async def test_post_error_toasts(
    harness: Harness, locale: str, scenario: dict[str, bool], code: str
) -> None:
    harness.twitter.set_scenario(**scenario)
    await harness.login("twitter", locale)

    outcome = await harness.run("twitter", "post", {"content": "over the limit"})

    assert (outcome.status, outcome.error_code) == ("failed", code)
    assert outcome.passed_point_of_no_return
    assert harness.error_entry().step == "extract_post_url"
    assert harness.twitter.posts == []


@pytest.mark.parametrize("locale", LOCALES)
async def test_post_duplicate_is_x_duplicate(harness: Harness, locale: str) -> None:
    await harness.login("twitter", locale)
    first = await harness.run("twitter", "post", {"content": "same words"})

    second = await harness.run("twitter", "post", {"content": "same words"})

    assert first.status == "completed"
    assert (second.status, second.error_code) == ("failed", "x_duplicate")
    assert len(harness.twitter.posts) == 1


@pytest.mark.parametrize(
    ("css", "code", "step"),
    [
        (
            '[data-testid="tweetTextarea_0"] { display: none !important; }',
            "x_textbox_not_found",
            "click_compose type_content",
        ),
        (
            '[data-testid^="tweetButton"] { display: none !important; }',
            "x_post_button_not_found",
            "wait_post_enabled",
        ),
    ],
    ids=["textbox", "post-button"],
)
@pytest.mark.parametrize("locale", LOCALES)
async def test_post_missing_controls(
    harness: Harness, locale: str, css: str, code: str, step: str
) -> None:
    await harness.login("twitter", locale)
    await harness.add_style(css)

    outcome = await harness.run("twitter", "post", {"content": "hi"}, timeouts=FAST)

    assert (outcome.status, outcome.error_code) == ("failed", code), harness.steps()
    assert outcome.step in step.split()
    assert harness.twitter.posts == []


async def test_more_than_four_images_is_refused_before_opening_anything(harness: Harness) -> None:
    outcome = await harness.run("twitter", "post", {"content": "x", "media": media(1, 2, 3, 4, 5)})
    assert (outcome.status, outcome.error_code) == ("failed", "invalid_params")
    assert harness.page.url == "about:blank"


async def test_verify_finds_the_post_on_the_profile(harness: Harness) -> None:
    await harness.login("twitter")
    params = {"content": "verify on X\nplease"}
    missing = await harness.verify("twitter", "post", params, timeouts=FAST)
    assert (missing.status, missing.error_code) == ("failed", "outcome_unknown")

    outcome = await harness.run("twitter", "post", params)
    verified = await harness.verify("twitter", "post", params)

    assert verified.status == "completed"
    assert verified.result == outcome.result
