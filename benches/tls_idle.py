"""Idle memory per TLS connection: python3 benches/tls_idle.py HOST PORT PID N KIND [CA]

Opens N connections to a pushwire server (pid PID) and makes each an idle
subscriber: KIND is sse (GET /sse/idle), ws (a WebSocket on /ws/idle) or
poll (one answered GET /help, then kept open and silent: a keep-alive
connection). With CA (a PEM file) the connections are TLS, verified
against it; without, plain TCP. Reads the server's VmRSS before and after
(/proc/PID/status) and prints one JSON line with the growth per
connection. The client is Python's asyncio and ssl; it needs no module
outside the standard library.
"""

import asyncio
import json
import ssl
import sys
import time


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


REQUESTS = {
    "sse": b"GET /sse/idle HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n",
    "ws": b"GET /ws/idle HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n",
    "poll": b"GET /help HTTP/1.1\r\nHost: localhost\r\n\r\n",
}


async def one(host, port, context, kind, gate, held):
    async with gate:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname="localhost" if context else None
        )
        writer.write(REQUESTS[kind])
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 ") and head[9:12] in (b"200", b"101"), head
        if kind == "poll":
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
    held.append(writer)


async def main():
    host, port, pid, n, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    context = None
    if len(sys.argv) > 6:
        context = ssl.create_default_context(cafile=sys.argv[6])
    before = rss(pid)
    gate = asyncio.Semaphore(200)
    held = []
    started = time.monotonic()
    await asyncio.gather(*(one(host, port, context, kind, gate, held) for _ in range(n)))
    connected = time.monotonic() - started
    await asyncio.sleep(2)
    after = rss(pid)
    print(json.dumps({
        "kind": kind, "tls": context is not None, "connections": len(held),
        "connected_s": round(connected, 2),
        "rss_before": before, "rss_after": after,
        "bytes_per_connection": round((after - before) / len(held)),
    }))
    for writer in held:
        writer.close()


asyncio.run(main())
