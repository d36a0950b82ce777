"""Browser settings and profile paths: what the API accepts and how it is normalised."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from profiles import BASE_ARGS, BrowserSettings, InvalidAgentId, launch_options, profile_dir
from profiles.launch import DISABLED_FEATURES, PLAYWRIGHT_DISABLED_FEATURES


def test_api_body_with_camel_case_is_normalised() -> None:
    settings = BrowserSettings.model_validate(
        {
            "locale": "zh_tw",
            "timezone": "Asia/Taipei",
            "userAgent": "  Bredgio/1.0  ",
            "viewport": {"width": 1280, "height": 800},
            "proxy": {"server": "HTTP://10.0.0.2:3128", "username": "u", "password": "p"},
        }
    )
    assert settings.locale == "zh-TW"
    assert settings.user_agent == "Bredgio/1.0"
    assert settings.proxy is not None and settings.proxy.server == "http://10.0.0.2:3128"
    dumped = settings.model_dump(by_alias=True, exclude_none=True)
    assert dumped["userAgent"] == "Bredgio/1.0"
    assert BrowserSettings.model_validate(dumped) == settings


@pytest.mark.parametrize("locale", ["en", "en-US", "zh-Hant-TW", "es-419", "pt_br"])
def test_accepts_bcp47_locales(locale: str) -> None:
    assert BrowserSettings(locale=locale).locale is not None


@pytest.mark.parametrize(
    "body",
    [
        {"locale": "english"},
        {"locale": "en-US-x"},
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": "UTC+8"},
        {"viewport": {"width": 199, "height": 800}},
        {"viewport": {"width": 800, "height": 7681}},
        {"userAgent": ""},
        {"userAgent": "a\nb"},
        {"proxy": {"server": "ftp://10.0.0.2:21"}},
        {"proxy": {"server": "10.0.0.2:3128"}},
        {"proxy": {"server": "http://user:pw@10.0.0.2:3128"}},
        {"proxy": {"server": "socks5://10.0.0.2:1080", "username": "u", "password": "p"}},
        {"proxy": {"server": "http://10.0.0.2:3128", "password": "p"}},
        {"colour": "blue"},
    ],
)
def test_rejects_invalid_settings(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BrowserSettings.model_validate(body)


DISABLE_ALL = "--disable-features=" + ",".join([*PLAYWRIGHT_DISABLED_FEATURES, *DISABLED_FEATURES])


def test_empty_settings_launch_with_base_flags_only() -> None:
    options = launch_options(BrowserSettings(), executable_path="/opt/chromium")
    assert options == {
        "executable_path": "/opt/chromium",
        "headless": True,
        "args": [*BASE_ARGS, DISABLE_ALL],
    }


def test_a_callers_disabled_features_join_the_one_list() -> None:
    options = launch_options(
        BrowserSettings(),
        extra_args=["--disable-features=Translate,PaintHolding", "--mute-audio"],
    )
    disabling = [arg for arg in options["args"] if arg.startswith("--disable-features=")]
    assert disabling == [DISABLE_ALL + ",Translate"]
    assert options["args"][-2:] == ["--mute-audio", DISABLE_ALL + ",Translate"]


def test_launch_options_map_every_setting() -> None:
    settings = BrowserSettings.model_validate(
        {
            "locale": "zh-TW",
            "timezone": "Asia/Taipei",
            "userAgent": "Bredgio/1.0",
            "viewport": {"width": 1024, "height": 700},
            "proxy": {"server": "socks5://10.0.0.2:1080", "bypass": ".internal"},
        }
    )
    options = launch_options(settings, extra_args=["--mute-audio"], headless=False)
    assert options["executable_path"] == "/usr/bin/chromium"
    assert options["headless"] is False
    assert options["locale"] == "zh-TW"
    assert options["timezone_id"] == "Asia/Taipei"
    assert options["user_agent"] == "Bredgio/1.0"
    assert options["viewport"] == {"width": 1024, "height": 700}
    assert options["proxy"] == {"server": "socks5://10.0.0.2:1080", "bypass": ".internal"}
    assert options["args"] == [*BASE_ARGS, "--lang=zh-TW", "--mute-audio", DISABLE_ALL]


def test_profile_dir_is_one_directory_per_agent(tmp_path: Path) -> None:
    assert profile_dir(tmp_path, "agent_1-A") == tmp_path.resolve() / "agent_1-A"


@pytest.mark.parametrize("bad", ["", "..", "../etc", "a/b", "a b", "agent.1", "é", "x" * 129])
def test_profile_dir_rejects_unsafe_agent_ids(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidAgentId):
        profile_dir(tmp_path, bad)
