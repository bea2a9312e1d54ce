"""Interop peer for interop_test.go: Python's websockets package as server or client.

    /usr/bin/python3 peer.py server                   listen on 127.0.0.1, port chosen by the OS
    /usr/bin/python3 peer.py client ECHO_URL CTL_URL  run the client checks, then exit

Written for the asyncio ("legacy") API of websockets 10.x, as Debian packages it
(python3-websockets). The stdout protocol and the constants match peer.js: keep
them in step.
"""

import asyncio
import json
import os
import sys
import threading

import websockets
from websockets.exceptions import ConnectionClosed

SIZES = [0, 125, 126, 65535, 65536, 1 << 20]
FRAGMENTED_TEXT = "fragmented: h\u00e9llo \u2713"
STREAM_TEXT = "h\u00e9llo \u2713 " * 24000
PEER_PING = b"ping-from-peer"
TIMEOUT = 10
OP_TEXT = 0x1
MAX_SIZE = 64 << 20


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def exit_when_stdin_closes():
    """The test holds our stdin open; when it goes away, so do we."""
    sys.stdin.read()
    os._exit(0)


# ---- server ----


async def handle(ws, path=None):
    path = (path or ws.path).split("?")[0]
    try:
        if path == "/echo":
            async for msg in ws:
                await ws.send(msg)
        elif path == "/fragmented":
            # An iterable sends one message, one frame per item.
            await ws.send(["fragmented: h", "\u00e9llo ", "\u2713"])
        elif path == "/subprotocol":
            await ws.send(ws.subprotocol or "")
        elif path == "/badutf8":
            # "hi" followed by bytes that are never valid UTF-8, in a text
            # frame; send() would refuse, so write the frame directly.
            await ws.write_frame(True, OP_TEXT, b"hi\xff\xfe")
        elif path == "/ping":
            waiter = await ws.ping(PEER_PING)
            try:
                await asyncio.wait_for(waiter, TIMEOUT / 2)
                await ws.send("pong:" + PEER_PING.decode())
            except asyncio.TimeoutError:
                await ws.send("no pong")
        elif path == "/close-by-peer":
            await ws.close(1000, "peer bye")
        else:
            await ws.close(1008, "unknown path")
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    except ConnectionClosed:
        pass
    except Exception as err:  # report, then let the close event say the rest
        emit({"event": "error", "path": path, "error": repr(err)})
    finally:
        emit({"event": "close", "path": path, "code": ws.close_code, "reason": ws.close_reason or ""})


async def server():
    srv = await websockets.serve(
        handle, "127.0.0.1", 0, subprotocols=["chat"], max_size=MAX_SIZE, ping_interval=None
    )
    emit({"event": "listening", "port": srv.sockets[0].getsockname()[1]})
    await asyncio.Future()  # until killed


# ---- client ----


def check(name, ok, detail=""):
    emit({"event": "check", "name": name, "ok": bool(ok), "detail": detail})


def pattern(n, binary):
    if binary:
        return bytes((i * 31 + 7) & 0xFF for i in range(n))
    return "".join(chr(0x61 + i % 26) for i in range(n))


async def connect(url, subprotocols=None):
    return await websockets.connect(
        url, subprotocols=subprotocols, max_size=MAX_SIZE, open_timeout=TIMEOUT, ping_interval=None
    )


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def closed(ws):
    """Waits for the close and returns (code, reason) as received from the server."""
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
    return ws.close_code, ws.close_reason


async def run(name, fn):
    try:
        await fn()
    except Exception as err:
        check(name, False, repr(err))


async def client(echo_url, ctl_url):
    def ctl(path):
        return f"{ctl_url}{path}?peer=python"

    async def echo():
        ws = await connect(echo_url)
        for binary in (False, True):
            for n in SIZES:
                want = pattern(n, binary)
                await ws.send(want)
                got = await recv(ws)
                kind = "binary" if binary else "text"
                check(f"echo/{kind}/{n}", got == want, f"got {type(got).__name__} of length {len(got)}")

        await ws.send(["fragmented: h", "\u00e9llo ", "\u2713"])
        got = await recv(ws)
        check("echo/fragmented-send", got == FRAGMENTED_TEXT, f"got {got!r}")

        waiter = await ws.ping(PEER_PING)
        await asyncio.wait_for(waiter, TIMEOUT)
        check("echo/ping", True, "pong matched")

        await ws.close(1000, "client bye")
        code, reason = await closed(ws)
        check("echo/close", code == 1000, f"close code {code} reason {reason!r}")

    async def subprotocol():
        ws = await connect(echo_url, ["chat", "superchat"])
        check("subprotocol", ws.subprotocol == "chat", f"negotiated {ws.subprotocol!r}")
        await ws.close(1000)

    async def badutf8():
        ws = await connect(echo_url)
        await ws.write_frame(True, OP_TEXT, b"hi\xff\xfe")
        code, reason = await closed(ws)
        check("badutf8", code == 1007, f"close code {code} reason {reason!r}")

    async def stream():
        ws = await connect(ctl("/stream"))
        got = await recv(ws)
        check("ctl/stream", got == STREAM_TEXT, f"got {type(got).__name__} of length {len(got)}")
        await ws.close(1000, "client bye")

    async def close_by_server():
        ws = await connect(ctl("/close-by-server"))
        got = await recv(ws)
        code, reason = await closed(ws)
        check(
            "ctl/close-by-server",
            got == "closing" and code == 1000 and reason == "server bye",
            f"message {got!r}, close code {code} reason {reason!r}",
        )

    async def close_by_client():
        ws = await connect(ctl("/close-by-client"))
        await ws.close(1000, "client bye")
        code, reason = await closed(ws)
        check("ctl/close-by-client", code == 1000, f"close code {code} reason {reason!r}")

    async def ping():
        ws = await connect(ctl("/ping"))
        got = await recv(ws)  # receiving also answers the server's ping
        check("ctl/ping", got == "pong received", f"got {got!r}")
        await ws.close(1000, "client bye")

    for name, fn in [
        ("echo", echo),
        ("subprotocol", subprotocol),
        ("badutf8", badutf8),
        ("ctl/stream", stream),
        ("ctl/close-by-server", close_by_server),
        ("ctl/close-by-client", close_by_client),
        ("ctl/ping", ping),
    ]:
        await run(name, fn)
    emit({"event": "done"})


def main():
    args = sys.argv[1:]
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    if args == ["server"]:
        asyncio.run(server())
    elif len(args) == 3 and args[0] == "client":
        asyncio.run(client(args[1], args[2]))
    else:
        sys.stderr.write("usage: peer.py server | peer.py client ECHO_URL CTL_URL\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
