"""Logging: plain or JSON lines, every record stamped with the current request id.

Lines are written by a :class:`BufferedLineHandler`: the thread that logs only formats the line and
appends it to a buffer; a writer thread writes the buffer out `flush_interval` seconds after its first line (at once
for WARNING and above, and when the buffer is large), so the event loop never blocks in `write()` nor
gives up the GIL for it. The access log takes a shorter path still (:class:`AccessLog`): whenever that handler
is the only one it would reach, its line is queued unformatted (no `LogRecord`) and formatted, the same text, by
whoever writes the buffer out.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TextIO

request_id_var: ContextVar[str | None] = ContextVar("predictorapi_request_id", default=None)
trace_var: ContextVar[tuple[str, str] | None] = ContextVar("predictorapi_trace", default=None)
"""(trace id, span id) of the sampled request being served, when tracing is on (set by predictorapi.tracing)."""

ACCESS_LOGGER = "predictorapi.access"
AccessEntry = tuple[float, str, str, int, float, str | None, tuple[str, str] | None]
"""An access line's values, queued: time, method, path, status, seconds, request id, (trace id, span id)."""
LATER_LINE_SIZE = 128
"""What a line buffered unformatted counts towards a handler's `max_buffer` (about an access line's length)."""
IDLE_CHECK_SECONDS = 0.25
"""How often a writer thread with nothing to write looks anyway (a wake-up lost to two threads that buffered their
first lines at once costs a line this long at most)."""
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

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


