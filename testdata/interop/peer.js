'use strict';
// Interop peer for interop_test.go: the npm "ws" package as server or client.
//
//   node peer.js server                    listen on 127.0.0.1, port chosen by the OS
//   node peer.js client ECHO_URL CTL_URL   run the client checks, then exit
//   node peer.js deflate-client (MODE LABEL URL)...
//                                          run the permessage-deflate checks
//                                          against each URL, whose server
//                                          compresses in MODE (ctx or noctx):
//                                          all of them against the first,
//                                          some against the others
//
// Every stdout line is one JSON object: {"event":"listening","port":N},
// {"event":"close","path":P,"code":C,"reason":R} when a server connection ends,
// {"event":"check","name":N,"ok":B,"detail":D} for each client check, and
// {"event":"done"} last. The constants below are shared with interop_test.go
// and peer.py; keep them in step.
const http = require('http');
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

// deflateOptions turns the query of a /deflate URL into ws's perMessageDeflate
// options: snct and cnct (0 or 1) set server_no_context_takeover and
// client_no_context_takeover, smwb and cmwb (8 to 15) the window bits, and
// every message is compressed (threshold 0).
function deflateOptions(query) {
  const opts = { threshold: 0 };
  if (query.has('snct')) opts.serverNoContextTakeover = query.get('snct') === '1';
  if (query.has('cnct')) opts.clientNoContextTakeover = query.get('cnct') === '1';
  if (query.has('smwb')) opts.serverMaxWindowBits = Number(query.get('smwb'));
  if (query.has('cmwb')) opts.clientMaxWindowBits = Number(query.get('cmwb'));
  return opts;
}

function server() {
  // /deflate?... echoes with the permessage-deflate configuration its query
  // gives, through a WebSocketServer of its own; every other path is served
  // by the main one, which does not compress.
  const main = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });
  const httpServer = http.createServer((req, res) => {
    res.writeHead(404);
    res.end();
  });
  httpServer.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url, 'http://peer');
    let wss = main;
    if (url.pathname === '/deflate') {
      wss = new WebSocketServer({ noServer: true, perMessageDeflate: deflateOptions(url.searchParams) });
    }
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, req));
  });
  httpServer.listen(0, '127.0.0.1', () => emit({ event: 'listening', port: httpServer.address().port }));
}

