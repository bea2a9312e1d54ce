package websocket

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
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
