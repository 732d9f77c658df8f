"""The sidecar's structured log: one JSON line per event on stderr (`vasa-bridge serve`), silent otherwise."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

log = logging.getLogger("vasa_bridge.sidecar")
log.addHandler(logging.NullHandler())  # silent unless `serve` (setup_logging) configures it


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured log record; JsonLogFormatter prints it as a JSON line."""
    log.log(level, event, extra={"fields": fields})


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname.lower(), "event": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("vasa_bridge.sidecar")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


class LogLimiter:
    """Garbage floods must not become log floods: at most `per_second` records of one kind per second; the
    number suppressed is logged when the next window opens."""

    def __init__(self, event: str, per_second: int = 20) -> None:
        self.event, self.per_second = event, per_second
        self._window_start, self._count = 0.0, 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            if self._count > self.per_second:
                log_event(f"{self.event}_suppressed", logging.WARNING, count=self._count - self.per_second)
            self._window_start, self._count = now, 0
        self._count += 1
        return self._count <= self.per_second
