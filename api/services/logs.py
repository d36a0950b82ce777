"""The OutreachLog stream: listing with filters and the daily roll-up."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from api.db.models import OutreachLog, User, utcnow
from api.errors import BadRequest
from api.schemas.common import iso
from api.schemas.logs import DaySummary, LogSummary, OutreachLogPublic

RESULTS = ("sent", "failed", "skipped")
DEFAULT_DAYS = 7
MAX_DAYS = 366
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def parse_days(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_DAYS
    try:
        days = int(value)
    except ValueError:
        raise BadRequest("days must be a whole number") from None
    if not 1 <= days <= MAX_DAYS:
        raise BadRequest(f"days must be between 1 and {MAX_DAYS}")
    return days


def query_logs(
    session: Session,
    user: User,
    *,
    agent_id: str | None,
    platform: str | None,
    result: str | None,
    days: int,
    limit: int,
) -> tuple[list[OutreachLog], LogSummary]:
    if result is not None and result not in RESULTS:
        raise BadRequest("result must be one of: sent, failed, skipped")
    since = utcnow() - timedelta(days=days)
    conditions = [OutreachLog.user_id == user.id, OutreachLog.timestamp >= since]
    if agent_id is not None:
        conditions.append(OutreachLog.agent_id == agent_id)
    if platform is not None:
        conditions.append(OutreachLog.platform == platform)
    if result is not None:
        conditions.append(OutreachLog.result == result)
    logs = list(
        session.exec(
            select(OutreachLog)
            .where(*conditions)
            .order_by(col(OutreachLog.timestamp).desc(), col(OutreachLog.id).desc())
            .limit(limit)
        )
    )
    rows = session.exec(select(OutreachLog.timestamp, OutreachLog.result).where(*conditions)).all()
    return logs, _summarise(rows)


def _summarise(rows: Sequence[tuple[datetime, str]]) -> LogSummary:
    totals = {r: 0 for r in RESULTS}
    by_day: dict[str, dict[str, int]] = defaultdict(lambda: {r: 0 for r in RESULTS})
    for timestamp, result in rows:
        if result not in totals:
            continue
        totals[result] += 1
        by_day[timestamp.strftime("%Y-%m-%d")][result] += 1
    return LogSummary(
        total=sum(totals.values()),
        sent=totals["sent"],
        failed=totals["failed"],
        skipped=totals["skipped"],
        byDay=[DaySummary(day=day, **counts) for day, counts in sorted(by_day.items())],
    )


def to_public(log: OutreachLog) -> OutreachLogPublic:
    return OutreachLogPublic(
        logId=log.id,
        agentId=log.agent_id,
        taskId=log.task_id,
        platform=log.platform,
        result=log.result,
        targetUrl=log.target_url,
        targetName=log.target_name,
        messageSent=log.message_sent,
        errorMessage=log.error_message,
        timestamp=iso(log.timestamp),
    )


def count_since(session: Session, agent_id: str, hours: int = 24) -> int:
    since = utcnow() - timedelta(hours=hours)
    return int(
        session.exec(
            select(func.count()).where(
                OutreachLog.agent_id == agent_id, OutreachLog.timestamp >= since
            )
        ).one()
    )
