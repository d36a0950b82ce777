"""Schedules: CRUD with full timing validation and ``nextRunAt`` upkeep."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from api import scheduling
from api.db.models import Schedule, ScheduleRun, ScheduleStatus, User, utcnow
from api.errors import BadRequest, Forbidden, NotFound
from api.schemas.common import iso
from api.schemas.schedules import (
    TIMING_FIELDS,
    ScheduleCreate,
    SchedulePublic,
    ScheduleRunPublic,
    ScheduleUpdate,
)
from api.schemas.tasks import as_utc
from api.services import agents as agent_service
from flows.catalog import ParamsError, validate_params

MAX_LIST_LIMIT = 500
DEFAULT_LIST_LIMIT = 100


def _check_content(platform: str, content: str, media: list[Any] | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"content": content}
    if media:
        params["media"] = [m.model_dump() if hasattr(m, "model_dump") else m for m in media]
    try:
        checked = validate_params("post", platform, params)
    except ParamsError as error:
        raise BadRequest(str(error).replace("params.", "")) from None
    return list(checked.get("media", []))


def _check_timezone(name: str | None) -> None:
    if name:
        try:
            scheduling.zone(name, "timezone")
        except scheduling.TimingError as error:
            raise BadRequest(str(error)) from None


def timing_of(schedule: Schedule) -> scheduling.Timing:
    """The schedule's frequency spec, as :mod:`api.scheduling` reads it."""
    return scheduling.Timing(
        frequency=schedule.frequency,
        run_at=schedule.run_at,
        time_minutes_utc=schedule.time_minutes_utc,
        day_of_week=schedule.day_of_week,
        cron_expr=schedule.cron_expr,
        cron_timezone=schedule.cron_timezone,
        interval_value=schedule.interval_value,
        interval_unit=schedule.interval_unit,
    )


def _apply_timing(schedule: Schedule, timing: scheduling.Timing) -> None:
    schedule.frequency = timing.frequency
    schedule.run_at = timing.run_at
    schedule.time_minutes_utc = timing.time_minutes_utc
    schedule.day_of_week = timing.day_of_week
    schedule.cron_expr = timing.cron_expr
    schedule.cron_timezone = timing.cron_timezone
    schedule.interval_value = timing.interval_value
    schedule.interval_unit = timing.interval_unit


def _validated(timing: scheduling.Timing) -> scheduling.Timing:
    try:
        return scheduling.validate(timing, utcnow())
    except scheduling.TimingError as error:
        raise BadRequest(str(error)) from None


def refresh_next_run(schedule: Schedule) -> None:
    """``nextRunAt`` for an active schedule; cleared for every other status."""
    if schedule.status != ScheduleStatus.active:
        schedule.next_run_at = None
        return
    schedule.next_run_at = scheduling.next_run(
        timing_of(schedule), utcnow(), anchor=schedule.created_at
    )


def create(session: Session, user: User, body: ScheduleCreate) -> Schedule:
    agent = agent_service.get_owned(session, user, body.agentId)
    media = _check_content(body.platform, body.content, body.media)
    _check_timezone(body.timezone)
    timing = _validated(
        scheduling.Timing(
            frequency=body.frequency,
            run_at=as_utc(body.runAt) if body.runAt else None,
            time_minutes_utc=body.timeMinutesUTC,
            day_of_week=body.dayOfWeek,
            cron_expr=body.cronExpr,
            cron_timezone=body.cronTimezone,
            interval_value=body.intervalValue,
            interval_unit=body.intervalUnit,
        )
    )
    schedule = Schedule(
        user_id=user.id,
        agent_id=agent.id,
        platform=body.platform,
        content=body.content,
        media=media or None,
        frequency=timing.frequency,
        timezone=body.timezone,
        status=body.status,
        misfire_grace_sec=body.misfireGraceSec,
    )
    _apply_timing(schedule, timing)
    refresh_next_run(schedule)
    session.add(schedule)
    session.flush()
    return schedule


def get_owned(session: Session, user: User, schedule_id: str) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("Schedule not found")
    if schedule.user_id != user.id:
        raise Forbidden()
    return schedule


