"""When a schedule fires next: the pure rules of ``api.scheduling`` (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.scheduling import Timing, TimingError, next_run, validate

# Monday 2026-05-18, 03:00 UTC.
MONDAY = datetime(2026, 5, 18, 3, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def fires(timing: Timing, after: datetime, count: int) -> list[datetime]:
    times: list[datetime] = []
    for _ in range(count):
        nxt = next_run(timing, after)
        assert nxt is not None
        times.append(nxt)
        after = nxt
    return times


def test_daily_fires_later_today_or_tomorrow_never_exactly_now() -> None:
    nine = Timing("daily", time_minutes_utc=540)
    assert next_run(nine, MONDAY) == at("2026-05-18T09:00:00Z")
    assert next_run(nine, at("2026-05-18T09:00:00Z")) == at("2026-05-19T09:00:00Z")
    assert next_run(nine, at("2026-05-18T08:59:59.999Z")) == at("2026-05-18T09:00:00Z")
    midnight = Timing("daily", time_minutes_utc=0)
    assert next_run(midnight, at("2026-12-31T23:59:00Z")) == at("2027-01-01T00:00:00Z")
    last_minute = Timing("daily", time_minutes_utc=1439)
    assert next_run(last_minute, MONDAY) == at("2026-05-18T23:59:00Z")


def test_daily_is_computed_in_utc_whatever_zone_now_is_given_in() -> None:
    taipei_noon = datetime.fromisoformat("2026-05-18T12:00:00+08:00")  # 04:00Z
    assert next_run(Timing("daily", time_minutes_utc=300), taipei_noon) == at(
        "2026-05-18T05:00:00Z"
    )


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (0, "2026-05-24T09:00:00Z"),  # Sunday
        (1, "2026-05-18T09:00:00Z"),  # Monday: later today
        (2, "2026-05-19T09:00:00Z"),
        (6, "2026-05-23T09:00:00Z"),  # Saturday
    ],
)
def test_weekly_day_of_week_counts_from_sunday_zero(day: int, expected: str) -> None:
    assert next_run(Timing("weekly", time_minutes_utc=540, day_of_week=day), MONDAY) == at(expected)


def test_weekly_exactly_at_the_time_moves_a_whole_week() -> None:
    monday_nine = Timing("weekly", time_minutes_utc=540, day_of_week=1)
    assert next_run(monday_nine, at("2026-05-18T09:00:00Z")) == at("2026-05-25T09:00:00Z")
    assert fires(monday_nine, MONDAY, 3) == [
        at("2026-05-18T09:00:00Z"),
        at("2026-05-25T09:00:00Z"),
        at("2026-06-01T09:00:00Z"),
    ]


def test_cron_runs_in_utc_by_default() -> None:
    quarter = Timing("cron", cron_expr="*/15 * * * *")
    assert next_run(quarter, at("2026-05-18T03:07:12Z")) == at("2026-05-18T03:15:00Z")
    assert next_run(quarter, at("2026-05-18T03:15:00Z")) == at("2026-05-18T03:30:00Z")
    weekdays = Timing("cron", cron_expr="0 9 * * 1-5")
    saturday = at("2026-05-23T00:00:00Z")
    assert next_run(weekdays, saturday) == at("2026-05-25T09:00:00Z")


def test_cron_with_timezone_follows_the_local_wall_clock() -> None:
    new_york_nine = Timing("cron", cron_expr="0 9 * * *", cron_timezone="America/New_York")
    # Summer (EDT, UTC-4) and winter (EST, UTC-5).
    assert next_run(new_york_nine, at("2026-07-01T00:00:00Z")) == at("2026-07-01T13:00:00Z")
    assert next_run(new_york_nine, at("2026-12-01T00:00:00Z")) == at("2026-12-01T14:00:00Z")


def test_cron_with_timezone_fires_once_on_a_dst_fall_back() -> None:
    # 2026-11-01 01:30 happens twice in New York (EDT 05:30Z, then EST 06:30Z).
    half_past_one = Timing("cron", cron_expr="30 1 * * *", cron_timezone="America/New_York")
    assert fires(half_past_one, at("2026-10-31T12:00:00Z"), 3) == [
        at("2026-11-01T05:30:00Z"),
        at("2026-11-02T06:30:00Z"),
        at("2026-11-03T06:30:00Z"),
    ]
    # Asked between the two occurrences, it does not fire the repeat.
    assert next_run(half_past_one, at("2026-11-01T06:00:00Z")) == at("2026-11-02T06:30:00Z")


def test_cron_with_timezone_still_fires_on_a_dst_spring_forward() -> None:
    # 2026-03-08 02:30 does not exist in New York; the day is not skipped.
    half_past_two = Timing("cron", cron_expr="30 2 * * *", cron_timezone="America/New_York")
    assert fires(half_past_two, at("2026-03-07T12:00:00Z"), 3) == [
        at("2026-03-08T07:30:00Z"),
        at("2026-03-09T06:30:00Z"),
        at("2026-03-10T06:30:00Z"),
    ]


def test_interval_is_anchored_on_run_at() -> None:
    every_90_min = Timing(
        "interval", run_at=at("2026-05-18T00:10:00Z"), interval_value=90, interval_unit="minutes"
    )
    assert next_run(every_90_min, MONDAY) == at("2026-05-18T03:10:00Z")
    assert next_run(every_90_min, at("2026-05-18T03:10:00Z")) == at("2026-05-18T04:40:00Z")
    # A runAt still in the future is the first fire.
    later = Timing(
        "interval", run_at=at("2026-06-01T12:00:00Z"), interval_value=2, interval_unit="days"
    )
    assert next_run(later, MONDAY) == at("2026-06-01T12:00:00Z")
    assert next_run(later, at("2026-06-01T12:00:00Z")) == at("2026-06-03T12:00:00Z")


def test_interval_without_run_at_counts_from_the_anchor() -> None:
    hourly = Timing("interval", interval_value=1, interval_unit="hours")
    created = at("2026-05-18T02:20:00Z")
    assert next_run(hourly, MONDAY, anchor=created) == at("2026-05-18T03:20:00Z")


def test_oneoff_fires_at_run_at_then_never() -> None:
    once = Timing("oneoff", run_at=at("2026-05-18T09:00:00Z"))
    assert next_run(once, MONDAY) == at("2026-05-18T09:00:00Z")
    assert next_run(once, at("2026-05-18T09:00:00Z")) is None
    assert next_run(once, at("2026-06-01T00:00:00Z")) is None


def test_validate_keeps_only_the_fields_the_frequency_uses() -> None:
    messy = Timing(
        "daily",
        run_at=at("2027-01-01T00:00:00Z"),
        time_minutes_utc=540,
        day_of_week=3,
        cron_expr="* * * * *",
        interval_value=5,
        interval_unit="minutes",
    )
    assert validate(messy, MONDAY) == Timing("daily", time_minutes_utc=540)


INVALID: dict[str, Timing] = {
    "oneoff without runAt": Timing("oneoff"),
    "oneoff runAt now": Timing("oneoff", run_at=MONDAY),
    "oneoff runAt past": Timing("oneoff", run_at=MONDAY - timedelta(seconds=1)),
    "daily without time": Timing("daily"),
    "time -1": Timing("daily", time_minutes_utc=-1),
    "time 1440": Timing("daily", time_minutes_utc=1440),
    "weekly without day": Timing("weekly", time_minutes_utc=540),
    "day 7": Timing("weekly", time_minutes_utc=540, day_of_week=7),
    "day -1": Timing("weekly", time_minutes_utc=540, day_of_week=-1),
    "cron without expr": Timing("cron"),
    "cron blank": Timing("cron", cron_expr="   "),
    "cron 6 fields": Timing("cron", cron_expr="* * * * * *"),
    "cron 4 fields": Timing("cron", cron_expr="0 9 * *"),
    "cron minute 61": Timing("cron", cron_expr="61 * * * *"),
    "cron step 0": Timing("cron", cron_expr="*/0 * * * *"),
    "cron February 31st": Timing("cron", cron_expr="0 0 31 2 *"),
    "cron unknown zone": Timing("cron", cron_expr="0 9 * * *", cron_timezone="Mars/Olympus"),
    "cron zone folder": Timing("cron", cron_expr="0 9 * * *", cron_timezone="America"),
    "interval without unit": Timing("interval", interval_value=5),
    "interval 0": Timing("interval", interval_value=0, interval_unit="minutes"),
    "interval weeks": Timing("interval", interval_value=5, interval_unit="weeks"),
    "interval 367 days": Timing("interval", interval_value=367, interval_unit="days"),
    "interval 10**20 days": Timing("interval", interval_value=10**20, interval_unit="days"),
    "monthly": Timing("monthly"),
}


@pytest.mark.parametrize("timing", INVALID.values(), ids=INVALID.keys())
def test_invalid_timing_is_a_timing_error(timing: Timing) -> None:
    with pytest.raises(TimingError):
        validate(timing, MONDAY)
