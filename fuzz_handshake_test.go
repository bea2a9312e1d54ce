package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseExtensions parses a Sec-WebSocket-Extensions header (one value
// per line of the input) and checks that what it accepts is made of tokens
// (RFC 6455 §9.1) and parses back to the same after writing it out again,
// with values plain or quoted.
func FuzzParseExtensions(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_max_window_bits=10, permessage-deflate",
		`x; y="15"`, `x; y="1\5"`, ", , foo,, bar ,", "foo\nbar; baz",
		`x; y="15`, "x;", "x; a=", `x; a="1 2"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := http.Header{}
		for v := range strings.SplitSeq(s, "\n") {
			h.Add("Sec-WebSocket-Extensions", v)
		}
		exts, err := parseExtensions(h)
		if err != nil {
			return
		}
		for _, e := range exts {
			if !tokenRef(e.name) {
				t.Fatalf("%q: extension name %q is not a token", s, e.name)
			}
			for _, p := range e.params {
				if !tokenRef(p.name) || !p.bare && !tokenRef(p.value) || p.bare && p.value != "" {
					t.Fatalf("%q: bad parameter %+v", s, p)
				}
			}
		}
		for _, quote := range []bool{false, true} {
			again, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": {formatExtensions(exts, quote)}})
			if err != nil || !reflect.DeepEqual(again, exts) {
				t.Fatalf("%q parsed to %+v, written as %q, which parses to %+v, %v", s, exts, formatExtensions(exts, quote), again, err)
			}
		}
	})
}

// tokenRef is RFC 9110 §5.6.2's token, spelled out.
func tokenRef(s string) bool {
	const tchar = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	if s == "" {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune(tchar, r) {
			return false
		}
	}
	return true
}

func formatExtensions(exts []extension, quote bool) string {
	var b strings.Builder
	for i, e := range exts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.name)
		for _, p := range e.params {
			b.WriteString("; " + p.name)
			switch {
			case p.bare:
			case quote:
				b.WriteString(`="` + p.value + `"`)
			default:
				b.WriteString("=" + p.value)
			}
		}
	}
	return b.String()
}

// FuzzNegotiateDeflate checks the server's side of RFC 7692 against the
// client's and against a reference reading of the RFC: for any
// Sec-WebSocket-Extensions a client sends (one value per line of the input),
// the server accepts the first permessage-deflate offer that is valid (§5.1,
// §7.1), and answers with what the RFC asks of it: the
// server_no_context_takeover and server_max_window_bits it was offered,
// nothing it was not. The answer must pass the client's own checks, and both
// sides must agree on the context takeover and window size of each
// direction, or a message one side compresses would not inflate on the other.
func FuzzNegotiateDeflate(f *testing.F) {
	for _, s := range []string{
		deflateOffer(CompressionContextTakeover),
		deflateOffer(CompressionNoContextTakeover),
		"permessage-deflate; server_max_window_bits=10, permessage-deflate",
		"permessage-deflate; client_max_window_bits=8; server_no_context_takeover",
		"x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=08, permessage-deflate; client_max_window_bits=\"9\"",
		"permessage-deflate; foo, permessage-deflate; server_max_window_bits; client_max_window_bits",
		"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
	} {
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, mode uint8) {
		m := CompressionMode(mode % 3)
		h := http.Header{}
		for v := range strings.SplitSeq(s, "\n") {
			h.Add("Sec-WebSocket-Extensions", v)
		}
		offers, _ := parseExtensions(h) // as Upgrade does
		answer, cfg := negotiateDeflate(offers, m, 1, 1)
		var chosen *extension
		for i := range offers {
			if offers[i].name == deflateName && refDeflateOfferValid(offers[i]) {
				chosen = &offers[i]
				break
			}
		}
		if m == CompressionDisabled || chosen == nil {
			if answer != "" || cfg != nil {
				t.Fatalf("%q in mode %v: answered %q", s, m, answer)
			}
			return
		}
		if answer == "" || cfg == nil {
			t.Fatalf("%q in mode %v: declined the valid offer %+v", s, m, *chosen)
		}
		exts, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": {answer}})
		if err != nil || len(exts) != 1 || exts[0].name != deflateName {
			t.Fatalf("%q: answer %q does not parse as one permessage-deflate: %v", s, answer, err)
		}
		ans, err := parseDeflateParams(exts[0], true)
		if err != nil {
			t.Fatalf("%q: answer %q is invalid: %v", s, answer, err)
		}
		if _, ok := paramOf(*chosen, "server_no_context_takeover"); ok && !ans.serverNoContextTakeover {
			t.Fatalf("%q: answer %q drops server_no_context_takeover", s, answer)
		}
		if p, ok := paramOf(*chosen, "server_max_window_bits"); ok {
			n, _ := strconv.Atoi(p.value)
			if ans.serverMaxWindowBits == 0 || ans.serverMaxWindowBits > n {
				t.Fatalf("%q: answer %q does not accept server_max_window_bits=%d", s, answer, n)
			}
		} else if ans.serverMaxWindowBits != 0 {
			t.Fatalf("%q: answer %q has server_max_window_bits, which was not offered", s, answer)
		}
		if _, ok := paramOf(*chosen, "client_max_window_bits"); !ok && ans.clientMaxWindowBits != 0 {
			t.Fatalf("%q: answer %q has client_max_window_bits, which was not offered", s, answer)
		}
		if cfg.writeNoContext != ans.serverNoContextTakeover || cfg.readNoContext != ans.clientNoContextTakeover {
			t.Fatalf("%q: answer %q but config %+v", s, answer, *cfg)
		}
		if ans.serverMaxWindowBits != 0 && ans.serverMaxWindowBits < 15 && !cfg.writeHuffmanOnly {
			t.Fatalf("%q: answer %q limits the server's window, config %+v does not", s, answer, *cfg)
		}
		wantRead := 15
		if p, ok := paramOf(*chosen, "client_max_window_bits"); ok && !p.bare {
			wantRead, _ = strconv.Atoi(p.value)
		}
		if ans.clientMaxWindowBits != 0 {
			wantRead = min(wantRead, ans.clientMaxWindowBits)
		}
		if cfg.readWindowBits != wantRead {
			t.Fatalf("%q: server reads with window bits %d, want %d", s, cfg.readWindowBits, wantRead)
		}
		// When the offer is the one Dial sends, Dial must take the answer.
		for _, cm := range []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover} {
			if len(offers) != 1 || formatExtensions(offers, false) != deflateOffer(cm) {
				continue
			}
			ccfg, err := acceptDeflateAnswer(exts, cm, 1, 1)
			if err != nil {
				t.Fatalf("%q: a client in mode %v refuses the answer %q: %v", s, cm, answer, err)
			}
			if ccfg.readNoContext != cfg.writeNoContext || ccfg.writeNoContext != cfg.readNoContext && cfg.readNoContext {
				t.Fatalf("client %+v and server %+v disagree on context takeover", *ccfg, *cfg)
			}
		}
	})
}

// refDeflateOfferValid is a reference reading of RFC 7692 §7.1 for one offer
// already split into parameters: whether a server may accept it.
func refDeflateOfferValid(ext extension) bool {
	seen := map[string]bool{}
	for _, p := range ext.params {
		if seen[p.name] {
			return false
		}
		seen[p.name] = true
		switch p.name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if !p.bare {
				return false
			}
		case "server_max_window_bits", "client_max_window_bits":
			if p.bare {
				if p.name == "client_max_window_bits" {
					continue
				}
				return false
			}
			n, err := strconv.Atoi(p.value)
			if err != nil || n < 8 || n > 15 || strconv.Itoa(n) != p.value {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// paramOf returns ext's parameter called name, if it has one.
func paramOf(ext extension, name string) (extensionParam, bool) {
	for _, p := range ext.params {
		if p.name == name {
			return p, true
		}
	}
	return extensionParam{}, false
}

const fuzzRequest = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://server.example.com\r\nSec-WebSocket-Version: 13\r\n\r\n"

// FuzzHandshakeRequest checks that checkUpgradeRequest accepts only what
// RFC 6455 §4.2.1 allows, and refuses with one of the documented statuses.
func FuzzHandshakeRequest(f *testing.F) {
	f.Add([]byte(fuzzRequest))
	f.Add([]byte(strings.Replace(fuzzRequest, "Connection: Upgrade", "Connection: keep-alive, Upgrade", 1)))
	f.Add([]byte(strings.Replace(fuzzRequest, "Version: 13", "Version: 8", 1)))
	f.Add([]byte(strings.Replace(fuzzRequest, "GET", "POST", 1)))
	f.Add([]byte(strings.Replace(fuzzRequest, "Origin: http://server.example.com", "Origin: http://evil.example", 1)))
	f.Add([]byte(strings.Replace(fuzzRequest, "GET", "CONNECT", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		checkHTTP2UpgradeRequest(t, r)
		herr := checkUpgradeRequest(r, &UpgradeOptions{})
		if herr != nil {
			checkRefusal(t, herr)
			return
		}
		switch {
		case r.Method != http.MethodGet:
			t.Fatalf("accepted method %q", r.Method)
		case !r.ProtoAtLeast(1, 1):
			t.Fatalf("accepted %s", r.Proto)
		case !hasTokenRef(r.Header["Connection"], "upgrade"):
			t.Fatalf("accepted Connection %q", r.Header["Connection"])
		case !hasTokenRef(r.Header["Upgrade"], "websocket"):
			t.Fatalf("accepted Upgrade %q", r.Header["Upgrade"])
		}
		keys := r.Header["Sec-Websocket-Key"]
		if len(keys) != 1 {
			t.Fatalf("accepted Sec-WebSocket-Key %q", keys)
		}
		if nonce, err := base64.StdEncoding.DecodeString(keys[0]); err != nil || len(nonce) != 16 || len(keys[0]) != 24 {
			t.Fatalf("accepted Sec-WebSocket-Key %q: not 16 bytes in base64", keys[0])
		}
		checkVersionAndOrigin(t, r)
	})
}

// checkVersionAndOrigin fails t if an accepted request r, over either HTTP
// version, is not for WebSocket version 13 or comes from another site: with
// no OriginPatterns, only same-origin requests (or none from a browser) pass
// (RFC 6455 §10.2).
func checkVersionAndOrigin(t *testing.T, r *http.Request) {
	t.Helper()
	if v := r.Header["Sec-Websocket-Version"]; len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		t.Fatalf("%s: accepted Sec-WebSocket-Version %q", r.Proto, v)
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			t.Fatalf("%s: accepted Origin %q for Host %q", r.Proto, origin, r.Host)
		}
	}
}

// checkRefusal fails t unless herr is a refusal Upgrade may answer with.
func checkRefusal(t *testing.T, herr *HandshakeError) {
	t.Helper()
	switch herr.Status {
	case http.StatusBadRequest, http.StatusForbidden, http.StatusMethodNotAllowed, http.StatusUpgradeRequired:
	default:
		t.Fatalf("refused with status %d", herr.Status)
	}
	if !strings.HasPrefix(herr.Error(), "websocket: ") || herr.Message == "" {
		t.Fatalf("refusal %q says nothing or not where it comes from", herr.Error())
	}
}

// checkHTTP2UpgradeRequest runs the server's checks on r as if it came over
// HTTP/2, with its Upgrade header as the :protocol pseudo-header, and fails
// t if they accept what RFC 8441 §4 and §5 do not: anything but an extended
// CONNECT for "websocket" at version 13, from the request's own origin.
func checkHTTP2UpgradeRequest(t *testing.T, r *http.Request) {
	t.Helper()
	r2 := r.Clone(r.Context())
	r2.Proto, r2.ProtoMajor, r2.ProtoMinor = "HTTP/2.0", 2, 0
	r2.Header.Del("Upgrade")
	if protocol := r.Header.Get("Upgrade"); protocol != "" {
		r2.Header.Set(":protocol", protocol)
	}
	if herr := checkUpgradeRequest(r2, &UpgradeOptions{}); herr != nil {
		checkRefusal(t, herr)
		return
	}
	switch {
	case r2.Method != http.MethodConnect:
		t.Fatalf("over HTTP/2, accepted method %q", r2.Method)
	case r2.Header.Get(":protocol") != "websocket":
		t.Fatalf("over HTTP/2, accepted :protocol %q", r2.Header.Get(":protocol"))
	}
	checkVersionAndOrigin(t, r2)
}

// hasTokenRef reports whether any comma-separated item of values is token,
// compared as RFC 9110 says: items trimmed of optional whitespace (space and
// tab, §5.6.3), case ignored for ASCII letters only (§5.6.2: tokens are
// ASCII).
func hasTokenRef(values []string, token string) bool {
	for _, item := range listRef(values) {
		if asciiLowerRef(item) == token {
			return true
		}
	}
	return false
}

// listRef splits values into the items of a comma-separated list, trimmed
// of optional whitespace, empty ones dropped (RFC 9110 §5.6.1).
func listRef(values []string) []string {
	var items []string
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if item = strings.Trim(item, " \t"); item != "" {
				items = append(items, item)
			}
		}
	}
	return items
}

func asciiLowerRef(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

const fuzzResponse = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"

// FuzzHandshakeResponse checks that checkHandshakeResponse and
// checkExtensions accept only what RFC 6455 §4.1 allows: the right accept
// value, the upgrade tokens, no extension unless offered, and at most the one
// subprotocol offered. With compression offered, an accepted answer is one
// permessage-deflate extension.
func FuzzHandshakeResponse(f *testing.F) {
	f.Add([]byte(fuzzResponse))
	f.Add([]byte(strings.Replace(fuzzResponse, "Sec-WebSocket-Protocol: chat\r\n", "", 1)))
	f.Add([]byte(strings.Replace(fuzzResponse, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "s3pPLMBiTxaQ9kYGzzhZRbK+xOp=", 1)))
	f.Add([]byte(strings.Replace(fuzzResponse, "chat", "chat, superchat", 1)))
	f.Add([]byte(strings.Replace(fuzzResponse, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1)))
	f.Add([]byte(strings.Replace(fuzzResponse, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=9\r\n\r\n", 1)))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	req, _ := http.NewRequest(http.MethodGet, "http://server.example.com/chat", nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		offering := &DialOptions{Compression: CompressionNoContextTakeover, CompressionLevel: 1, CompressionThreshold: 1}
		if cfg, err := checkExtensions(resp, offering); err == nil && cfg != nil {
			if exts := listRef(resp.Header["Sec-Websocket-Extensions"]); len(exts) != 1 || !strings.HasPrefix(exts[0], "permessage-deflate") {
				t.Fatalf("accepted extensions %q for one permessage-deflate offer", resp.Header["Sec-Websocket-Extensions"])
			}
			if !cfg.readNoContext || !cfg.writeNoContext {
				t.Fatalf("accepted %q without the no context takeover asked for", resp.Header["Sec-Websocket-Extensions"])
			}
		}
		sub, err := checkHandshakeResponse(resp, key, []string{"chat"})
		if err == nil {
			_, err = checkExtensions(resp, &DialOptions{})
		}
		if err != nil {
			var herr *HandshakeError
			if !errors.As(err, &herr) || herr.Status != resp.StatusCode {
				t.Fatalf("refusal %v is not a *HandshakeError with the response's status", err)
			}
			return
		}
		switch {
		// RFC 6455 §11.3.3: the header appears once; §4.1: a value other
		// than the expected one fails the connection.
		case len(resp.Header["Sec-Websocket-Accept"]) != 1 || resp.Header["Sec-Websocket-Accept"][0] != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=":
			t.Fatalf("accepted Sec-WebSocket-Accept %q", resp.Header["Sec-Websocket-Accept"])
		case !hasTokenRef(resp.Header["Upgrade"], "websocket"):
			t.Fatalf("accepted Upgrade %q", resp.Header["Upgrade"])
		case !hasTokenRef(resp.Header["Connection"], "upgrade"):
			t.Fatalf("accepted Connection %q", resp.Header["Connection"])
		case len(listRef(resp.Header["Sec-Websocket-Extensions"])) > 0:
			t.Fatalf("accepted extensions %q that were not offered", resp.Header["Sec-Websocket-Extensions"])
		}
		// The subprotocol is the header's one item, one the client offered,
		// or there is none.
		switch protocols := listRef(resp.Header["Sec-Websocket-Protocol"]); {
		case sub == "" && len(protocols) > 0:
			t.Fatalf("ignored Sec-WebSocket-Protocol %q", resp.Header["Sec-Websocket-Protocol"])
		case sub != "" && (len(protocols) != 1 || protocols[0] != sub):
			t.Fatalf("accepted Sec-WebSocket-Protocol %q as %q", resp.Header["Sec-Websocket-Protocol"], sub)
		case sub != "" && sub != "chat":
			t.Fatalf("accepted subprotocol %q, which was not offered", sub)
		}
	})
}

// FuzzProxyConnect feeds arbitrary bytes to dialProxy as the proxy's answer
// to CONNECT, handed out at most chunk bytes at a time (0: no limit). The
// tunnel opens only on a 2xx answer that net/http reads (RFC 9110 §9.3.6),
// and then no byte of what follows the answer may have been consumed: those
// are the server's, for the TLS or WebSocket handshake. On failure the
// connection to the proxy is closed.
func FuzzProxyConnect(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 Connection established\r\n\r\n"), uint16(0))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\n\x81\x02hi"), uint16(19))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), uint16(0))
	f.Add([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"), uint16(0))
	f.Add([]byte("HTTP/1.0 204 No Content\r\n\r\n"), uint16(3))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		tr := &memTransport{in: bytes.NewReader(data), chunk: int(chunk)}
		dial := func(context.Context, string, string) (net.Conn, error) { return tr, nil }
		proxyURL := &url.URL{Scheme: "http", Host: "proxy.example:3128", User: url.UserPassword("u", "p")}
		conn, err := dialProxy(context.Background(), dial, proxyURL, "server.example:80", &DialOptions{})
		if err != nil {
			if !tr.closed {
				t.Fatalf("dialProxy failed (%v) and left the connection open", err)
			}
			return
		}
		consumed := data[:len(data)-tr.in.Len()]
		req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: "server.example:80"}, Host: "server.example:80"}
		br := bufio.NewReader(bytes.NewReader(consumed))
		resp, rerr := http.ReadResponse(br, req)
		switch {
		case conn != net.Conn(tr) || tr.closed:
			t.Fatalf("dialProxy returned a closed or other connection")
		case rerr != nil || resp.StatusCode/100 != 2:
			t.Fatalf("dialProxy opened a tunnel on %q: %v", consumed, rerr)
		case br.Buffered() > 0:
			t.Fatalf("dialProxy consumed %d bytes past the answer %q", br.Buffered(), consumed)
		}
	})
}

// FuzzClientHandshake runs the client's handshake over arbitrary server
// bytes, head then rest, handed out at most chunk bytes at a time (0: no
// limit). When it succeeds, the Conn must read from the first byte after the
// answer's head, whatever the HTTP reader had buffered past it: a server may
// send frames right behind its 101, and none may be lost or read twice. So
// the Conn reads the same messages, and ends the same way, as a Conn given
// only the bytes after the head.
func FuzzClientHandshake(f *testing.F) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	f.Add([]byte(fuzzResponse), []byte("\x81\x05hello\x88\x02\x03\xe8"), uint16(0))
	f.Add([]byte(strings.Replace(fuzzResponse, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n", 1)), append(append([]byte("\xc1\x07"), rfcHello...), "\x88\x00"...), uint16(5))
	f.Add([]byte(fuzzResponse), bytes.Repeat([]byte("\x82\x7e\x01\x00"+strings.Repeat("z", 256)), 20), uint16(1000))
	f.Fuzz(func(t *testing.T, head, rest []byte, chunk uint16) {
		data := append(bytes.Clone(head), rest...)
		tr := &memTransport{in: bytes.NewReader(data), chunk: int(chunk)}
		u, _ := url.Parse("http://server.example.com/chat")
		o := &DialOptions{Subprotocols: []string{"chat"}, Compression: CompressionNoContextTakeover, CompressionLevel: 1, CompressionThreshold: 1, ReadLimit: 1 << 20, CloseTimeout: 100 * time.Millisecond}
		req, _, _ := newHandshakeRequest(u, o)
		req.Header.Set("Sec-WebSocket-Key", key)
		conn, _, err := handshake(tr, req, key, o)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		got, gotErr := readMessages(conn, false)
		after := newConn(&memTransport{in: bytes.NewReader(data[responseHeadLen(t, data, req):])}, nil, conn.cfg)
		defer after.CloseNow()
		want, wantErr := readMessages(after, false)
		if !reflect.DeepEqual(got, want) || CloseStatus(gotErr) != CloseStatus(wantErr) || failCode(gotErr) != failCode(wantErr) {
			t.Fatalf("after the handshake, the Conn read %+v, then %v; the bytes after the answer hold %+v, then %v", got, gotErr, want, wantErr)
		}
	})
}

// responseHeadLen is the length of the HTTP response head at the start of
// data, the answer to req, as net/http reads it.
func responseHeadLen(t *testing.T, data []byte, req *http.Request) int {
	t.Helper()
	r := bytes.NewReader(data)
	br := bufio.NewReaderSize(r, len(data)+16)
	if _, err := http.ReadResponse(br, req); err != nil {
		t.Fatal(err)
	}
	return len(data) - br.Buffered() - r.Len()
}
