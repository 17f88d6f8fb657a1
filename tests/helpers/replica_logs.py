"""What the Serve replicas logged: a failed served test shows the errors behind its 500 or its 1011."""

from __future__ import annotations

import re
from pathlib import Path

# Where Ray writes each Serve replica's log on this machine (the default temp dir's newest session).
SERVE_LOGS = Path("/tmp/ray/session_latest/logs/serve")
# A record's first line; the lines up to the next record (a traceback) are its own.
RECORD = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) \d{4}-")


def log_sizes(folder: Path = SERVE_LOGS) -> dict[Path, int]:
    return {log: log.stat().st_size for log in folder.glob("*.log")}


def errors_since(offsets: dict[Path, int], folder: Path = SERVE_LOGS, limit: int = 200) -> str:
    """The ERROR records, tracebacks included, written to the logs in `folder` after `offsets` (a log not in
    `offsets` is new: all of it); the last `limit` lines of them, each log's under its name."""
    found: list[str] = []
    for log in sorted(folder.glob("*.log")):
        with log.open(errors="replace") as text:
            text.seek(offsets.get(log, 0))
            kept, keep = [], False
            for line in text:
                if RECORD.match(line):
                    keep = line.startswith("ERROR")
                if keep:
                    kept.append(line.rstrip())
        if kept:
            found += [f"== {log.name}", *kept]
    return "\n".join(found[-limit:])
