"""Log lines of a replica's worker processes (`processes > 1`) name their worker: `worker=N`.

The runtime's log handler writes whole lines to a stream; a worker wraps that stream so that each line a
record starts carries the worker's index, without changing how lines are formatted: a JSON line gets a
first key (`{"worker":1,"time":...}`), a plain line ` worker=1` after the logger's name (`... INFO
predictorapi.access worker=1 [REQUEST_ID] POST / 200 1.20ms`). Continuation lines (a traceback) are left
as they are.
"""

from __future__ import annotations

import logging
from typing import Any, TextIO


class WorkerTaggedStream:
    """`stream`, with each log line it is written marked as worker `index`'s."""

    def __init__(self, stream: TextIO, index: int) -> None:
        self.stream = stream
        self._json = f'{{"worker":{index},'
        self._plain = f" worker={index}"

    def write(self, text: str) -> int:
        """Write `text` (one or more lines), each record's first line tagged."""
        return self.stream.write("\n".join(map(self._tag, text.split("\n"))))

    def _tag(self, line: str) -> str:
        if line.startswith('{"'):
            return self._json + line[1:]
        cut = line.find(" [")  # plain lines: TIME LEVEL LOGGER [REQUEST_ID] MESSAGE
        if cut > 0 and line[:1].isdigit():
            return line[:cut] + self._plain + line[cut:]
        return line

    def flush(self) -> None:
        """Flush the wrapped stream."""
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def tag_worker_logs(index: int) -> None:
    """Mark every line the root logger's handlers write as worker `index`'s."""
    for handler in logging.getLogger().handlers:
        stream = getattr(handler, "stream", None)
        if stream is not None and not isinstance(stream, WorkerTaggedStream):
            handler.stream = WorkerTaggedStream(stream, index)
