"""Python `requests` as an SSE client of pushwire.

    python3 sse_requests.py BASE CHANNEL COUNT

Run by tests/interop.rs against a server started with a short
--sse-max-age: reads a stream, and each time the server ends it, waits the
`retry:` time and resumes with Last-Event-ID (the URL carries no `since`,
so only the header can bring back what was missed), while a thread
publishes COUNT messages throughout. Checks every id arrives exactly once
and in order with its data; prints one JSON line with the counts.
"""

import json
import sys
import threading
import time

import requests

from eventstream import EventParser, EventStream, floor


def message(i):
    if i % 10 == 0:
        return f"message {i}\nsecond line"
    if i % 10 == 5:
        return f"message {i} ünïcödé ✓ 😀"
    return f"message {i}"


def sse_subscribers(base, channel):
    info = requests.get(f"{base}/pub/{channel}", timeout=5)
    return 0 if info.status_code == 404 else info.json()["subscribers"]["sse"]


def main():
    base, channel, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    first = floor(base) + 1
    first_open = threading.Event()
    published_while_away = 0
    publish_error = []

    def publish_all():
        nonlocal published_while_away
        try:
            first_open.wait(10)
            for i in range(1, count + 1):
                if sse_subscribers(base, channel) == 0:
                    published_while_away += 1
                answer = requests.post(f"{base}/pub/{channel}", data=message(i).encode(), timeout=5)
                assert answer.status_code == 202, (answer.status_code, answer.text)
                assert answer.json() == {"id": first + i - 1}, answer.text
                time.sleep(0.03)
        except Exception as e:  # reported by the main thread
            publish_error.append(repr(e))

    publisher = threading.Thread(target=publish_all)
    publisher.start()
    parser = EventParser()
    connections = 0
    deadline = time.monotonic() + 30
    while len(parser.events) < count:
        assert time.monotonic() < deadline, f"only {len(parser.events)} of {count} events"
        assert not publish_error, publish_error
        stream = EventStream(f"{base}/sse/{channel}", parser.last_id or None, parser)
        connections += 1
        # Subscribed once the head arrived: the publisher may start.
        first_open.set()
        ended = not stream.read_until(count)
        stream.close()
        if ended:
            # WHATWG 9.2.3: wait the reconnection time, then reconnect.
            time.sleep((parser.retry_ms or 3000) / 1000)
    publisher.join()
    assert not publish_error, publish_error
    got = [(int(e.id), e.data) for e in parser.events if e.event == "message"]
    assert got == [(first + i - 1, message(i)) for i in range(1, count + 1)], got
    assert all(e.event == "message" for e in parser.events), [e.event for e in parser.events]
    print(json.dumps({
        "events": len(got),
        "connections": connections,
        "published_while_away": published_while_away,
        "retry_ms": parser.retry_ms,
    }))


if __name__ == "__main__":
    main()
