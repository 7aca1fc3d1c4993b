"""Python `websockets` (the sync client) against pushwire's WebSocket side.

    python3 ws_websockets.py BASE

BASE is the server's http://127.0.0.1:PORT, or https://localhost:PORT
with SSL_CERT_FILE (websockets) and REQUESTS_CA_BUNDLE (requests) naming
the test CA of tests/tls. Run by tests/interop.rs
against a server with the default limits (1 MiB messages). Each check
asserts; the last stdout line is a JSON object of how many checks of each
kind passed, which the Rust test compares with what it expects.
"""

import json
import os
import sys
import time

import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from eventstream import EventStream, floor

# Around every payload-length boundary of RFC 6455 section 5.2 (7-bit,
# 16-bit, 64-bit lengths), plus the 1 MiB default message limit itself.
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]
UNICODE = "ünïcödé ✓ 😀 中文 — "

counts = {"echo": 0, "channel": 0, "resume": 0, "publish": 0, "refused": 0}


def passed(kind):
    counts[kind] += 1


def ws_url(base, path):
    # https://: wss://, trusting the CA that SSL_CERT_FILE names.
    if base.startswith("https://"):
        return "wss://" + base.removeprefix("https://") + path
    return "ws://" + base.removeprefix("http://") + path


def open_ws(base, path, **options):
    return connect(ws_url(base, path), open_timeout=10, close_timeout=5, max_size=None, **options)


def publish(base, channel, data):
    answer = requests.post(f"{base}/pub/{channel}", data=data.encode(), timeout=5)
    assert answer.status_code == 202, (answer.status_code, answer.text)
    return answer.json()["id"]


def wait_subscribers(base, channel, kind, n, session=requests):
    """Waits until `n` subscribers of `kind` wait on `channel`; asks with
    `session` (one that carries a token, where reading needs one)."""
    deadline = time.monotonic() + 10
    while True:
        info = session.get(f"{base}/pub/{channel}", timeout=5)
        now = 0 if info.status_code == 404 else info.json()["subscribers"][kind]
        if now == n:
            return
        assert time.monotonic() < deadline, f"{channel}: {now} {kind} subscribers, never {n}"
        time.sleep(0.02)


def assert_nothing_more(ws):
    try:
        extra = ws.recv(timeout=0.3)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected frame {extra[:80]!r}")


def check_echo(base):
    with open_ws(base, "/echo") as ws:
        assert ws.subprotocol is None
        for size in SIZES:
            payload = os.urandom(size)
            ws.send(payload)
            got = ws.recv(timeout=10)
            assert isinstance(got, bytes) and got == payload, (size, len(got))
            passed("echo")
            text = "".join(chr(ord("a") + i % 26) for i in range(size))
            ws.send(text)
            got = ws.recv(timeout=10)
            assert isinstance(got, str) and got == text, (size, len(got))
            passed("echo")
        # Multi-byte UTF-8, long enough to need a 16-bit length.
        text = UNICODE * 200
        ws.send(text)
        assert ws.recv(timeout=10) == text
        passed("echo")
        # A fragmented message (RFC 6455 5.4): echoed as the whole message,
        # with a code point split across two fragments.
        raw = UNICODE.encode()
        ws.send([raw[:1], raw[1:3], raw[3:]], text=True)
        assert ws.recv(timeout=10) == UNICODE
        passed("echo")
        # A ping is answered by a pong (RFC 6455 5.5.2).
        assert ws.ping(b"are you there").wait(5)
        passed("echo")
    # The close handshake: the server answers the client's 1000.
    assert ws.close_code == 1000, ws.close_code
    passed("echo")


def check_channel(base):
    channel = "py-plain"
    with open_ws(base, f"/ws/{channel}") as ws:
        assert ws.subprotocol is None
        wait_subscribers(base, channel, "ws", 1)
        sent = ["hello", UNICODE, "two\nlines", ""]
        for data in sent:
            publish(base, channel, data)
        for data in sent:
            got = ws.recv(timeout=10)
            assert isinstance(got, str) and got == data, (got, data)
            passed("channel")
        assert_nothing_more(ws)
    wait_subscribers(base, channel, "ws", 0)
    passed("channel")


def check_json_and_resume(base):
    channel = "py-json"
    base_id = floor(base)
    with open_ws(base, f"/ws/{channel}", subprotocols=["pushwire.json"]) as ws:
        assert ws.subprotocol == "pushwire.json", ws.subprotocol
        wait_subscribers(base, channel, "ws", 1)
        for i in range(1, 4):
            assert publish(base, channel, f"m{i}") == base_id + i
        for i in range(1, 4):
            got = ws.recv(timeout=10)
            assert isinstance(got, str), got
            assert json.loads(got) == {"id": base_id + i, "data": f"m{i}"}, got
            passed("resume")
    wait_subscribers(base, channel, "ws", 0)
    # Published while no one listens; the client resumes after id 3.
    for i in range(4, 7):
        assert publish(base, channel, f"m{i} {UNICODE}") == base_id + i
    with open_ws(base, f"/ws/{channel}?since={base_id + 3}", subprotocols=["pushwire.json"]) as ws:
        for i in range(4, 7):
            assert json.loads(ws.recv(timeout=10)) == {"id": base_id + i, "data": f"m{i} {UNICODE}"}
            passed("resume")
        assert_nothing_more(ws)
        passed("resume")


def check_publish_over_ws(base):
    channel = "py-pub"
    first = floor(base) + 1
    sse = EventStream(f"{base}/sse/{channel}")
    with open_ws(base, f"/ws/{channel}", subprotocols=["pushwire.json"]) as ws:
        wait_subscribers(base, channel, "ws", 1)
        wait_subscribers(base, channel, "sse", 1)
        data = f"from python {UNICODE}"
        ws.send(data)
        # The sender receives it too, with the id the channel gave it.
        assert json.loads(ws.recv(timeout=10)) == {"id": first, "data": data}
        passed("publish")
        assert sse.read_until(1), "SSE stream ended"
        event = sse.parser.events[0]
        assert (event.event, event.id, event.data) == ("message", str(first), data), event
        passed("publish")
        poll = requests.get(f"{base}/poll/{channel}?since=0", timeout=5).json()
        assert poll == {"last_id": first, "messages": [{"id": first, "data": data}]}, poll
        passed("publish")
    sse.close()


def check_binary_is_refused(base):
    with open_ws(base, "/ws/py-binary") as ws:
        ws.send(b"\x00\x01binary")
        try:
            frame = ws.recv(timeout=10)
            raise AssertionError(f"got {frame!r} instead of a close")
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1003, closed
    passed("refused")
    # Nothing was published.
    poll = requests.get(f"{base}/poll/py-binary?since=0", timeout=5)
    assert poll.status_code == 200 and poll.json()["messages"] == [], poll.text
    passed("refused")


def main():
    base = sys.argv[1]
    check_echo(base)
    check_channel(base)
    check_json_and_resume(base)
    check_publish_over_ws(base)
    check_binary_is_refused(base)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