def _json_line(entry: dict[str, object]) -> str:
    line = json.dumps(entry, ensure_ascii=False, default=str)
    return _JSON_RAW_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", line)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        if (ids := trace_var.get()) is not None:
            record.trace_id, record.span_id = ids
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, trace_id and span_id (a sampled
    request's, when tracing), exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, JSON_TIME_FORMAT),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key in ("trace_id", "span_id", "method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _json_line(entry)


class BufferedLineHandler(logging.Handler):
    """Format on the caller's thread, write from a writer thread `flush_interval` seconds after the first line
    buffered since the last write.

    A record at WARNING or above, or a buffer over `max_buffer` characters, is written at once (with
    every line before it, in order); :meth:`flush` and :meth:`close` (run by `logging.shutdown` at exit)
    write what is left. Lines are lost only if the process is killed outright (at most one interval's).

    The interval is short (5 ms) so that each write is small: the writer formats the deferred lines while holding
    the interpreter lock, and on a busy CPU a request that arrives meanwhile waits for it (with 50 ms, about 1 ms of
    formatting at 20,000 lines/s, the tail latency of a loaded replica grew by as much). An idle handler's writer
    sleeps until a line arrives.
    """

    def __init__(self, stream: TextIO, flush_interval: float = 0.005, max_buffer: int = 64 * 1024) -> None:
        super().__init__()
        self.stream = stream
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self._lines: deque[str | tuple[Callable[[Any], str], Any]] = deque()  # appended without a lock
        self._size = 0  # of the lines appended since the last write: a trigger, approximate across threads
        self._write_lock = threading.Lock()  # one writer at a time, so that lines stay in order
        self._stop = threading.Event()
        self._pending = threading.Event()  # set by the first line buffered since the writer last looked
        self._writer = threading.Thread(target=self._write_periodically, name="log-writer", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Buffer the record's line; write at once for WARNING and above."""
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.append(line, urgent=record.levelno >= logging.WARNING)

    def append(self, line: str, urgent: bool = False) -> None:
        """Buffer one formatted line (without its newline); `urgent` writes it out now."""
        lines = self._lines
        lines.append(line)
        self._size += len(line)
        if urgent or self._size > self.max_buffer:
            self.flush()
        elif len(lines) == 1:
            self._pending.set()

    def append_later(self, format_line: Callable[[Any], str], entry: Any) -> None:
        """Buffer a line to be formatted when it is written (`format_line(entry)`, off the caller's path)."""
        lines = self._lines
        lines.append((format_line, entry))
        self._size += LATER_LINE_SIZE
        if self._size > self.max_buffer:
            self.flush()
        elif len(lines) == 1:
            self._pending.set()

    def flush(self) -> None:
        """Write every buffered line."""
        with self._write_lock:
            self._size = 0
            lines, take = self._lines, self._lines.popleft
            taken = [take() for _ in range(len(lines))]  # lines appended meanwhile wait for the next write
            if taken:
                text = "\n".join([line if type(line) is str else line[0](line[1]) for line in taken])
                try:
                    self.stream.write(text + "\n")
                    self.stream.flush()
                except (OSError, ValueError):  # the stream is gone (closed pipe): nothing to write to
                    pass

    def close(self) -> None:
        """Stop the writer thread and write what is left."""
        self._stop.set()
        self._pending.set()
        self.flush()
        super().close()

    def _write_periodically(self) -> None:
        """Wait for a first line, let `flush_interval` pass, write; until closed (which writes the rest)."""
        while not self._stop.is_set():
            self._pending.wait(IDLE_CHECK_SECONDS)
            self._pending.clear()  # lines buffered from now on are written by this flush or wake the next
            if not self._stop.wait(self.flush_interval):
                self.flush()


class _SecondClock:
    """A time format (`time.strftime` of local time) computed once per second, not once per line."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self._second = -1
        self._text = ""

    def text(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second, self._text = second, time.strftime(self.fmt, time.localtime(second))
        return self._text


class _MillisecondClock(_SecondClock):
    """`asctime` as `logging.Formatter` writes it (the time format, a comma, the milliseconds), computed once per
    millisecond: an access log writes many lines in each."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._millisecond = -1
        self._stamp = ""

    def text(self, now: float) -> str:
        second = int(now)
        millisecond = second * 1000 + int((now - second) * 1000)  # the milliseconds as logging computes them
        if millisecond != self._millisecond:
            self._millisecond = millisecond
            self._stamp = f"{super().text(now)},{millisecond - second * 1000:03d}"
        return self._stamp


class AccessLog:
    """The access line of a request, as the `predictorapi.access` logger would write it.

    When the logger's records would reach only the runtime's own :class:`BufferedLineHandler` (no other
    handler or filter on the way, as configured by :func:`configure_logging`), the line is formatted
    directly (same text as the handler's formatter gives) and appended to the handler's buffer;
    otherwise (tests capturing logs, a custom logging set-up) it goes through `logging` as usual.
    """

    def __init__(self) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER)
        self._plain_clock = _MillisecondClock("%Y-%m-%d %H:%M:%S")
        self._json_clock = _SecondClock(JSON_TIME_FORMAT)

    def write(self, method: str, path: str, status: int, seconds: float, request_id: str | None,
              trace: tuple[str, str] | None = None) -> None:
        """Log one request, if the access log is enabled: `method` and `path` as received (escaped with
        :func:`escape_field` in the line), its duration in `seconds` (milliseconds, to 2 decimals, in the line); a
        traced request's `trace` (trace id, span id) ends a plain line (` trace_id=... span_id=...`), or goes in
        JSON's keys. The line is formatted when it is written out: the request path only queues its values."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        handler = self._direct_handler()
        if handler is None:
            self._log(escape_field(method), escape_field(path), status, round(seconds * 1000, 2), trace)
            return
        format_line = self._json_line if isinstance(handler.formatter, JsonFormatter) else self._plain_line
        handler.append_later(format_line, (time.time(), method, path, status, seconds, request_id, trace))

    def _log(self, method: str, path: str, status: int, duration_ms: float, trace: tuple[str, str] | None) -> None:
        """The access line through `logging` (a handler other than the runtime's would receive it)."""
        extra: dict[str, object] = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
        if trace is None:
            self.logger.info("%s %s %s %.2fms", method, path, status, duration_ms, extra=extra)
            return
        extra["trace_id"], extra["span_id"] = trace
        self.logger.info("%s %s %s %.2fms trace_id=%s span_id=%s", method, path, status, duration_ms, *trace,
                         extra=extra)

    def _plain_line(self, entry: AccessEntry) -> str:
        """The line the plain formatter gives (PLAIN_FORMAT)."""
        now, method, path, status, seconds, request_id, trace = entry
        traced = "" if trace is None else f" trace_id={trace[0]} span_id={trace[1]}"
        # `:.2f` of the milliseconds is the text of `round(ms, 2)` that `_log` formats: both round the same value.
        return (f"{self._plain_clock.text(now)} INFO {ACCESS_LOGGER} [{request_id}] "
                f"{escape_field(method)} {escape_field(path)} {status} {seconds * 1000:.2f}ms{traced}")

    def _json_line(self, entry: AccessEntry) -> str:
        """The line :class:`JsonFormatter` gives."""
        now, method, path, status, seconds, request_id, trace = entry
        method, path, duration_ms = escape_field(method), escape_field(path), round(seconds * 1000, 2)
        line: dict[str, object] = {"time": self._json_clock.text(now), "level": "INFO", "logger": ACCESS_LOGGER,
                                   "message": f"{method} {path} {status} {duration_ms:.2f}ms"}
        if request_id:
            line["request_id"] = request_id
        if trace is not None:
            line["trace_id"], line["span_id"] = trace
        line |= {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
        return _json_line(line)

    def _direct_handler(self) -> BufferedLineHandler | None:
        """The runtime's handler when it alone would receive the access logger's records, else None."""
        root = logging.root
        if len(root.handlers) != 1 or root.filters:
            return None
        handler = root.handlers[0]
        if not isinstance(handler, _RuntimeHandler) or handler.level > logging.INFO:
            return None
        logger: logging.Logger | None = self.logger
        while logger is not None and logger is not root:
            if logger.handlers or logger.filters or not logger.propagate:
                return None
            logger = logger.parent
        return handler


class _RuntimeHandler(BufferedLineHandler):
    """The handler :func:`configure_logging` installs (the only one :class:`AccessLog` writes to directly)."""


def configure_logging(json_lines: bool, level: str, stream: TextIO | None = None) -> None:
    """Send every log record to stderr (or `stream`), as JSON lines or plain text, through a
    :class:`BufferedLineHandler`."""
    for old in logging.root.handlers:
        if isinstance(old, BufferedLineHandler):
            old.close()
    handler = _RuntimeHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
