"""The log writer: buffered lines keep their order and are never lost at exit, warnings are written at
once, and the access log's direct path writes exactly the line `logging` would."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator

import pytest

from predictorapi.runtime.logs import AccessLog, BufferedLineHandler, configure_logging, request_id_var

TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_lines_from_many_threads_all_arrive_in_each_threads_order_once_closed() -> None:
    stream = io.StringIO()
    handler = BufferedLineHandler(stream, flush_interval=0.01, max_buffer=512)

    def write(thread: int) -> None:
        for n in range(500):
            handler.append(f"{thread} {n}")

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2000
    for t in range(4):
        assert [int(line.split()[1]) for line in lines if line.split()[0] == str(t)] == list(range(500))


def test_the_writer_writes_each_quiet_spells_first_lines_without_a_flush() -> None:
    stream = io.StringIO()
    handler = BufferedLineHandler(stream)
    try:
        for expected in (["one"], ["one", "TWO", "three"]):  # a first line, then a burst after a quiet spell
            if expected == ["one"]:
                handler.append("one")
            else:
                handler.append_later(str.upper, "two")  # formatted by the writer
                handler.append("three")
            deadline = time.monotonic() + 30  # a hang guard
            while stream.getvalue().splitlines() != expected:
                assert time.monotonic() < deadline, f"{stream.getvalue()!r} is not {expected}"
                time.sleep(0.01)
    finally:
        handler.close()
    assert stream.getvalue() == "one\nTWO\nthree\n"


def test_a_warning_is_written_at_once_with_every_line_before_it(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(False, "INFO", stream)
    handler = logging.getLogger().handlers[0]
    handler.flush_interval = 3600  # the writer thread will not write: only the warning can
    logging.getLogger("predictorapi.test").info("first")
    logging.getLogger("predictorapi.test").warning("second")
    lines = stream.getvalue().splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["first", "second"]
    assert "WARNING predictorapi.test [None] second" in lines[1]


@pytest.mark.parametrize("json_lines", [False, True], ids=["text", "json"])
def test_the_direct_access_line_is_the_line_logging_writes(restore_logging: None, json_lines: bool) -> None:
    stream = io.StringIO()
    configure_logging(json_lines, "INFO", stream)
    access = AccessLog()
    token = request_id_var.set("req-1")
    try:
        access.write("POST", "/x\n", 200, 0.0015, "req-1")  # direct: only the runtime's handler listens
        capture = logging.Handler()
        capture.emit = lambda record: None  # a second handler: the record goes through logging
        logging.getLogger().addHandler(capture)
        access.write("POST", "/x\n", 200, 0.0015, "req-1")
        logging.getLogger().removeHandler(capture)
    finally:
        request_id_var.reset(token)
    logging.getLogger().handlers[0].flush()
    direct, through_logging = stream.getvalue().splitlines()
    if json_lines:
        direct_entry, logged_entry = json.loads(direct), json.loads(through_logging)
        assert direct_entry.pop("time")[:10] == logged_entry.pop("time")[:10]
        assert direct_entry == logged_entry == {
            "level": "INFO", "logger": "predictorapi.access", "message": "POST /x\\n 200 1.50ms",
            "request_id": "req-1", "method": "POST", "path": "/x\\n", "status": 200, "duration_ms": 1.5}
        assert list(direct_entry) == list(logged_entry)
    else:
        assert TIME.match(direct) and TIME.match(through_logging)
        assert TIME.sub("", direct) == TIME.sub("", through_logging) == \
            "INFO predictorapi.access [req-1] POST /x\\n 200 1.50ms"


def test_the_access_log_goes_through_logging_when_the_runtime_did_not_configure_it(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="predictorapi.access"):
        AccessLog().write("GET", "/healthz", 200, 0.00025, "abc")
    [record] = [r for r in caplog.records if r.name == "predictorapi.access"]
    assert record.getMessage() == "GET /healthz 200 0.25ms"
    assert (record.method, record.path, record.status, record.duration_ms) == ("GET", "/healthz", 200, 0.25)