function serve(ws, req) {
  const url = new URL(req.url, 'http://peer');
  // A /deflate connection is known by its whole URL: there are many.
  const path = url.pathname === '/deflate' ? req.url : url.pathname;
  ws.on('close', (code, reason) => emit({ event: 'close', path, code, reason: reason.toString() }));
  ws.on('error', (err) => emit({ event: 'error', path, error: String(err) }));
  switch (url.pathname) {
    case '/echo':
    case '/deflate':
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

function connect(url, protocols, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { handshakeTimeout: TIMEOUT_MS, ...options });
    const conn = new Conn(ws);
    ws.once('upgrade', (res) => {
      conn.extensions = res.headers['sec-websocket-extensions'] || '';
    });
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

// ---- permessage-deflate client ----

// DEFLATE_CONFIGS are the client configurations deflate-client tries against
// each server: every combination of asking for no context takeover in
// either direction, and of window bits for either direction, 8 and 15
// included, or none asked (client_max_window_bits may also be offered
// without a value, as ws does by default). Their names are shared with
// interop_test.go.
const DEFLATE_CONFIGS = [];
for (const snct of [false, true]) {
  for (const cnct of [false, true]) {
    for (const smwb of [0, 8, 9, 15]) {
      for (const cmwb of [true, 8, 9, 15]) {
        const opts = { threshold: 0, clientMaxWindowBits: cmwb };
        if (snct) opts.serverNoContextTakeover = true;
        if (cnct) opts.clientNoContextTakeover = true;
        if (smwb) opts.serverMaxWindowBits = smwb;
        const name = `snct=${+snct},cnct=${+cnct},smwb=${smwb || '-'},cmwb=${cmwb === true ? 'bare' : cmwb}`;
        DEFLATE_CONFIGS.push({ name, opts, snct, cnct, smwb });
      }
    }
  }
}

// DEFLATE_TEXT compresses well: its echo must take far fewer bytes on the
// wire than it holds.
const DEFLATE_TEXT = '{"user":"ada","msg":"h\u00e9llo \u2713","n":12345},'.repeat(1500);

// parseExtension splits one extension's header value into its name and a
// map of its parameters.
function parseExtension(value) {
  const [name, ...params] = value.split(';').map((p) => p.trim());
  const map = new Map();
  for (const p of params) {
    const [k, v] = p.split('=').map((x) => x.trim());
    map.set(k, v === undefined ? true : v.replace(/^"|"$/g, ''));
  }
  return { name, params: map };
}

// expectedAnswer is what our server, compressing in mode, answers to cfg's
// offer: it grants what the offer asks, and with no context takeover
// forbids context in both directions.
function expectedAnswer(mode, cfg) {
  const want = new Map();
  if (cfg.snct || mode === 'noctx') want.set('server_no_context_takeover', true);
  if (cfg.cnct || mode === 'noctx') want.set('client_no_context_takeover', true);
  if (cfg.smwb) want.set('server_max_window_bits', String(cfg.smwb));
  return want;
}

function sameParams(a, b) {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

async function deflateCheck(mode, label, url, cfg) {
  const name = `deflate/${label}/${cfg.name}`;
  const id = encodeURIComponent(cfg.name);
  const c = await connect(`${url}${url.includes('?') ? '&' : '?'}id=${id}`, [], { perMessageDeflate: cfg.opts });
  const ext = parseExtension(c.extensions);
  const want = expectedAnswer(mode, cfg);
  const problems = [];
  if (ext.name !== 'permessage-deflate' || !sameParams(ext.params, want)) {
    problems.push(`answer ${JSON.stringify(c.extensions)}, want permessage-deflate with ${JSON.stringify([...want])}`);
  }
  const socket = c.ws._socket;
  // The same text twice, a binary message, and small ones.
  for (const [data, binary] of [[DEFLATE_TEXT, false], [DEFLATE_TEXT, false], [pattern(70000, true), true], ['x', false], ['', false], [pattern(125, true), true]]) {
    const want = Buffer.from(data);
    const read = socket.bytesRead;
    const written = socket.bytesWritten;
    c.ws.send(data, { binary });
    const m = await c.message();
    if (m.isBinary !== binary || Buffer.compare(m.data, want) !== 0) {
      problems.push(`echo of ${want.length} bytes: got ${m.data.length}, binary=${m.isBinary}`);
    }
    if (data === DEFLATE_TEXT) {
      // Given a window under 15 bits, our server sends Huffman codes only,
      // which save less.
      const backBound = cfg.smwb && cfg.smwb < 15 ? 0.75 : 0.25;
      const sent = socket.bytesWritten - written;
      const got = socket.bytesRead - read;
      if (sent > 0.25 * want.length || got > backBound * want.length) {
        problems.push(`a ${want.length}-byte text took ${sent} bytes out and ${got} back: not compressed`);
      }
    }
  }
  c.ws.close(1000, 'client bye');
  const cl = await c.closed();
  if (cl.code !== 1000) problems.push(`close code ${cl.code} reason ${JSON.stringify(cl.reason)}`);
  check(name, problems.length === 0, problems.join('; ') || c.extensions);
}

// deflateClient runs every configuration against the first target, and
// those that leave context takeover alone against the others.
async function deflateClient(targets) {
  for (const [i, { mode, label, url }] of targets.entries()) {
    for (const cfg of DEFLATE_CONFIGS) {
      if (i > 0 && (cfg.snct || cfg.cnct)) continue;
      await run(`deflate/${label}/${cfg.name}`, () => deflateCheck(mode, label, url, cfg));
    }
  }
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
} else if (mode === 'deflate-client' && args.length > 0 && args.length % 3 === 0) {
  const targets = [];
  for (let i = 0; i < args.length; i += 3) targets.push({ mode: args[i], label: args[i + 1], url: args[i + 2] });
  deflateClient(targets).then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  console.error('usage: node peer.js server | node peer.js client ECHO_URL CTL_URL | node peer.js deflate-client (MODE LABEL URL)...');
  process.exit(2);
}
