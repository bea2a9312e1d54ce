'use strict';
// Interop peer for interop_test.go: the npm "ws" package as server or client.
//
//   node peer.js server                    listen on 127.0.0.1, port chosen by the OS
//   node peer.js client ECHO_URL CTL_URL   run the client checks, then exit
//
// Every stdout line is one JSON object: {"event":"listening","port":N},
// {"event":"close","path":P,"code":C,"reason":R} when a server connection ends,
// {"event":"check","name":N,"ok":B,"detail":D} for each client check, and
// {"event":"done"} last. The constants below are shared with interop_test.go
// and peer.py; keep them in step.
const { WebSocket, WebSocketServer } = require('ws');

const SIZES = [0, 125, 126, 65535, 65536, 1 << 20];
const FRAGMENTED_TEXT = 'fragmented: h\u00e9llo \u2713';
const STREAM_TEXT = 'h\u00e9llo \u2713 '.repeat(24000);
const PEER_PING = 'ping-from-peer';
const TIMEOUT_MS = 10000;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// The test holds our stdin open; when it goes away, so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

// ---- server ----

function server() {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });
  wss.on('listening', () => emit({ event: 'listening', port: wss.address().port }));
  wss.on('connection', (ws, req) => {
    const path = new URL(req.url, 'http://peer').pathname;
    ws.on('close', (code, reason) => emit({ event: 'close', path, code, reason: reason.toString() }));
    ws.on('error', (err) => emit({ event: 'error', path, error: String(err) }));
    switch (path) {
      case '/echo':
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
        break;
      case '/fragmented': {
        // Three frames; the second boundary splits the two bytes of "é".
        const b = Buffer.from(FRAGMENTED_TEXT);
        ws.send(b.subarray(0, 5), { binary: false, fin: false });
        ws.send(b.subarray(5, 14), { binary: false, fin: false });
        ws.send(b.subarray(14), { binary: false, fin: true });
        break;
      }
      case '/subprotocol':
        ws.send(ws.protocol);
        break;
      case '/badutf8':
        // "hi" followed by bytes that are never valid UTF-8, in a text frame.
        ws.send(Buffer.from([0x68, 0x69, 0xff, 0xfe]), { binary: false });
        break;
      case '/ping': {
        const timer = setTimeout(() => ws.send('no pong'), TIMEOUT_MS / 2);
        ws.once('pong', (data) => {
          clearTimeout(timer);
          ws.send('pong:' + data.toString());
        });
        ws.ping(PEER_PING);
        break;
      }
      case '/close-by-peer':
        ws.close(1000, 'peer bye');
        break;
      default:
        ws.close(1008, 'unknown path');
    }
  });
}

// ---- client ----

// Conn wraps a client WebSocket with a message queue, so that checks can
// await the next message or the close in order.
class Conn {
  constructor(ws) {
    this.ws = ws;
    this.items = [];
    this.waiter = null;
    ws.on('message', (data, isBinary) => this.push({ data, isBinary }));
    ws.on('close', (code, reason) => this.push({ close: true, code, reason: reason.toString() }));
    ws.on('error', () => {}); // the close event follows and carries the outcome
  }

  push(item) {
    this.items.push(item);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
  }

  // next resolves to the next message or close, in arrival order.
  async next() {
    if (this.items.length === 0) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timed out waiting for a message')), TIMEOUT_MS);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.items.shift();
  }

  async message() {
    const m = await this.next();
    if (m.close) throw new Error(`closed (${m.code} ${m.reason}) while waiting for a message`);
    return m;
  }

  async closed() {
    for (;;) {
      const m = await this.next();
      if (m.close) return m;
    }
  }
}

