"""Tokens minted by PyJWT, the usual Python JWT library, against pushwire.

    python3 jwt_pyjwt.py BASE SECRET

BASE is the server's http://127.0.0.1:PORT; the server was started by
tests/interop.rs with `--jwt-secret SECRET --public-channels demo`.
Checks, each an assertion:

- accepted: an HS256 token from `jwt.encode` (read `room.*`, write
  `room.1`) publishes to room.1 and reads it by poll, a parked long-poll
  and SSE, carried as `Authorization: Bearer`, as `?token=` and as the
  `pushwire_token` cookie; a WebSocket offering `pushwire.json` and
  `pushwire.bearer.<token>` gets `pushwire.json` selected, receives a
  published message and publishes one itself;
- refused: what PyJWT signs with another key (`bad signature`), with
  HS384, HS512, RS256 or `none` (`unsupported alg`), an expired token, a
  `nbf` or an `iat` ahead, no `exp`, a `crit` header: `401` with the
  reason in `WWW-Authenticate` and a one-line body, on every transport
  and every carrier; no token at all: `401` with the realm;
- forbidden: a good token names other channels: `403`
  `insufficient_scope`, the body naming the channel;
- nothing of a channel's history is in any refused answer, and nothing a
  refused client sent was published.

The last stdout line is a JSON object of how many checks of each kind
passed, which the Rust test compares with what it expects.
"""

import json
import sys
import threading
import time
import uuid

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from eventstream import EventStream, floor
from ws_websockets import wait_subscribers, ws_url

ROOM = "room.1"
OTHER_ROOM = "room.2"
# What room.1 and room.2 hold before anything else: it must never reach a
# refused client.
HISTORY = "secret-history-" + uuid.uuid4().hex
CARRIERS = ["bearer", "query", "cookie"]

counts = {"accepted": {}, "refused": {}, "forbidden": 0, "room.1 messages": 0}


def passed(kind, name=None):
    if name is None:
        counts[kind] += 1
    else:
        counts[kind][name] = counts[kind].get(name, 0) + 1


def claims(exp_in=60, read=("room.*",), write=(ROOM,), **more):
    now = int(time.time())
    return {
        "sub": "alice",
        "iat": now,
        "exp": now + exp_in,
        "pushwire": {"read": list(read), "write": list(write)},
        **more,
    }


def session(carrier, token):
    """A requests session that sends `token` the way `carrier` says."""
    s = requests.Session()
    if carrier == "bearer":
        s.headers["Authorization"] = f"Bearer {token}"
    elif carrier == "query":
        s.params = {"token": token}
    elif carrier == "cookie":
        s.cookies.set("pushwire_token", token)
    else:
        assert carrier is None, carrier
    return s


def open_ws(base, path, token):
    protocols = ["pushwire.json"] + ([f"pushwire.bearer.{token}"] if token else [])
    return connect(ws_url(base, path), subprotocols=protocols, open_timeout=10, close_timeout=5)


class Room:
    """room.1 as the good token sees it: the ids its messages must get."""

    def __init__(self, base, token):
        self.base = base
        self.owner = session("bearer", token)
        # `demo` is public: nobody publishes there, anyone may read it.
        self.first = floor(base, "demo") + 1
        self.sent = []

    def publish(self, s, data, how):
        answer = s.post(f"{self.base}/pub/{ROOM}", data=data.encode(), timeout=5)
        assert answer.status_code == 202, f"publish {how}: {answer.status_code} {answer.text}"
        expected = {"id": self.first + len(self.sent)}
        assert answer.json() == expected, f"publish {how}: {answer.text}, expected {expected}"
        self.sent.append(data)
        return expected["id"]

    def message(self, k):
        """The kth message published (0 for the first) as poll shows it."""
        return {"id": self.first + k, "data": self.sent[k]}


