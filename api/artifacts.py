"""Where a task's trace and failure screenshots live (under the data dir, which the API
serves them from)."""

from __future__ import annotations

from pathlib import Path


def task_dir(artifacts_root: Path, task_id: str) -> Path:
    if not task_id.isalnum():
        raise ValueError(f"bad task id {task_id!r}")
    return artifacts_root / task_id


def trace_path(artifacts_root: Path, task_id: str) -> Path:
    return task_dir(artifacts_root, task_id) / "trace.zip"


def screenshot_path(artifacts_root: Path, task_id: str, index: int) -> Path:
    return task_dir(artifacts_root, task_id) / f"step-{index}.png"