def update(session: Session, user: User, schedule_id: str, body: ScheduleUpdate) -> Schedule:
    schedule = get_owned(session, user, schedule_id)
    sent = body.model_fields_set
    if "content" in sent or "media" in sent:
        content = body.content if body.content is not None else schedule.content
        media = body.media if "media" in sent else schedule.media
        schedule.media = _check_content(schedule.platform, content, media) or None
        schedule.content = content
    if "timezone" in sent:
        _check_timezone(body.timezone)
        schedule.timezone = body.timezone
    if body.misfireGraceSec is not None:
        schedule.misfire_grace_sec = body.misfireGraceSec
    timing_touched = any(name in sent for name in TIMING_FIELDS)
    if timing_touched:
        merged = timing_of(schedule)
        timing = _validated(
            scheduling.Timing(
                frequency=body.frequency or merged.frequency,
                run_at=as_utc(body.runAt)
                if body.runAt
                else (None if "runAt" in sent else merged.run_at),
                time_minutes_utc=_pick(sent, "timeMinutesUTC", body, merged.time_minutes_utc),
                day_of_week=_pick(sent, "dayOfWeek", body, merged.day_of_week),
                cron_expr=_pick(sent, "cronExpr", body, merged.cron_expr),
                cron_timezone=_pick(sent, "cronTimezone", body, merged.cron_timezone),
                interval_value=_pick(sent, "intervalValue", body, merged.interval_value),
                interval_unit=_pick(sent, "intervalUnit", body, merged.interval_unit),
            )
        )
        _apply_timing(schedule, timing)
    status_changed = body.status is not None and body.status != schedule.status
    if body.status is not None:
        reactivating = body.status == "active" and schedule.status != "active"
        if reactivating and not timing_touched:
            _validated(timing_of(schedule))
        schedule.status = body.status
    # Only a new timing or status moves nextRunAt: recomputing it on a content edit could
    # step over a fire that is due but not yet taken by the scheduler.
    if timing_touched or status_changed:
        refresh_next_run(schedule)
    schedule.updated_at = utcnow()
    session.add(schedule)
    session.flush()
    return schedule


def _pick(sent: set[str], name: str, body: ScheduleUpdate, current: Any) -> Any:
    return getattr(body, name) if name in sent else current


def delete(session: Session, user: User, schedule_id: str) -> None:
    session.delete(get_owned(session, user, schedule_id))


def list_schedules(
    session: Session, user: User, *, agent_id: str | None, status: str | None, limit: int
) -> list[Schedule]:
    query = select(Schedule).where(Schedule.user_id == user.id)
    if agent_id is not None:
        query = query.where(Schedule.agent_id == agent_id)
    if status is not None:
        if status not in ScheduleStatus.__members__:
            raise BadRequest(f"status must be one of: {', '.join(ScheduleStatus.__members__)}")
        query = query.where(Schedule.status == status)
    return list(session.exec(query.order_by(col(Schedule.created_at).desc()).limit(limit)))


def list_runs(session: Session, user: User, schedule_id: str, *, limit: int) -> list[ScheduleRun]:
    """What the scheduler did with the schedule's fire times, newest first."""
    schedule = get_owned(session, user, schedule_id)
    return list(
        session.exec(
            select(ScheduleRun)
            .where(ScheduleRun.schedule_id == schedule.id)
            .order_by(col(ScheduleRun.fire_at).desc())
            .limit(limit)
        )
    )


def run_to_public(run: ScheduleRun) -> ScheduleRunPublic:
    return ScheduleRunPublic(
        fireAt=iso(run.fire_at),
        outcome=run.outcome,
        taskId=run.task_id,
        reason=run.reason,
        createdAt=iso(run.created_at),
    )


def to_public(schedule: Schedule) -> SchedulePublic:
    return SchedulePublic(
        scheduleId=schedule.id,
        agentId=schedule.agent_id,
        platform=schedule.platform,
        action=schedule.action,
        content=schedule.content,
        media=schedule.media,
        frequency=schedule.frequency,
        runAt=iso(schedule.run_at),
        timeMinutesUTC=schedule.time_minutes_utc,
        dayOfWeek=schedule.day_of_week,
        cronExpr=schedule.cron_expr,
        cronTimezone=schedule.cron_timezone,
        intervalValue=schedule.interval_value,
        intervalUnit=schedule.interval_unit,
        timezone=schedule.timezone,
        misfireGraceSec=schedule.misfire_grace_sec,
        status=schedule.status,
        nextRunAt=iso(schedule.next_run_at),
        lastRunAt=iso(schedule.last_run_at),
        createdAt=iso(schedule.created_at),
    )