def check_accepted(base, secret):
    token = jwt.encode(claims(), secret, algorithm="HS256")
    room = Room(base, token)
    room.publish(room.owner, HISTORY, "of the history")
    for carrier in CARRIERS:
        s = session(carrier, token)
        # SSE: subscribed once the head arrived (EventStream checks the 200).
        sse = EventStream(f"{base}/sse/{ROOM}", session=s)
        # A long-poll with no `since` parks until the next message.
        parked = {}

        def long_poll():
            try:
                answer = session(carrier, token).get(f"{base}/longpoll/{ROOM}?timeout=20", timeout=30)
                parked["answer"] = (answer.status_code, answer.text)
            except Exception as e:  # reported by the main thread
                parked["answer"] = (None, repr(e))

        poller = threading.Thread(target=long_poll)
        poller.start()
        wait_subscribers(base, ROOM, "longpoll", 1, room.owner)

        data = f"via {carrier}"
        sent = room.publish(s, data, f"with the token as {carrier}")
        passed("accepted", carrier)

        poller.join(30)
        assert not poller.is_alive(), f"long-poll with the token as {carrier} never answered"
        status, text = parked["answer"]
        assert status == 200, f"long-poll with the token as {carrier}: {status} {text}"
        expected = {"last_id": sent, "messages": [room.message(len(room.sent) - 1)]}
        assert json.loads(text) == expected, f"long-poll with the token as {carrier}: {text}"
        passed("accepted", carrier)

        assert sse.read_until(1), f"SSE with the token as {carrier} ended before the message"
        sse.close()
        event = sse.parser.events[0]
        got = (event.event, event.id, event.data)
        assert got == ("message", str(sent), data), f"SSE with the token as {carrier}: {got}"
        passed("accepted", carrier)

        answer = s.get(f"{base}/poll/{ROOM}?since=0", timeout=5)
        assert answer.status_code == 200, f"poll with the token as {carrier}: {answer.status_code} {answer.text}"
        expected = {"last_id": sent, "messages": [room.message(k) for k in range(len(room.sent))]}
        assert answer.json() == expected, f"poll with the token as {carrier}: {answer.text}"
        passed("accepted", carrier)

    with open_ws(base, f"/ws/{ROOM}", token) as ws:
        assert ws.subprotocol == "pushwire.json", f"selected subprotocol {ws.subprotocol!r}"
        passed("accepted", "subprotocol")
        wait_subscribers(base, ROOM, "ws", 1, room.owner)
        sent = room.publish(room.owner, "to the WebSocket", "to the WebSocket")
        got = json.loads(ws.recv(timeout=10))
        assert got == {"id": sent, "data": "to the WebSocket"}, f"WebSocket received {got}"
        passed("accepted", "subprotocol")
        # The token writes room.1: a text frame is published.
        ws.send("from the WebSocket")
        got = json.loads(ws.recv(timeout=10))
        assert got == {"id": room.first + len(room.sent), "data": "from the WebSocket"}, f"WebSocket echo {got}"
        room.sent.append("from the WebSocket")
        passed("accepted", "subprotocol")
    return room


def answer_to(s, method, url):
    """(status, WWW-Authenticate, body) of one request; an event stream is
    closed unread (a refusal is never one)."""
    answer = s.request(method, url, data=b"refused?" if method == "POST" else None, stream=True, timeout=(5, 10))
    if answer.headers.get("Content-Type") == "text/event-stream":
        answer.close()
        return answer.status_code, answer.headers.get("WWW-Authenticate"), "<an event stream>"
    return answer.status_code, answer.headers.get("WWW-Authenticate"), answer.text


def ws_answer(base, path, token):
    try:
        with open_ws(base, path, token) as ws:
            return 101, None, f"<a WebSocket, {ws.subprotocol}>"
    except InvalidStatus as refused:
        response = refused.response
        return response.status_code, response.headers.get("WWW-Authenticate"), bytes(response.body).decode()


def assert_refusal(got, status, challenge, body, what, whole=True):
    """`got` is the refusal: `status`, `challenge`, and a one-line body
    that is `body` (or, not `whole`, starts with it)."""
    code, authenticate, text = got
    assert code == status, f"{what}: status {code}, expected {status}; body {text!r}"
    assert authenticate == challenge, f"{what}: WWW-Authenticate {authenticate!r}, expected {challenge!r}"
    assert text.endswith("\n") and "\n" not in text[:-1], f"{what}: body not one line: {text!r}"
    line = text[:-1]
    assert line == body if whole else line.startswith(body), f"{what}: body {text!r}, expected {body!r}"
    assert HISTORY not in text and '"messages"' not in text, f"{what}: the body shows the channel's history: {text!r}"


def every_transport(base, channel):
    """(method, url) of each way to read `channel` and to publish to it."""
    return [
        ("GET", f"{base}/poll/{channel}?since=0"),
        ("GET", f"{base}/longpoll/{channel}?since=0&timeout=1"),
        ("GET", f"{base}/sse/{channel}?since=0"),
        ("GET", f"{base}/pub/{channel}"),
        ("POST", f"{base}/pub/{channel}"),
    ]


