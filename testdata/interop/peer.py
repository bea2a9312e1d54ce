"""Interop peer for interop_test.go: Python's websockets package as server or client.

    /usr/bin/python3 peer.py server                   listen on 127.0.0.1, port chosen by the OS
    /usr/bin/python3 peer.py client ECHO_URL CTL_URL [ECHOZ_URL]
                                                      run the client checks, then exit; with
                                                      ECHOZ_URL, an echo server that compresses,
                                                      the permessage-deflate checks too

Both sides use websockets' default permessage-deflate configuration: a client
offers client_max_window_bits, a server answers with server_max_window_bits=12
and client_max_window_bits=12.

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
    full = path or ws.path
    path = full.split("?")[0]
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
        # Known by the whole URL, so that a test can tell apart several
        # connections to one path.
        emit({"event": "close", "path": full, "code": ws.close_code, "reason": ws.close_reason or ""})


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


# DEFLATE_TEXT compresses well: its echo must take far fewer bytes than it holds.
DEFLATE_TEXT = '{"user":"ada","msg":"h\u00e9llo \u2713","n":12345},' * 1500


async def client(echo_url, ctl_url, echoz_url=None):
    def ctl(path):
        return f"{ctl_url}{path}?peer=python"

    async def deflate(label, url, want_extensions):
        """Echoes through a server that compresses, with the default offer."""
        ws = await connect(url)
        problems = []
        got_ext = ws.response_headers.get("Sec-WebSocket-Extensions")
        if got_ext != want_extensions:
            problems.append(f"Sec-WebSocket-Extensions {got_ext!r}, want {want_extensions!r}")
        if not any(ext.name == "permessage-deflate" for ext in ws.extensions):
            problems.append(f"extensions in use: {ws.extensions!r}")
        messages = [pattern(n, binary) for binary in (False, True) for n in SIZES]
        messages += [DEFLATE_TEXT, DEFLATE_TEXT, STREAM_TEXT]
        for want in messages:
            await ws.send(want)
            got = await recv(ws)
            if got != want:
                problems.append(f"echo of a {type(want).__name__} of length {len(want)}: got {type(got).__name__} of length {len(got)}")
        await ws.close(1000, "client bye")
        code, reason = await closed(ws)
        if code != 1000:
            problems.append(f"close code {code} reason {reason!r}")
        check(f"deflate/{label}", not problems, "; ".join(problems) or got_ext)

    async def deflate_echo():
        await deflate("echo", echoz_url, "permessage-deflate")

    async def deflate_ctl_noctx():
        await deflate(
            "ctl-noctx",
            ctl("/deflate") + "&mode=no-context-takeover&id=ctl-noctx",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        )

    async def deflate_ctl_ctx():
        await deflate("ctl-ctx", ctl("/deflate") + "&mode=context-takeover&id=ctl-ctx", "permessage-deflate")

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
    ] + (
        [("deflate/echo", deflate_echo), ("deflate/ctl-noctx", deflate_ctl_noctx), ("deflate/ctl-ctx", deflate_ctl_ctx)]
        if echoz_url
        else []
    ):
        await run(name, fn)
    emit({"event": "done"})


def main():
    args = sys.argv[1:]
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    if args == ["server"]:
        asyncio.run(server())
    elif len(args) in (3, 4) and args[0] == "client":
        asyncio.run(client(*args[1:]))
    else:
        sys.stderr.write("usage: peer.py server | peer.py client ECHO_URL CTL_URL [ECHOZ_URL]\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
