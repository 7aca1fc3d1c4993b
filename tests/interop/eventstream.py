"""A small event-stream reader over Python `requests` (stream=True).

Written from WHATWG HTML section 9.2.6 ("interpret an event stream"),
independent of pushwire's encoder: lines end at CRLF, LF or CR; a blank
line dispatches; `data:` lines join with LF; `id:` sets the last event id;
`retry:` sets the reconnection time; lines starting with `:` are comments.
"""

import codecs
from dataclasses import dataclass, field

import requests


@dataclass
class Event:
    event: str
    data: str
    id: str


@dataclass
class EventParser:
    last_id: str = ""
    retry_ms: int | None = None
    events: list = field(default_factory=list)
    comments: list = field(default_factory=list)
    _pending: str = ""
    _event: str = ""
    _data: list | None = None

    def feed(self, text):
        self._pending += text
        while True:
            cut = min((i for i in (self._pending.find("\r"), self._pending.find("\n")) if i >= 0), default=-1)
            if cut < 0:
                return
            if self._pending[cut] == "\r":
                if cut + 1 == len(self._pending):
                    return  # maybe the first half of a CRLF: wait for more
                skip = 2 if self._pending[cut + 1] == "\n" else 1
            else:
                skip = 1
            line, self._pending = self._pending[:cut], self._pending[cut + skip:]
            self._line(line)

    def _line(self, line):
        if line == "":
            if self._data is not None:
                self.events.append(Event(self._event or "message", "\n".join(self._data), self.last_id))
            self._event, self._data = "", None
            return
        if line.startswith(":"):
            self.comments.append(line[1:].lstrip(" "))
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data = (self._data or []) + [value]
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)


class EventStream:
    """One GET of an event stream; `read_until(n)` pumps it. A `session`
    (requests.Session) adds its headers, cookies and query parameters."""

    def __init__(self, url, last_event_id=None, parser=None, session=None):
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.response = (session or requests).get(url, headers=headers, stream=True, timeout=(5, 20))
        assert self.response.status_code == 200, (self.response.status_code, self.response.text)
        content_type = self.response.headers.get("Content-Type")
        assert content_type == "text/event-stream", content_type
        assert self.response.headers.get("Cache-Control") == "no-cache", self.response.headers
        self.parser = parser if parser is not None else EventParser()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        # chunk_size=None: hand over each chunk as it arrives, not 512-byte
        # blocks (which would sit on a half-filled buffer).
        self._chunks = self.response.iter_content(chunk_size=None)

    def pump(self):
        """Reads one piece; False once the server ended the stream."""
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.parser.feed(self._decoder.decode(b"", final=True))
            return False
        self.parser.feed(self._decoder.decode(chunk))
        return True

    def read_until(self, count):
        """Reads until the parser holds `count` events; False if it ended first."""
        while len(self.parser.events) < count:
            if not self.pump():
                return False
        return True

    def close(self):
        self.response.close()


def floor(base, unused="nobody-uses-this-channel"):
    """The server's floor: every id an earlier run could have given is at or
    below it, and the kth message of a channel new in this run has id
    floor + k (docs/durability.md). A channel nobody used (`unused`, one
    anyone may read) reports it as its last_id."""
    answer = requests.get(f"{base}/poll/{unused}", timeout=5)
    assert answer.status_code == 200, (answer.status_code, answer.text)
    return answer.json()["last_id"]