function connect(url, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { handshakeTimeout: TIMEOUT_MS });
    const conn = new Conn(ws);
    ws.once('open', () => resolve(conn));
    ws.once('unexpected-response', (req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function check(name, ok, detail) {
  emit({ event: 'check', name, ok: Boolean(ok), detail: detail || '' });
}

// run records a failed check when fn throws.
async function run(name, fn) {
  try {
    await fn();
  } catch (err) {
    check(name, false, String(err && err.stack ? err.stack : err));
  }
}

function pattern(n, binary) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = binary ? (i * 31 + 7) & 0xff : 0x61 + (i % 26);
  return b;
}

async function client(echoURL, ctlURL) {
  const ctl = (path) => `${ctlURL}${path}?peer=node`;

  await run('echo', async () => {
    const c = await connect(echoURL);
    for (const binary of [false, true]) {
      for (const n of SIZES) {
        const name = `echo/${binary ? 'binary' : 'text'}/${n}`;
        const want = pattern(n, binary);
        c.ws.send(binary ? want : want.toString(), { binary });
        const m = await c.message();
        check(name, m.isBinary === binary && Buffer.compare(m.data, want) === 0,
          `got ${m.data.length} bytes, binary=${m.isBinary}`);
      }
    }

    const b = Buffer.from(FRAGMENTED_TEXT);
    c.ws.send(b.subarray(0, 5), { binary: false, fin: false });
    c.ws.send(b.subarray(5, 14), { binary: false, fin: false });
    c.ws.send(b.subarray(14), { binary: false, fin: true });
    const m = await c.message();
    check('echo/fragmented-send', !m.isBinary && m.data.toString() === FRAGMENTED_TEXT, `got ${JSON.stringify(m.data.toString())}`);

    const pong = new Promise((resolve) => c.ws.once('pong', resolve));
    c.ws.ping(PEER_PING);
    const data = await Promise.race([pong, new Promise((_, reject) => setTimeout(() => reject(new Error('no pong')), TIMEOUT_MS))]);
    check('echo/ping', data.toString() === PEER_PING, `pong payload ${JSON.stringify(data.toString())}`);

    c.ws.close(1000, 'client bye');
    const cl = await c.closed();
    check('echo/close', cl.code === 1000, `close code ${cl.code} reason ${JSON.stringify(cl.reason)}`);
  });

  await run('subprotocol', async () => {
    const c = await connect(echoURL, ['chat', 'superchat']);
    check('subprotocol', c.ws.protocol === 'chat', `negotiated ${JSON.stringify(c.ws.protocol)}`);
    c.ws.close(1000);
    await c.closed();
  });

  await run('badutf8', async () => {
    const c = await connect(echoURL);
    c.ws.send(Buffer.from([0x68, 0x69, 0xff, 0xfe]), { binary: false });
    const cl = await c.closed();
    check('badutf8', cl.code === 1007, `close code ${cl.code} reason ${JSON.stringify(cl.reason)}`);
  });

  await run('ctl/stream', async () => {
    const c = await connect(ctl('/stream'));
    const m = await c.message();
    check('ctl/stream', !m.isBinary && m.data.toString() === STREAM_TEXT, `got ${m.data.length} bytes, binary=${m.isBinary}`);
    c.ws.close(1000, 'client bye');
    await c.closed();
  });

  await run('ctl/close-by-server', async () => {
    const c = await connect(ctl('/close-by-server'));
    const m = await c.message();
    const cl = await c.closed();
    check('ctl/close-by-server', m.data.toString() === 'closing' && cl.code === 1000 && cl.reason === 'server bye',
      `message ${JSON.stringify(m.data.toString())}, close code ${cl.code} reason ${JSON.stringify(cl.reason)}`);
  });

  await run('ctl/close-by-client', async () => {
    const c = await connect(ctl('/close-by-client'));
    c.ws.close(1000, 'client bye');
    const cl = await c.closed();
    check('ctl/close-by-client', cl.code === 1000, `close code ${cl.code} reason ${JSON.stringify(cl.reason)}`);
  });

  await run('ctl/ping', async () => {
    const c = await connect(ctl('/ping'));
    const m = await c.message();
    check('ctl/ping', m.data.toString() === 'pong received', `got ${JSON.stringify(m.data.toString())}`);
    c.ws.close(1000, 'client bye');
    await c.closed();
  });

  emit({ event: 'done' });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'server') {
  server();
} else if (mode === 'client' && args.length === 2) {
  client(args[0], args[1]).then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  console.error('usage: node peer.js server | node peer.js client ECHO_URL CTL_URL');
  process.exit(2);
}
