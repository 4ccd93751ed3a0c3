"""Logging: plain or JSON lines, every record stamped with the current request id."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("predictorapi_request_id", default=None)

# What json.dumps(ensure_ascii=False) leaves raw but some log readers take for a line break (or worse).
_JSON_RAW_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


def escape_field(text: str) -> str:
    """`text` safe to write on one log line: backslashes and non-printable characters (newlines, other
    control characters, Unicode line separators) as Python escapes, so a request path such as
    `/x%0A...` (decoded: a newline) can never start a forged log line."""
    if text.isprintable() and "\\" not in text:
        return text  # the common case costs one scan
    return "".join(ch if ch.isprintable() and ch != "\\" else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key in ("method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, ensure_ascii=False, default=str)
        return _JSON_RAW_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", line)


def configure_logging(json_lines: bool, level: str) -> None:
    """Send every log record to stderr, as JSON lines or plain text."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