def bad_tokens(secret):
    """(name, token, reason): what PyJWT makes that pushwire must refuse."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return [
        ("HS256, another key", jwt.encode(claims(), secret[::-1], algorithm="HS256"), "bad signature"),
        ("HS384", jwt.encode(claims(), secret, algorithm="HS384"), "unsupported alg"),
        ("HS512", jwt.encode(claims(), secret, algorithm="HS512"), "unsupported alg"),
        ("RS256", jwt.encode(claims(), rsa_key, algorithm="RS256"), "unsupported alg"),
        ("none", jwt.encode(claims(), None, algorithm="none"), "unsupported alg"),
        # The default leeway is 5 s: a minute is well past it.
        ("exp a minute ago", jwt.encode(claims(exp_in=-60), secret, algorithm="HS256"), "expired"),
        ("nbf in a minute", jwt.encode(claims(nbf=int(time.time()) + 60), secret, algorithm="HS256"), "not yet valid"),
        ("iat in a minute", jwt.encode(claims(iat=int(time.time()) + 60), secret, algorithm="HS256"), "issued in the future"),
        (
            "no exp",
            jwt.encode({"sub": "alice", "pushwire": {"read": ["room.*"], "write": [ROOM]}}, secret, algorithm="HS256"),
            "missing exp",
        ),
        (
            "crit header",
            jwt.encode(claims(), secret, algorithm="HS256", headers={"crit": ["x"]}),
            "unknown critical header",
        ),
    ]


def check_refused(base, secret):
    # Nothing at all: the realm, on every transport.
    for method, url in every_transport(base, ROOM):
        got = answer_to(session(None, None), method, url)
        what = f"{method} {url} with no token"
        assert_refusal(got, 401, 'Bearer realm="pushwire"', "this channel needs a token", what, whole=False)
        passed("refused", "no token")
    got = ws_answer(base, f"/ws/{ROOM}", None)
    what = "WebSocket with no token"
    assert_refusal(got, 401, 'Bearer realm="pushwire"', "this channel needs a token", what, whole=False)
    passed("refused", "no token")

    for name, token, reason in bad_tokens(secret):
        challenge = f'Bearer error="invalid_token", error_description="{reason}"'
        body = f"invalid token: {reason}"
        for carrier in CARRIERS:
            s = session(carrier, token)
            for method, url in every_transport(base, ROOM):
                what = f"{method} {url} with a token ({name}) as {carrier}"
                assert_refusal(answer_to(s, method, url), 401, challenge, body, what)
                passed("refused", name)
        what = f"WebSocket with a token ({name}) as pushwire.bearer."
        assert_refusal(ws_answer(base, f"/ws/{ROOM}", token), 401, challenge, body, what)
        passed("refused", name)


def check_forbidden(base, secret):
    # room.2 holds the history too: a 403 must not show it.
    writer = session("bearer", jwt.encode(claims(read=(), write=(OTHER_ROOM,)), secret, algorithm="HS256"))
    answer = writer.post(f"{base}/pub/{OTHER_ROOM}", data=HISTORY.encode(), timeout=5)
    assert answer.status_code == 202, f"publish to room.2: {answer.status_code} {answer.text}"

    reads_room_1 = jwt.encode(claims(read=(ROOM,), write=()), secret, algorithm="HS256")
    challenge = 'Bearer error="insufficient_scope"'
    s = session("bearer", reads_room_1)
    for method, url in every_transport(base, OTHER_ROOM):
        body = {
            "GET": f"the token does not allow reading channel {OTHER_ROOM}",
            "POST": f"the token does not allow publishing to channel {OTHER_ROOM}",
        }[method]
        assert_refusal(answer_to(s, method, url), 403, challenge, body, f"{method} {url} reading room.1 only")
        passed("forbidden")
    got = ws_answer(base, f"/ws/{OTHER_ROOM}", reads_room_1)
    assert_refusal(got, 403, challenge, f"the token does not allow reading channel {OTHER_ROOM}", "WebSocket to room.2")
    passed("forbidden")
    # It reads room.1 but may not publish there.
    got = answer_to(s, "POST", f"{base}/pub/{ROOM}")
    assert_refusal(got, 403, challenge, f"the token does not allow publishing to channel {ROOM}", "publish to room.1")
    passed("forbidden")


def check_nothing_got_in(base, room):
    """room.1 holds exactly what the good token published."""
    answer = room.owner.get(f"{base}/poll/{ROOM}?since=0", timeout=5)
    assert answer.status_code == 200, f"poll room.1: {answer.status_code} {answer.text}"
    expected = [room.message(k) for k in range(len(room.sent))]
    assert answer.json()["messages"] == expected, f"room.1 holds {answer.text}, expected {expected}"
    counts["room.1 messages"] = len(expected)


def main():
    base, secret = sys.argv[1], sys.argv[2]
    room = check_accepted(base, secret)
    check_refused(base, secret)
    check_forbidden(base, secret)
    check_nothing_got_in(base, room)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
