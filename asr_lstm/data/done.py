"""``.done`` markers that make preparation steps idempotent.

A marker stores the parameters of the step that wrote it; the step is skipped only when they match,
so changing an option redoes the step instead of silently reusing stale output.
"""

from __future__ import annotations

import json
from pathlib import Path

from asr_lstm.atomic import write_text


def is_done(marker: str | Path, params: dict) -> bool:
    marker = Path(marker)
    return marker.is_file() and json.loads(marker.read_text(encoding="utf-8") or "{}") == params


def mark_done(marker: str | Path, params: dict) -> None:
    write_text(marker, json.dumps(params, sort_keys=True))
