package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of permessage-deflate (RFC 7692): negotiation in both roles, the
// compressed read and write paths frame by frame against compress/flate as
// the reference, the limits a compressed message is held to, and what an
// idle connection keeps.

// dialCompressed connects a client with clientMode to a server with
// serverMode over httptest, and returns both ends.
func dialCompressed(t testing.TB, clientMode, serverMode CompressionMode, threshold int) (client, server *Conn) {
	t.Helper()
	serverc := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, &UpgradeOptions{Compression: serverMode, CompressionThreshold: threshold})
		if err != nil {
			t.Error(err)
		}
		serverc <- c
	}))
	t.Cleanup(srv.Close)
	client, _, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &DialOptions{Compression: clientMode, CompressionThreshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	server = <-serverc
	t.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	return client, server
}

func TestCompressionRoundTrip(t *testing.T) {
	modes := []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover}
	text := []byte(strings.Repeat(`{"user":"ada","msg":"hello, world","n":12345} `, 3000))
	for _, cm := range modes {
		for _, sm := range modes {
			t.Run(fmt.Sprintf("client=%v/server=%v", cm, sm), func(t *testing.T) {
				client, server := dialCompressed(t, cm, sm, -1)
				for _, pair := range [][2]*Conn{{client, server}, {server, client}} {
					from, to := pair[0], pair[1]
					for _, n := range []int{0, 1, 100, 5000, 70000, len(text)} {
						for _, streaming := range []bool{false, true} {
							msg := text[:n]
							errc := make(chan error, 1)
							go func() {
								if !streaming {
									errc <- from.WriteMessage(TextMessage, msg)
									return
								}
								w, _ := from.NextWriter(TextMessage)
								for p := msg; len(p) > 0; p = p[min(len(p), 7777):] {
									w.Write(p[:min(len(p), 7777)])
								}
								errc <- w.Close()
							}()
							typ, got, err := readWhole(to, streaming)
							if werr := <-errc; werr != nil {
								t.Fatalf("write %d: %v", n, werr)
							}
							if err != nil || typ != TextMessage || !bytes.Equal(got, msg) {
								t.Fatalf("%d bytes, streaming=%v: got %d bytes, %v", n, streaming, len(got), err)
							}
						}
					}
				}
			})
		}
	}
}

// ---- references ----

// syncTail is the empty stored block that ends a sync flush; RFC 7692
// §7.2.1 has the sender strip it and the receiver put it back.
const syncTail = "\x00\x00\xff\xff"

// deflateRef compresses one message as RFC 7692 §7.2.1 says, with
// compress/flate and no context: a sync flush, its last four bytes removed.
func deflateRef(level int, p []byte) []byte {
	return newRefDeflater(level).message(p)
}

// deflateRefDict compresses one message that may refer to dict, the
// history a peer with context takeover has.
func deflateRefDict(level int, dict, p []byte) []byte {
	d := &refDeflater{}
	d.fw, _ = flate.NewWriterDict(&d.buf, level, dict)
	return d.message(p)
}

// refDeflater is a peer's compressor with context takeover: one
// flate.Writer for every message, flushed after each and never reset, so
// that a message may refer to the ones before it.
type refDeflater struct {
	buf bytes.Buffer
	fw  *flate.Writer
}

func newRefDeflater(level int) *refDeflater {
	d := &refDeflater{}
	d.fw, _ = flate.NewWriter(&d.buf, level)
	return d
}

func (d *refDeflater) message(p []byte) []byte {
	d.fw.Write(p)
	d.fw.Flush()
	out := bytes.Clone(d.buf.Bytes())
	d.buf.Reset()
	if !bytes.HasSuffix(out, []byte(syncTail)) {
		panic("a sync flush did not end with 00 00 ff ff")
	}
	return out[:len(out)-len(syncTail)]
}

// inflateRef inflates a message's payload as RFC 7692 §7.2.2 says, with
// compress/flate: the payload and 00 00 ff ff, after dict (the history kept
// from earlier messages, or nil). It reads at most limit bytes.
func inflateRef(payload, dict []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(append(bytes.Clone(payload), syncTail...))
	out, err := io.ReadAll(io.LimitReader(flate.NewReaderDict(src, dict), int64(limit)))
	if err == io.ErrUnexpectedEOF && src.Len() == 0 {
		err = nil // the stream goes on in the next message, as it should
	}
	return out, err
}

// jsonLike returns n bytes of JSON-like text that varies with seed: the
// repetitive, not identical, kind of message compression is for.
func jsonLike(n, seed int) []byte {
	words := []string{"ada", "grace", "linus", "ken", "rob", "barbara", "edsger", "donald"}
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		k := seed*7919 + i*104729
		fmt.Fprintf(&b, `{"id":%d,"user":%q,"action":"update","path":"/items/%d","ok":%v,"score":%d.%02d},`,
			k%100000, words[k%len(words)], k%977, k%3 == 0, k%1000, k%97)
	}
	return b.Bytes()[:n]
}

// inflateWhole inflates a message's payload to its end: the payload, the
// 00 00 ff ff its sender removed, and a final empty stored block, after
// dict. It reads at most limit bytes, and says how much of the input flate
// left unread: a final block before the end of the payload leaves some.
func inflateWhole(payload, dict []byte, limit int) (out []byte, unread int, err error) {
	// RFC 7692 §7.2.2 appends the stripped 00 00 ff ff, the LEN and NLEN of
	// the empty stored block a well-formed payload ends with. So a payload
	// is well formed when those four bytes can be replaced by the LEN and
	// NLEN of a stored block with data, and that data comes out. A payload
	// whose own block runs into the marker (a stored block longer than the
	// payload, a Huffman block cut short) reads the four bytes otherwise.
	inflate := func(suffix string) ([]byte, int, error) {
		src := bytes.NewReader(append(bytes.Clone(payload), suffix+"\x01\x00\x00\xff\xff"...))
		out, err := io.ReadAll(io.LimitReader(flate.NewReaderDict(src, dict), int64(limit)))
		return out, src.Len(), err
	}
	out, unread, err = inflate(syncTail)
	other, otherUnread, otherErr := inflate("\x05\x00\xfa\xffhello")
	if err != nil || unread > 0 {
		return out, unread, err // cut short, or a final block before the end
	}
	if otherErr != nil || otherUnread > 0 || !bytes.Equal(other, append(bytes.Clone(out), "hello"...)) {
		return out, 0, errors.New("the payload's last block runs into the stripped sync marker")
	}
	return out, 0, nil
}

// ---- negotiation ----

// negotiation is what a server answers to one set of offers and the
// configuration it ends up with, for the two modes that compress. A zero
// answer means no extension; the configuration with no context takeover is
// the one for context takeover with both directions' flags set.
type negotiation struct {
	name   string
	offers []string // Sec-WebSocket-Extensions header lines
	answer string   // with CompressionContextTakeover
	noCtx  string   // with CompressionNoContextTakeover
	cfg    deflateConfig
}

const (
	bothNoContext = "; server_no_context_takeover; client_no_context_takeover"
	pmd           = "permessage-deflate"
)

var negotiations = []negotiation{
	{name: "Chromium", offers: []string{"permessage-deflate; client_max_window_bits"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 15}},
	{name: "Firefox", offers: []string{"permessage-deflate"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 15}},
	{name: "our offer with context takeover", offers: []string{deflateOffer(CompressionContextTakeover)},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 15}},
	{name: "our offer without context takeover", offers: []string{deflateOffer(CompressionNoContextTakeover)},
		answer: pmd + bothNoContext, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 15, readNoContext: true, writeNoContext: true}},
	{name: "server_no_context_takeover", offers: []string{"permessage-deflate; server_no_context_takeover"},
		answer: pmd + "; server_no_context_takeover", noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 15, writeNoContext: true}},
	{name: "client_no_context_takeover", offers: []string{"permessage-deflate; client_no_context_takeover"},
		answer: pmd + "; client_no_context_takeover", noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 15, readNoContext: true}},
	{name: "server_max_window_bits=10", offers: []string{"permessage-deflate; server_max_window_bits=10"},
		answer: pmd + "; server_max_window_bits=10", noCtx: pmd + bothNoContext + "; server_max_window_bits=10",
		cfg: deflateConfig{readWindowBits: 15, writeHuffmanOnly: true}},
	{name: "server_max_window_bits=8", offers: []string{"permessage-deflate; server_max_window_bits=8"},
		answer: pmd + "; server_max_window_bits=8", noCtx: pmd + bothNoContext + "; server_max_window_bits=8",
		cfg: deflateConfig{readWindowBits: 15, writeHuffmanOnly: true}},
	{name: "server_max_window_bits=15", offers: []string{"permessage-deflate; server_max_window_bits=15"},
		answer: pmd + "; server_max_window_bits=15", noCtx: pmd + bothNoContext + "; server_max_window_bits=15",
		cfg: deflateConfig{readWindowBits: 15}},
	{name: "client_max_window_bits=9", offers: []string{"permessage-deflate; client_max_window_bits=9"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 9}},
	{name: "client_max_window_bits=8", offers: []string{"permessage-deflate; client_max_window_bits=8"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 8}},
	{name: "everything", offers: []string{"permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12"},
		answer: pmd + bothNoContext + "; server_max_window_bits=9", noCtx: pmd + bothNoContext + "; server_max_window_bits=9",
		cfg: deflateConfig{readWindowBits: 12, readNoContext: true, writeNoContext: true, writeHuffmanOnly: true}},
	{name: "quoted values", offers: []string{`permessage-deflate; server_max_window_bits="10"; client_max_window_bits="11"`},
		answer: pmd + "; server_max_window_bits=10", noCtx: pmd + bothNoContext + "; server_max_window_bits=10",
		cfg: deflateConfig{readWindowBits: 11, writeHuffmanOnly: true}},
	{name: "white space around parameters", offers: []string{"permessage-deflate ;\tserver_max_window_bits = 11 ; client_max_window_bits"},
		answer: pmd + "; server_max_window_bits=11", noCtx: pmd + bothNoContext + "; server_max_window_bits=11",
		cfg: deflateConfig{readWindowBits: 15, writeHuffmanOnly: true}},

	// RFC 7692 §5.1: an invalid offer is declined, and the next considered.
	{name: "unknown parameter first", offers: []string{"permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=11"},
		answer: pmd + "; server_max_window_bits=11", noCtx: pmd + bothNoContext + "; server_max_window_bits=11",
		cfg: deflateConfig{readWindowBits: 15, writeHuffmanOnly: true}},
	{name: "duplicate parameter first", offers: []string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover, permessage-deflate; client_max_window_bits=10"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 10}},
	{name: "duplicate window bits first", offers: []string{"permessage-deflate; client_max_window_bits=9; client_max_window_bits=10, permessage-deflate; client_max_window_bits=11"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 11}},
	{name: "window bits 7 first", offers: []string{"permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits=13"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 13}},
	{name: "window bits 16 first", offers: []string{"permessage-deflate; client_max_window_bits=16, permessage-deflate; client_max_window_bits=13"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 13}},
	{name: "leading zero first", offers: []string{"permessage-deflate; client_max_window_bits=09, permessage-deflate; client_max_window_bits=12"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 12}},
	{name: "sign first", offers: []string{"permessage-deflate; server_max_window_bits=+9, permessage-deflate; server_max_window_bits=9"},
		answer: pmd + "; server_max_window_bits=9", noCtx: pmd + bothNoContext + "; server_max_window_bits=9",
		cfg: deflateConfig{readWindowBits: 15, writeHuffmanOnly: true}},
	{name: "bare server_max_window_bits first", offers: []string{"permessage-deflate; server_max_window_bits, permessage-deflate; server_no_context_takeover"},
		answer: pmd + "; server_no_context_takeover", noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 15, writeNoContext: true}},
	{name: "value on server_no_context_takeover first", offers: []string{"permessage-deflate; server_no_context_takeover=1, permessage-deflate; client_max_window_bits=14"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 14}},
	{name: "quoted value on client_no_context_takeover first", offers: []string{`permessage-deflate; client_no_context_takeover="true", permessage-deflate; client_max_window_bits=14`},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 14}},
	{name: "every offer invalid", offers: []string{"permessage-deflate; server_max_window_bits=16, permessage-deflate; x=y"}},
	{name: "several headers", offers: []string{"x-webkit-deflate-frame", "permessage-deflate; client_max_window_bits=10"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 10}},
	{name: "several headers, the first offer invalid", offers: []string{"permessage-deflate; server_max_window_bits=16", "permessage-deflate; server_max_window_bits=12"},
		answer: pmd + "; server_max_window_bits=12", noCtx: pmd + bothNoContext + "; server_max_window_bits=12",
		cfg: deflateConfig{readWindowBits: 15, writeHuffmanOnly: true}},
	{name: "other extensions around", offers: []string{"foo, permessage-deflate; client_max_window_bits=15, bar; baz=1"},
		answer: pmd, noCtx: pmd + bothNoContext, cfg: deflateConfig{readWindowBits: 15}},
	{name: "x-webkit-deflate-frame only", offers: []string{"x-webkit-deflate-frame"}},
	{name: "deflate-frame and perframe-deflate", offers: []string{"deflate-frame, perframe-deflate"}},
	{name: "malformed header", offers: []string{"permessage-deflate; client_max_window_bits=\"\""}},
	{name: "no offer"},
}

// wantNegotiated returns the answer and configuration of row n for mode,
// with the options' level and threshold.
func (n negotiation) want(mode CompressionMode, level, threshold int) (string, *deflateConfig) {
	answer := n.answer
	if mode == CompressionNoContextTakeover {
		answer = n.noCtx
	}
	if mode == CompressionDisabled || answer == "" {
		return "", nil
	}
	cfg := n.cfg
	if mode == CompressionNoContextTakeover {
		cfg.readNoContext, cfg.writeNoContext = true, true
	}
	cfg.level, cfg.threshold = level, threshold
	return answer, &cfg
}

var compressionModes = []CompressionMode{CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover}

// checkAnswer applies what RFC 7692 asks of any answer: one extension, that
// a client accepts, with client_max_window_bits only if some offer had it
// (§7.1.2.2).
func checkAnswer(t *testing.T, offers []string, answer string) {
	t.Helper()
	if answer == "" {
		return
	}
	exts, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": {answer}})
	if err != nil || len(exts) != 1 || exts[0].name != pmd {
		t.Fatalf("answer %q is not one permessage-deflate extension: %v", answer, err)
	}
	if _, err := parseDeflateParams(exts[0], true); err != nil {
		t.Errorf("answer %q is invalid: %v", answer, err)
	}
	if strings.Contains(answer, "client_max_window_bits") && !strings.Contains(strings.Join(offers, ","), "client_max_window_bits") {
		t.Errorf("answer %q has client_max_window_bits, which no offer had", answer)
	}
}

func TestNegotiateDeflate(t *testing.T) {
	for _, n := range negotiations {
		for _, mode := range compressionModes {
			t.Run(n.name+"/"+mode.String(), func(t *testing.T) {
				offers, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": n.offers})
				if err != nil && n.name != "malformed header" {
					t.Fatalf("offers %q do not parse: %v", n.offers, err)
				}
				answer, cfg := negotiateDeflate(offers, mode, flate.BestCompression, 100)
				wantAnswer, wantCfg := n.want(mode, flate.BestCompression, 100)
				if answer != wantAnswer {
					t.Errorf("answer %q, want %q", answer, wantAnswer)
				}
				if fmt.Sprintf("%+v", cfg) != fmt.Sprintf("%+v", wantCfg) {
					t.Errorf("configuration %+v, want %+v", cfg, wantCfg)
				}
				checkAnswer(t, n.offers, answer)
			})
		}
	}
}

// TestUpgradeNegotiatesDeflate runs the table through Upgrade, with the
// options' defaults: the offers go out as header lines of a real request.
func TestUpgradeNegotiatesDeflate(t *testing.T) {
	for _, mode := range compressionModes {
		t.Run(mode.String(), func(t *testing.T) {
			srv, results := startUpgradeServer(t, &UpgradeOptions{Compression: mode})
			for _, n := range negotiations {
				var edits []string
				for _, o := range n.offers {
					edits = append(edits, "Sec-WebSocket-Extensions: "+o)
				}
				resp, _, _, _ := rawHandshake(t, srv, []byte(buildRequest("", edits...)))
				res := nextUpgrade(t, results)
				if res.err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("%s: status %d, Upgrade error %v", n.name, resp.StatusCode, res.err)
				}
				wantAnswer, wantCfg := n.want(mode, flate.BestSpeed, DefaultCompressionThreshold)
				answers := resp.Header.Values("Sec-WebSocket-Extensions")
				if (wantAnswer == "" && len(answers) != 0) || (wantAnswer != "" && (len(answers) != 1 || answers[0] != wantAnswer)) {
					t.Errorf("%s: Sec-WebSocket-Extensions %q, want %q", n.name, answers, wantAnswer)
				}
				if got := res.conn.cfg.deflate; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", wantCfg) {
					t.Errorf("%s: configuration %+v, want %+v", n.name, got, wantCfg)
				}
				if len(answers) == 1 {
					checkAnswer(t, n.offers, answers[0])
				}
				res.conn.CloseNow()
			}
		})
	}
}

// TestUpgradeSmallServerWindow offers server_max_window_bits below 15: the
// server says yes with the same value, and its messages, with context
// takeover, inflate in a client that keeps only that much history, here
// none at all.
func TestUpgradeSmallServerWindow(t *testing.T) {
	for _, bits := range []int{8, 9, 12, 14} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			srv, results := startUpgradeServer(t, &UpgradeOptions{Compression: CompressionContextTakeover})
			offer := fmt.Sprintf("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=%d; client_max_window_bits", bits)
			resp, _, raw, br := rawHandshake(t, srv, []byte(buildRequest("", offer)))
			res := nextUpgrade(t, results)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if got, want := resp.Header.Get("Sec-WebSocket-Extensions"), fmt.Sprintf("permessage-deflate; server_max_window_bits=%d", bits); got != want {
				t.Fatalf("answer %q, want %q", got, want)
			}
			if d := res.conn.cfg.deflate; d == nil || !d.writeHuffmanOnly || d.writeNoContext {
				t.Fatalf("configuration %+v, want Huffman-only blocks with context takeover", d)
			}
			msg := bytes.Repeat(randomText(2000, uint64(bits)), 5)
			for i := range 3 {
				go res.conn.WriteMessage(TextMessage, msg)
				raw.SetReadDeadline(time.Now().Add(testWait))
				b0, p, err := readRawFrame(t, br)
				if err != nil || b0 != 0xC1 {
					t.Fatalf("message %d: frame %#x, %v; want a compressed text frame", i, b0, err)
				}
				if got, err := inflateRef(p, nil, len(msg)+1); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("message %d does not inflate without history: %d bytes, %v", i, len(got), err)
				}
			}
		})
	}
}

// answerCase is a server's answer to a client's offer, and what the client
// makes of it: a configuration, or a refusal whose message holds wantErr.
type answerCase struct {
	name    string
	mode    CompressionMode
	answer  []string // Sec-WebSocket-Extensions header lines
	cfg     *deflateConfig
	wantErr string
}

var answerCases = []answerCase{
	{name: "none, with context takeover", mode: CompressionContextTakeover},
	{name: "none, without context takeover", mode: CompressionNoContextTakeover},
	{name: "none, disabled", mode: CompressionDisabled},
	{name: "plain", mode: CompressionContextTakeover, answer: []string{pmd},
		cfg: &deflateConfig{readWindowBits: 15}},
	{name: "server_no_context_takeover", mode: CompressionContextTakeover, answer: []string{pmd + "; server_no_context_takeover"},
		cfg: &deflateConfig{readWindowBits: 15, readNoContext: true}},
	{name: "client_no_context_takeover", mode: CompressionContextTakeover, answer: []string{pmd + "; client_no_context_takeover"},
		cfg: &deflateConfig{readWindowBits: 15, writeNoContext: true}},
	{name: "server_max_window_bits=9", mode: CompressionContextTakeover, answer: []string{pmd + "; server_max_window_bits=9"},
		cfg: &deflateConfig{readWindowBits: 9}},
	{name: "server_max_window_bits=8 quoted", mode: CompressionContextTakeover, answer: []string{pmd + `; server_max_window_bits="8"`},
		cfg: &deflateConfig{readWindowBits: 8}},
	{name: "client_max_window_bits=9", mode: CompressionContextTakeover, answer: []string{pmd + "; client_max_window_bits=9"},
		cfg: &deflateConfig{readWindowBits: 15, writeHuffmanOnly: true}},
	{name: "client_max_window_bits=15", mode: CompressionContextTakeover, answer: []string{pmd + "; client_max_window_bits=15"},
		cfg: &deflateConfig{readWindowBits: 15}},
	{name: "everything", mode: CompressionContextTakeover, answer: []string{pmd + bothNoContext + "; server_max_window_bits=10; client_max_window_bits=11"},
		cfg: &deflateConfig{readWindowBits: 10, readNoContext: true, writeNoContext: true, writeHuffmanOnly: true}},
	{name: "what was asked, without context takeover", mode: CompressionNoContextTakeover, answer: []string{pmd + bothNoContext},
		cfg: &deflateConfig{readWindowBits: 15, readNoContext: true, writeNoContext: true}},
	{name: "server_no_context_takeover alone, without context takeover", mode: CompressionNoContextTakeover, answer: []string{pmd + "; server_no_context_takeover"},
		cfg: &deflateConfig{readWindowBits: 15, readNoContext: true, writeNoContext: true}},

	{name: "unknown parameter", mode: CompressionContextTakeover, answer: []string{pmd + "; foo"}, wantErr: "unknown parameter foo"},
	{name: "duplicate parameter", mode: CompressionContextTakeover, answer: []string{pmd + "; server_no_context_takeover; server_no_context_takeover"}, wantErr: "server_no_context_takeover appears twice"},
	{name: "client_max_window_bits without a value", mode: CompressionContextTakeover, answer: []string{pmd + "; client_max_window_bits"}, wantErr: "client_max_window_bits needs a value"},
	{name: "server_max_window_bits without a value", mode: CompressionContextTakeover, answer: []string{pmd + "; server_max_window_bits"}, wantErr: "server_max_window_bits needs a value"},
	{name: "server_max_window_bits=7", mode: CompressionContextTakeover, answer: []string{pmd + "; server_max_window_bits=7"}, wantErr: "server_max_window_bits=7 is not from 8 to 15"},
	{name: "server_max_window_bits=16", mode: CompressionContextTakeover, answer: []string{pmd + "; server_max_window_bits=16"}, wantErr: "server_max_window_bits=16 is not from 8 to 15"},
	{name: "client_max_window_bits=16", mode: CompressionContextTakeover, answer: []string{pmd + "; client_max_window_bits=16"}, wantErr: "client_max_window_bits=16 is not from 8 to 15"},
	{name: "leading zero", mode: CompressionContextTakeover, answer: []string{pmd + "; client_max_window_bits=09"}, wantErr: "client_max_window_bits needs a value from 8 to 15"},
	{name: "value on server_no_context_takeover", mode: CompressionContextTakeover, answer: []string{pmd + "; server_no_context_takeover=yes"}, wantErr: "server_no_context_takeover takes no value"},
	{name: "two extensions", mode: CompressionContextTakeover, answer: []string{pmd + ", " + pmd}, wantErr: "did not offer"},
	{name: "two header lines", mode: CompressionContextTakeover, answer: []string{pmd, pmd + "; server_no_context_takeover"}, wantErr: "did not offer"},
	{name: "an extension not offered", mode: CompressionContextTakeover, answer: []string{"x-webkit-deflate-frame"}, wantErr: "did not offer"},
	{name: "permessage-deflate and another", mode: CompressionContextTakeover, answer: []string{pmd + ", foo"}, wantErr: "did not offer"},
	{name: "permessage-deflate when compression is disabled", mode: CompressionDisabled, answer: []string{pmd}, wantErr: "did not offer"},
	{name: "no server_no_context_takeover when asked for", mode: CompressionNoContextTakeover, answer: []string{pmd + "; client_no_context_takeover"}, wantErr: "lacks the server_no_context_takeover"},
	{name: "malformed", mode: CompressionContextTakeover, answer: []string{pmd + "; =1"}, wantErr: "malformed Sec-WebSocket-Extensions"},
}

func TestAcceptDeflateAnswer(t *testing.T) {
	for _, tc := range answerCases {
		t.Run(tc.name, func(t *testing.T) {
			exts, err := parseExtensions(http.Header{"Sec-Websocket-Extensions": tc.answer})
			if err != nil {
				if tc.wantErr == "" || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("answer %q does not parse: %v", tc.answer, err)
				}
				return
			}
			cfg, err := acceptDeflateAnswer(exts, tc.mode, flate.BestCompression, 100)
			checkAccepted(t, tc, cfg, err, flate.BestCompression, 100)
		})
	}
}

func checkAccepted(t *testing.T, tc answerCase, cfg *deflateConfig, err error, level, threshold int) {
	t.Helper()
	if tc.wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Fatalf("answer %q accepted with %+v, %v; want an error saying %q", tc.answer, cfg, err, tc.wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("answer %q refused: %v", tc.answer, err)
	}
	var want *deflateConfig
	if tc.cfg != nil {
		c := *tc.cfg
		c.level, c.threshold = level, threshold
		want = &c
	}
	if fmt.Sprintf("%+v", cfg) != fmt.Sprintf("%+v", want) {
		t.Errorf("configuration %+v, want %+v", cfg, want)
	}
}

// TestDialDeflateAnswers runs the answer table through Dial against a
// server written by hand. An accepted answer must then work: the server
// sends a compressed message and inflates the client's.
func TestDialDeflateAnswers(t *testing.T) {
	for _, tc := range answerCases {
		t.Run(tc.name, func(t *testing.T) {
			offers := make(chan []string, 1)
			reply := deflateRef(flate.BestSpeed, []byte("compressed by the server"))
			clientMsg := jsonLike(3000, 7)
			checked := make(chan error, 1)
			addr := startRawServer(t, func(c net.Conn, br *bufio.Reader) {
				_, h, err := readRequestHead(br)
				if err != nil {
					return
				}
				offers <- h.Values("Sec-WebSocket-Extensions")
				var lines []string
				for _, a := range tc.answer {
					lines = append(lines, "Sec-WebSocket-Extensions: "+a)
				}
				io.WriteString(c, answer101(h.Get("Sec-WebSocket-Key"), lines...))
				if tc.cfg == nil {
					drain(br)
					return
				}
				c.Write(rawFrame(0xC1, false, reply))
				b0, p, err := readRawFrame(t, br)
				switch got, ierr := inflateRef(p, nil, len(clientMsg)+1); {
				case err != nil:
					checked <- err
				case b0 != 0xC2:
					checked <- fmt.Errorf("the client's message starts with %#x, want 0xc2", b0)
				case ierr != nil || !bytes.Equal(got, clientMsg):
					checked <- fmt.Errorf("the client's message inflates to %d bytes (%v), want %d", len(got), ierr, len(clientMsg))
				default:
					checked <- nil
				}
				drain(br)
			})
			c, _, err := dialTest(t, testCtx(t), "ws://"+addr+"/", &DialOptions{Compression: tc.mode, Proxy: noProxy})
			if got, want := <-offers, deflateOffer(tc.mode); tc.mode == CompressionDisabled && got != nil || tc.mode != CompressionDisabled && fmt.Sprint(got) != fmt.Sprint([]string{want}) {
				t.Errorf("offered %q, want %q", got, want)
			}
			var he *HandshakeError
			if tc.wantErr != "" && err != nil && !errors.As(err, &he) {
				t.Fatalf("Dial error %v is not a *HandshakeError", err)
			}
			var cfg *deflateConfig
			if c != nil {
				cfg = c.cfg.deflate
			}
			checkAccepted(t, tc, cfg, err, flate.BestSpeed, DefaultCompressionThreshold)
			if tc.cfg == nil || err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(testWait))
			if typ, p, err := c.ReadMessage(); err != nil || typ != TextMessage || string(p) != "compressed by the server" {
				t.Fatalf("reading the server's message: %v %q, %v", typ, p, err)
			}
			if err := c.WriteMessage(BinaryMessage, clientMsg); err != nil {
				t.Fatal(err)
			}
			if err := <-checked; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// ---- the read path, frame by frame ----

// newDeflatePeer returns a Conn in the given role that negotiated d, and the
// raw other end of its connection.
func newDeflatePeer(t testing.TB, client bool, d *deflateConfig) (*Conn, net.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	c := newConn(a, nil, connConfig{client: client, closeTimeout: time.Second, deflate: d})
	t.Cleanup(func() { c.CloseNow() })
	return c, b
}

// testDeflate is the configuration of the table's Conns: the peer compresses
// with context takeover and a full window.
func testDeflate() *deflateConfig {
	return &deflateConfig{readWindowBits: 15, level: flate.BestSpeed, threshold: 1}
}

// compressed builds a frame with RSV1 set, the first of a compressed message.
func compressed(b0 byte, payload []byte) frameSpec {
	return frameSpec{b0: b0 | rsv1Bit, payload: payload}
}

// rfcHello is the payload of RFC 7692 §7.2.3.1's example: "Hello".
var rfcHello = []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}

// deflateCase is one row of the compressed read table.
type deflateCase struct {
	name      string
	frames    []frameSpec
	noExt     bool // the Conn did not negotiate permessage-deflate
	noContext bool // the peer promised no context takeover
	limit     int64
	want      []message
	failCode  StatusCode
	pongs     []string
}

var deflateCases = func() []deflateCase {
	text := jsonLike(40000, 1)
	ref := deflateRef(flate.BestSpeed, text)
	third := len(ref) / 3
	bin := make([]byte, 3000)
	for i := range bin {
		bin[i] = byte(i * i)
	}
	// A peer with context takeover: the second message is mostly
	// references to the first; the uncompressed one in between is not part
	// of the history (RFC 7692 §7.2.2).
	ctx := newRefDeflater(flate.BestSpeed)
	m1, m2 := jsonLike(5000, 2), jsonLike(5000, 2)
	c1, c2 := ctx.message(m1), ctx.message(m2)
	c3 := ctx.message(m1[:3000])
	// n empty stored blocks, the last one's four bytes removed: a message
	// that inflates to nothing however long it is.
	emptyBlocks := func(n int) []byte {
		p := bytes.Repeat([]byte("\x00\x00\x00\xff\xff"), n)
		return p[:len(p)-len(syncTail)]
	}
	// A final block that holds all the data, then the rest of the message
	// as RFC 7692 §7.2.1 step 3 makes it: an empty stored block, its last
	// four bytes removed. compress/flate never sets BFINAL on a block with
	// data, so set it by hand on the first (and only) data block.
	finalText := []byte(strings.Repeat("Hello, final block. ", 10))
	bfinal := deflateRef(flate.HuffmanOnly, finalText)
	if bfinal[0]&0b111 != 0b100 {
		panic("compress/flate did not write one dynamic Huffman block")
	}
	bfinal[0] |= 1
	afterFinal := deflateRefDict(flate.BestSpeed, finalText, finalText)
	// A final block followed by another block with data.
	finalThenMore := deflateRef(flate.BestSpeed, []byte("Hello"))
	finalThenMore = append(finalThenMore[:len(finalThenMore):len(finalThenMore)], syncTail...)
	finalThenMore[0] |= 1
	finalThenMore = append(finalThenMore, deflateRef(flate.BestSpeed, []byte(" and more"))...)

	return []deflateCase{
		{name: "compressed text", frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, []byte("hello, compressed world")))},
			want: []message{{TextMessage, "hello, compressed world"}}},
		{name: "compressed binary", frames: []frameSpec{compressed(0x82, deflateRef(flate.BestCompression, bin))},
			want: []message{{BinaryMessage, string(bin)}}},
		{name: "large message in one frame", frames: []frameSpec{compressed(0x81, ref)}, want: []message{{TextMessage, string(text)}}},
		{name: "RFC 7692 §7.2.3.1 example", frames: []frameSpec{compressed(0x81, rfcHello)}, want: []message{{TextMessage, "Hello"}}},
		{name: "RFC 7692 §7.2.3.2 example: shared window", frames: []frameSpec{compressed(0x81, rfcHello), compressed(0x81, []byte{0xf2, 0x00, 0x11, 0x00, 0x00})},
			want: []message{{TextMessage, "Hello"}, {TextMessage, "Hello"}}},
		{name: "RFC 7692 §7.2.3.3 example: stored block", frames: []frameSpec{compressed(0x81, []byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00})},
			want: []message{{TextMessage, "Hello"}}},
		{name: "RFC 7692 §7.2.3.4 example: BFINAL set", frames: []frameSpec{compressed(0x81, []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})},
			want: []message{{TextMessage, "Hello"}}},
		{name: "RFC 7692 §7.2.3.5 example: two blocks", frames: []frameSpec{compressed(0x81, []byte{0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00})},
			want: []message{{TextMessage, "Hello"}}},
		{name: "final Huffman block, then the message goes on with context", frames: []frameSpec{compressed(0x81, bfinal), compressed(0x81, afterFinal)},
			want: []message{{TextMessage, string(finalText)}, {TextMessage, string(finalText)}}},
		{name: "empty message is one 0x00 byte", frames: []frameSpec{compressed(0x81, []byte{0}), compressed(0x82, []byte{0})},
			want: []message{{TextMessage, ""}, {BinaryMessage, ""}}},
		{name: "empty stored blocks inflate to nothing", frames: []frameSpec{compressed(0x82, emptyBlocks(10))}, want: []message{{BinaryMessage, ""}}},

		{name: "fragments: RSV1 on the first only", frames: []frameSpec{compressed(0x01, ref[:third]), contMiddle(string(ref[third : 2*third])), contLast(string(ref[2*third:]))},
			want: []message{{TextMessage, string(text)}}},
		{name: "fragments with a ping between", frames: []frameSpec{compressed(0x01, ref[:third]), pingFrame("p1"), contMiddle(string(ref[third : 2*third])), pingFrame("p2"), contLast(string(ref[2*third:]))},
			want: []message{{TextMessage, string(text)}}, pongs: []string{"p1", "p2"}},
		{name: "fragments of one byte", frames: func() []frameSpec {
			p := deflateRef(flate.BestSpeed, []byte("tiny fragments, h\u00e9llo"))
			fs := []frameSpec{compressed(0x01, p[:1])}
			for _, b := range p[1 : len(p)-1] {
				fs = append(fs, contMiddle(string([]byte{b})))
			}
			return append(fs, contLast(string(p[len(p)-1:])))
		}(), want: []message{{TextMessage, "tiny fragments, h\u00e9llo"}}},
		{name: "empty first and last fragments", frames: []frameSpec{compressed(0x02, nil), contMiddle(string(ref)), contLast("")},
			want: []message{{BinaryMessage, string(text)}}},
		{name: "uncompressed and compressed messages mixed", frames: []frameSpec{
			compressed(0x81, deflateRef(flate.BestSpeed, []byte("one"))), textFrame("two"),
			compressed(0x82, deflateRef(flate.BestSpeed, bin)), binaryFrame("four"),
			textFirst("fi"), contLast("ve"), compressed(0x81, deflateRef(flate.BestSpeed, []byte("six"))),
		}, want: []message{{TextMessage, "one"}, {TextMessage, "two"}, {BinaryMessage, string(bin)}, {BinaryMessage, "four"}, {TextMessage, "five"}, {TextMessage, "six"}}},
		{name: "context takeover across messages", frames: []frameSpec{compressed(0x81, c1), textFrame("not in the history"), compressed(0x81, c2), compressed(0x82, c3)},
			want: []message{{TextMessage, string(m1)}, {TextMessage, "not in the history"}, {TextMessage, string(m2)}, {BinaryMessage, string(m1[:3000])}}},

		{name: "context used after the peer promised none", noContext: true, frames: []frameSpec{compressed(0x81, c1), compressed(0x81, c2)},
			want: []message{{TextMessage, string(m1)}}, failCode: StatusInvalidPayload},
		{name: "RSV1 on a continuation", frames: []frameSpec{compressed(0x01, ref[:third]), {b0: 0x80 | rsv1Bit, payload: ref[third:]}}, failCode: StatusProtocolError},
		{name: "RSV1 on a middle continuation", frames: []frameSpec{compressed(0x01, ref[:third]), {b0: rsv1Bit, payload: ref[third : 2*third]}, contLast(string(ref[2*third:]))}, failCode: StatusProtocolError},
		{name: "RSV1 on a continuation of an uncompressed message", frames: []frameSpec{textFirst("a"), {b0: 0x80 | rsv1Bit, payload: []byte("b")}}, failCode: StatusProtocolError},
		{name: "RSV1 on a ping", frames: []frameSpec{{b0: 0x89 | rsv1Bit, payload: []byte("p")}}, failCode: StatusProtocolError},
		{name: "RSV1 on a pong", frames: []frameSpec{{b0: 0x8A | rsv1Bit}}, failCode: StatusProtocolError},
		{name: "RSV1 on a close", frames: []frameSpec{{b0: 0x88 | rsv1Bit, payload: []byte{0x03, 0xe8}}}, failCode: StatusProtocolError},
		{name: "RSV1 on a ping between fragments", frames: []frameSpec{compressed(0x01, ref[:third]), {b0: 0x89 | rsv1Bit}, contLast(string(ref[third:]))}, failCode: StatusProtocolError},
		{name: "RSV1 without the extension", noExt: true, frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, []byte("a")))}, failCode: StatusProtocolError},
		{name: "RSV2 with the extension", frames: []frameSpec{{b0: 0xA1, payload: []byte("a")}}, failCode: StatusProtocolError},
		{name: "RSV3 with the extension", frames: []frameSpec{{b0: 0x91, payload: []byte("a")}}, failCode: StatusProtocolError},
		{name: "RSV1 and RSV2", frames: []frameSpec{{b0: 0xE1, payload: rfcHello}}, failCode: StatusProtocolError},
		{name: "RSV1 and RSV3", frames: []frameSpec{{b0: 0xD2, payload: rfcHello}}, failCode: StatusProtocolError},
		{name: "RSV2 on a continuation", frames: []frameSpec{compressed(0x01, ref[:third]), {b0: 0xA0, payload: ref[third:]}}, failCode: StatusProtocolError},

		{name: "garbage does not inflate", frames: []frameSpec{compressed(0x82, []byte{0xff, 0xff, 0xff, 0xff})}, failCode: StatusInvalidPayload},
		{name: "reserved block type", frames: []frameSpec{compressed(0x82, []byte{0x06, 0x00})}, failCode: StatusInvalidPayload},
		{name: "stored block with a bad length check", frames: []frameSpec{compressed(0x82, []byte{0x00, 0x05, 0x00, 0xfa, 0xfe, 'h', 'e', 'l', 'l', 'o'})}, failCode: StatusInvalidPayload},
		{name: "message cut inside a block", frames: []frameSpec{compressed(0x82, ref[:len(ref)/2])}, failCode: StatusInvalidPayload},
		{name: "zero-length compressed payload", frames: []frameSpec{compressed(0x82, nil)}, failCode: StatusInvalidPayload},
		{name: "stored block cut by the end of the message", frames: []frameSpec{compressed(0x82, []byte{0x00, 0x09, 0x00, 0xf6, 0xff})}, failCode: StatusInvalidPayload},
		{name: "final stored block cut by the end of the message", frames: []frameSpec{compressed(0x82, []byte{0x01, 0x09, 0x00, 0xf6, 0xff})}, failCode: StatusInvalidPayload},
		// After a final block, the rest of the payload is inflated as a new
		// deflate stream (RFC 7692 §7.2.3.4 shows the simplest such rest).
		{name: "final block followed by more data", frames: []frameSpec{compressed(0x81, finalThenMore)}, want: []message{{TextMessage, "Hello and more"}}},
		{name: "invalid UTF-8 in compressed text", frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, []byte("valid, then \xff")))}, failCode: StatusInvalidPayload},
		{name: "compressed text ends inside a rune", frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, []byte("euro \xe2\x82")))}, failCode: StatusInvalidPayload},
		{name: "surrogate in compressed fragments", frames: []frameSpec{compressed(0x01, deflateRef(flate.BestSpeed, []byte("\xed\xa0\x80"))[:2]), contLast(string(deflateRef(flate.BestSpeed, []byte("\xed\xa0\x80"))[2:]))}, failCode: StatusInvalidPayload},
		{name: "compressed binary need not be UTF-8", frames: []frameSpec{compressed(0x82, deflateRef(flate.BestSpeed, []byte("\xff\xfe")))}, want: []message{{BinaryMessage, "\xff\xfe"}}},

		{name: "inflates past the limit", limit: 1000, frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, bytes.Repeat([]byte("a"), 1001)))}, failCode: StatusMessageTooBig},
		{name: "inflates to the limit", limit: 1000, frames: []frameSpec{compressed(0x81, deflateRef(flate.BestSpeed, bytes.Repeat([]byte("a"), 1000)))}, want: []message{{TextMessage, strings.Repeat("a", 1000)}}},
		{name: "wire size past the limit, inflating to nothing", limit: 1000, frames: []frameSpec{compressed(0x02, emptyBlocks(100)[:500]), contMiddle(string(emptyBlocks(100)[:500])), contLast(string(emptyBlocks(100)))}, failCode: StatusMessageTooBig},
		{name: "wire size of a stored message at the limit", limit: 1000, frames: []frameSpec{compressed(0x82, deflateRef(flate.NoCompression, bin[:1000]))}, want: []message{{BinaryMessage, string(bin[:1000])}}},
	}
}()

func TestDeflateReadRules(t *testing.T) {
	for _, split := range []bool{false, true} {
		for _, streaming := range []bool{false, true} {
			for _, role := range []string{"server", "client"} {
				for _, tc := range deflateCases {
					name := role + "/" + tc.name
					if streaming {
						name = "NextReader/" + name
					}
					if split {
						name = "one-byte-reads/" + name
					}
					t.Run(name, func(t *testing.T) {
						testDeflateCase(t, tc, role == "client", split, streaming)
					})
				}
			}
		}
	}
}

// describeMessages shows messages briefly: long ones are cut.
func describeMessages(msgs []message) string {
	var parts []string
	for _, m := range msgs {
		d := m.data
		if len(d) > 40 {
			d = fmt.Sprintf("%s... (%d bytes)", d[:40], len(d))
		}
		parts = append(parts, fmt.Sprintf("%v %q", m.typ, d))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// testDeflateCase runs one row, as testProtocolCase does for uncompressed
// rows: a raw peer sends the frames and a normal close, and reports the
// pongs and the close code the Conn sent.
func testDeflateCase(t *testing.T, tc deflateCase, client, split, streaming bool) {
	a, raw := tcpPair(t)
	var tr transport = a
	if split {
		tr = oneByteReads{a}
	}
	cfg := connConfig{client: client, closeTimeout: time.Second}
	if !tc.noExt {
		cfg.deflate = testDeflate()
		cfg.deflate.readNoContext = tc.noContext
	}
	c := newConn(tr, nil, cfg)
	t.Cleanup(func() { c.CloseNow() })
	if tc.limit > 0 {
		c.SetReadLimit(tc.limit)
	}
	// A close frame ends every row: one that should fail but does not
	// then ends with the close instead of waiting for more.
	frames := append(tc.frames[:len(tc.frames):len(tc.frames)], closeCode(1000, ""))
	peerClose := StatusNormalClosure
	go raw.Write(encodeFrames(frames, !client))

	sentc := collectSent(t, raw, !client)
	got, readErr := readMessages(c, streaming)
	if fmt.Sprint(got) != fmt.Sprint(tc.want) {
		t.Errorf("messages = %s, want %s", describeMessages(got), describeMessages(tc.want))
	}
	s := <-sentc
	if tc.failCode != 0 {
		var pe *ProtocolError
		if !errors.As(readErr, &pe) || pe.Code != tc.failCode {
			t.Errorf("read error = %v, want a failure with %v", readErr, tc.failCode)
		}
		if s.code != tc.failCode {
			t.Errorf("close frame sent with %v, want %v", s.code, tc.failCode)
		}
	} else {
		if CloseStatus(readErr) != peerClose {
			t.Errorf("read error = %v, want the peer's close %v", readErr, peerClose)
		}
		if s.code != peerClose {
			t.Errorf("close reply sent with %v, want %v", s.code, peerClose)
		}
	}
	if fmt.Sprint(s.pongs) != fmt.Sprint(tc.pongs) {
		t.Errorf("pongs sent = %q, want %q", s.pongs, tc.pongs)
	}
}

// TestDeflateReadWindow has a peer compress with context takeover and a
// window of 2^bits bytes: each message may refer to that much of the ones
// before. The reader must keep at least that much history, and a window
// larger than the messages works too.
func TestDeflateReadWindow(t *testing.T) {
	for _, bits := range []int{8, 9, 12, 15} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			d := testDeflate()
			d.readWindowBits = bits
			c, raw := newDeflatePeer(t, false, d)
			window := 1 << bits
			var history, all []byte
			var want []message
			seed := uint64(bits)
			for i, n := range []int{10, 300, window - 1, window, window + 1, 3, 2 * window, 40000, 1, 700} {
				// Each message starts with what ended the one before,
				// from as far back as the window reaches.
				p := randomText(n, seed+uint64(i))
				if k := min(len(history), window, n); k > 0 {
					copy(p, history[len(history)-k:])
				}
				dict := history[max(0, len(history)-window):]
				all = append(all, rawFrame(0xC2, true, deflateRefDict(flate.BestCompression, dict, p))...)
				history = append(history, p...)
				want = append(want, message{BinaryMessage, string(p)})
			}
			go raw.Write(all)
			for i, w := range want {
				_, got, err := c.ReadMessage()
				if err != nil || string(got) != w.data {
					t.Fatalf("message %d of %d bytes: read %d bytes, %v", i, len(w.data), len(got), err)
				}
			}
		})
	}
}

// TestSlidingWindow checks the history against the simplest reference:
// everything written, of which the last size bytes count.
func TestSlidingWindow(t *testing.T) {
	for _, size := range []int{1, 2, 256, 1000} {
		sw := slidingWindow{size: size}
		var all []byte
		x := uint64(size)
		for i := range 2000 {
			x = x*6364136223846793005 + 1442695040888963407
			n := int(x>>33) % (size*5/2 + 2)
			if i%7 == 0 {
				n = 0
			}
			p := randomText(n, x)
			sw.write(p)
			all = append(all, p...)
			want := all[max(0, len(all)-size):]
			if got := sw.history(); !bytes.Equal(got, want) {
				t.Fatalf("size %d, after %d writes (the last of %d bytes): history of %d bytes differs from the last %d written", size, i+1, n, len(got), len(want))
			}
			if cap(sw.buf) > 2*size {
				t.Fatalf("size %d: the window grew to %d bytes", size, cap(sw.buf))
			}
		}
	}
}

// ---- the write path ----

// rawMessage is a message as a raw peer received it: its frames' first
// bytes and the payload they carry together.
type rawMessage struct {
	b0s     []byte
	payload []byte
}

// readRawMessage reads the frames of one data message from a raw end,
// skipping control frames but recording their first bytes too.
func readRawMessage(t *testing.T, r net.Conn) rawMessage {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(testWait))
	var m rawMessage
	for {
		b0, p, err := readRawFrame(t, r)
		if err != nil {
			t.Fatalf("reading a frame: %v", err)
		}
		m.b0s = append(m.b0s, b0)
		if opcode(b0 & 0x0f).isControl() {
			continue
		}
		m.payload = append(m.payload, p...)
		if b0&finBit != 0 {
			return m
		}
	}
}

// randomText is n bytes of lowercase letters that LZ77 finds nothing in:
// only Huffman coding shrinks them, to about 4.7 bits a byte.
func randomText(n int, seed uint64) []byte {
	p := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = 'a' + byte(x%26)
	}
	return p
}

func TestDeflateWriterFrames(t *testing.T) {
	for _, client := range []bool{false, true} {
		t.Run(roleOf(client), func(t *testing.T) {
			d := testDeflate()
			d.threshold = 100
			c, raw := newDeflatePeer(t, client, d)
			big := jsonLike(3*largeBufferSize, 4)
			// Random letters compress to about 60%: several frames.
			long := randomText(4*largeBufferSize, 1)
			check := func(name string, m rawMessage, wantB0 []byte, want []byte) {
				t.Helper()
				if !bytes.Equal(m.b0s, wantB0) {
					t.Errorf("%s: frames % x, want % x", name, m.b0s, wantB0)
				}
				if m.b0s[0]&rsv1Bit == 0 {
					if !bytes.Equal(m.payload, want) {
						t.Errorf("%s: uncompressed payload differs", name)
					}
					return
				}
				got, err := inflateRef(m.payload, nil, len(want)+1)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: payload inflates to %d bytes (%v), want the %d sent", name, len(got), err, len(want))
				}
			}

			// WriteMessage: compressed from the threshold on.
			go c.WriteMessage(TextMessage, big[:99])
			check("99 bytes", readRawMessage(t, raw), []byte{0x81}, big[:99])
			go c.WriteMessage(BinaryMessage, big[:100])
			check("100 bytes", readRawMessage(t, raw), []byte{0xC2}, big[:100])
			go c.WriteMessage(TextMessage, big)
			check("large, repetitive", readRawMessage(t, raw), []byte{0xC1}, big)

			// NextWriter decides at Close, or when its buffer fills.
			write := func(typ MessageType, pieces ...[]byte) {
				go func() {
					w, err := c.NextWriter(typ)
					if err != nil {
						return
					}
					for _, p := range pieces {
						w.Write(p)
					}
					w.Close()
				}()
			}
			write(TextMessage, big[:50], big[50:99])
			check("streamed, 99 bytes", readRawMessage(t, raw), []byte{0x81}, big[:99])
			write(TextMessage, big[:50], big[50:100])
			check("streamed, 100 bytes", readRawMessage(t, raw), []byte{0xC1}, big[:100])
			write(BinaryMessage, long[:1000], long[1000:])
			m := readRawMessage(t, raw)
			if len(m.b0s) < 3 {
				t.Fatalf("a %d-byte message that compresses to about %d went out in %d frames", len(long), len(long)*6/10, len(m.b0s))
			}
			// RFC 7692 §6.1: RSV1 on the first frame only.
			wantB0 := bytes.Repeat([]byte{0x00}, len(m.b0s))
			wantB0[0], wantB0[len(wantB0)-1] = 0x42, 0x80
			check("streamed, several frames", m, wantB0, long)

			// A pong between the frames of a compressed message has no RSV1.
			w, err := c.NextWriter(TextMessage)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				if _, err := w.Write(long); err != nil {
					done <- err
					return
				}
				if err := c.Pong([]byte("between")); err != nil {
					done <- err
					return
				}
				w.Write(long[:500])
				done <- w.Close()
			}()
			m = readRawMessage(t, raw)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			pong := bytes.IndexByte(m.b0s, 0x8A)
			if pong <= 0 || pong == len(m.b0s)-1 || m.b0s[0] != 0x41 {
				t.Errorf("frames % x: want a pong (8a) between the frames of a compressed text message (41 first)", m.b0s)
			}
			dataB0 := append(bytes.Clone(m.b0s[:pong]), m.b0s[pong+1:]...)
			wantB0 = bytes.Repeat([]byte{0x00}, len(dataB0))
			wantB0[0], wantB0[len(wantB0)-1] = 0x41, 0x80
			check("pong between frames", rawMessage{b0s: dataB0, payload: m.payload}, wantB0, append(bytes.Clone(long), long[:500]...))

			// The close frame has no RSV1 either.
			go c.Close(StatusNormalClosure, "")
			raw.SetReadDeadline(time.Now().Add(testWait))
			if b0, _, err := readRawFrame(t, raw); err != nil || b0 != 0x88 {
				t.Errorf("close frame starts with %#x (%v), want 0x88", b0, err)
			}
			raw.Write(rawFrame(0x88, !client, []byte{0x03, 0xe8}))
			raw.Close()
		})
	}
}

func roleOf(client bool) string {
	if client {
		return "client"
	}
	return "server"
}

// TestDeflateWriterContext checks what the writer's messages may refer to:
// earlier compressed messages with context takeover (RFC 7692 §7.2.1), but
// never an uncompressed message, and nothing without it.
func TestDeflateWriterContext(t *testing.T) {
	msg := jsonLike(4096, 5)
	for _, noContext := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-context=%v", noContext), func(t *testing.T) {
			d := testDeflate()
			d.writeNoContext = noContext
			d.threshold = 64
			c, raw := newDeflatePeer(t, false, d)
			var sizes []int
			var history []byte
			for i, p := range [][]byte{msg, []byte("uncompressed: below the threshold"), msg, msg[:2000]} {
				go c.WriteMessage(TextMessage, p)
				m := readRawMessage(t, raw)
				if len(p) < d.threshold {
					if m.b0s[0] != 0x81 || !bytes.Equal(m.payload, p) {
						t.Fatalf("message %d went out as %#x % x, want it uncompressed", i, m.b0s[0], m.payload)
					}
					continue
				}
				// The reference keeps the history of compressed
				// messages only (RFC 7692 §7.2.2).
				dict := history
				if noContext {
					dict = nil
				}
				got, err := inflateRef(m.payload, dict, len(p)+1)
				if err != nil || !bytes.Equal(got, p) {
					t.Fatalf("message %d inflates to %d bytes (%v), want %d", i, len(got), err, len(p))
				}
				history = append(history, p...)
				sizes = append(sizes, len(m.payload))
			}
			t.Logf("compressed sizes of %d, %d and %d bytes: %v", len(msg), len(msg), 2000, sizes)
			if noContext && sizes[1] != sizes[0] {
				t.Errorf("without context, the same message compressed to %d bytes, then %d", sizes[0], sizes[1])
			}
			if !noContext && sizes[1]*8 > sizes[0] {
				t.Errorf("with context, a repeated message compressed to %d bytes after %d: want much less", sizes[1], sizes[0])
			}
		})
	}
}

// TestDeflateHuffmanOnly checks the writer of a Conn whose peer allows a
// window smaller than flate's: no block may refer back, within a message or
// to an earlier one, so each message inflates without history and compresses
// no better than Huffman coding can.
func TestDeflateHuffmanOnly(t *testing.T) {
	block := randomText(4096, 2)
	msg := bytes.Repeat(block, 8) // LZ77 would make this 4 KiB and change
	d := testDeflate()
	d.writeHuffmanOnly = true
	c, raw := newDeflatePeer(t, false, d)
	for i := range 3 {
		go c.WriteMessage(TextMessage, msg)
		m := readRawMessage(t, raw)
		if m.b0s[0]&^finBit != 0x41 {
			t.Fatalf("message %d: first byte %#x, want a compressed text frame", i, m.b0s[0])
		}
		got, err := inflateRef(m.payload, nil, len(msg)+1)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d does not inflate without history: %d bytes, %v", i, len(got), err)
		}
		if len(m.payload) < len(msg)/2 {
			t.Errorf("message %d: %d bytes compressed to %d: that takes back-references", i, len(msg), len(m.payload))
		}
	}

	// And a Conn that keeps only a 512-byte window reads it.
	client, server := newPair(t, connConfig{deflate: &deflateConfig{readWindowBits: 9, level: 1, threshold: 1}},
		connConfig{deflate: &deflateConfig{readWindowBits: 15, writeHuffmanOnly: true, level: 9, threshold: 1}})
	for i := range 3 {
		go server.WriteMessage(BinaryMessage, msg)
		_, got, err := client.ReadMessage()
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: the client read %d bytes, %v", i, len(got), err)
		}
	}
}

// ---- limits ----

// deflateBomb returns a message payload that inflates to n zero bytes (n a
// multiple of 1032, at least 1032000) at deflate's best ratio, 1032 to 1:
// a dynamic Huffman block of length-258 distance-1 matches whose codes are
// one bit each, so that each 0x00 byte in its middle stands for 4 matches.
// compress/flate writes the block for 1032000 zeros; more zero bytes in
// its middle make it longer.
func deflateBomb(n int) []byte {
	base := deflateRef(flate.BestCompression, make([]byte, 1032000))
	mid := len(base) / 2
	if base[mid-50] != 0 || base[mid+50] != 0 || n%1032 != 0 || n < 1032000 {
		panic("compress/flate no longer writes zeros the way deflateBomb expects")
	}
	extra := make([]byte, (n-1032000)/1032)
	return append(append(append([]byte(nil), base[:mid]...), extra...), base[mid:]...)
}

func TestDeflateBombShape(t *testing.T) {
	const n = 1032000 + 1032*5000
	out, err := inflateRef(deflateBomb(n), nil, n+1)
	if err != nil || len(out) != n || bytes.ContainsFunc(out, func(r rune) bool { return r != 0 }) {
		t.Fatalf("the bomb inflates to %d bytes (%v), want %d zeros", len(out), err, n)
	}
}

// readCounter counts the bytes a Conn reads from its transport until it
// first writes, which for a Conn that only reads is its close frame.
type readCounter struct {
	net.Conn
	read        atomic.Int64
	beforeWrite atomic.Int64 // -1 until the first write
}

func (r *readCounter) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.read.Add(int64(n))
	return n, err
}

func (r *readCounter) Write(p []byte) (int, error) {
	r.beforeWrite.CompareAndSwap(-1, r.read.Load())
	return r.Conn.Write(p)
}

// TestDeflateBomb sends messages that inflate a thousandfold: the read fails
// with 1009 once the inflated size passes the limit, having allocated about
// the limit (ReadMessage) or a few buffers (NextReader), however large the
// message claims to be. DEFLATE's best ratio is 1032 to 1, so a 1 GB bomb
// takes 1 MB, which passes the wire limit of a 1 MiB read limit.
func TestDeflateBomb(t *testing.T) {
	const limit = 1 << 20
	for _, bomb := range []struct {
		name string
		n    int
	}{{"20KB-to-20MB", 1032 * 20000}, {"1MB-to-1GB", 1032 * 1040000}} {
		payload := deflateBomb(bomb.n)
		if int64(len(payload)) > wireLimit(limit, true) {
			t.Fatalf("a %d-byte bomb is over the wire limit", len(payload))
		}
		for _, client := range []bool{false, true} {
			frame := rawFrame(0xC2, !client, payload)
			for _, streaming := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/streaming=%v", bomb.name, roleOf(client), streaming), func(t *testing.T) {
					a, raw := tcpPair(t)
					counter := &readCounter{Conn: a}
					counter.beforeWrite.Store(-1)
					c := newConn(counter, nil, connConfig{client: client, readLimit: limit, closeTimeout: time.Second, deflate: testDeflate()})
					defer c.CloseNow()
					go raw.Write(frame)
					go closeOnClose(raw)
					var err error
					alloc, _ := allocatedWhile(func() {
						if streaming {
							var r io.Reader
							if _, r, err = c.NextReader(); err == nil {
								_, err = io.Copy(io.Discard, r)
							}
						} else {
							_, _, err = c.ReadMessage()
						}
					})
					var pe *ProtocolError
					if !errors.As(err, &pe) || pe.Code != StatusMessageTooBig {
						t.Fatalf("read error = %v, want a failure with 1009", err)
					}
					read := counter.beforeWrite.Load()
					t.Logf("%d-byte message: failed after reading %d bytes off the wire, %d allocated", len(payload), read, alloc)
					if alloc > 8<<20 {
						t.Errorf("reading allocated %d bytes, want less than 8 MiB for a %d-byte limit", alloc, limit)
					}
					// About 1 KiB inflates past the limit; the rest is read-ahead.
					if read > 64<<10 {
						t.Errorf("the Conn read %d bytes of the message before failing, want a few KiB", read)
					}
				})
			}
		}
	}
}

// closeOnClose reads frames from a raw end until a close frame, then closes
// the connection: the Conn that sent it need not wait for an answer.
func closeOnClose(raw net.Conn) {
	defer raw.Close()
	var h [2]byte
	for {
		if _, err := io.ReadFull(raw, h[:]); err != nil {
			return
		}
		n := int64(h[1] & 0x7f)
		if n >= 126 {
			return // no frame a reading Conn sends is that long
		}
		if h[1]&0x80 != 0 {
			n += 4
		}
		if _, err := io.CopyN(io.Discard, raw, n); err != nil || opcode(h[0]&0x0f) == opClose {
			return
		}
	}
}

// allocatedWhile returns the bytes and objects the process allocated while
// f ran.
func allocatedWhile(f func()) (bytes, objects uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, after.Mallocs - before.Mallocs
}

// TestDeflateWireLimit sends a compressed message that never ends, made of
// empty stored blocks that inflate to nothing: the inflated size never grows,
// so only the bytes on the wire can stop it, with 1009, once they pass the
// wire limit.
func TestDeflateWireLimit(t *testing.T) {
	const limit = 1 << 20
	const frameSize = 64 << 10
	blocks := bytes.Repeat([]byte("\x00\x00\x00\xff\xff"), frameSize/5)
	for _, client := range []bool{false, true} {
		t.Run(roleOf(client), func(t *testing.T) {
			a, raw := tcpPair(t)
			counter := &readCounter{Conn: a}
			counter.beforeWrite.Store(-1)
			c := newConn(counter, nil, connConfig{client: client, readLimit: limit, closeTimeout: time.Second, deflate: testDeflate()})
			defer c.CloseNow()
			first, next := rawFrame(0x02|rsv1Bit, !client, blocks), rawFrame(0x00, !client, blocks)
			go closeOnClose(raw)
			go func() {
				if _, err := raw.Write(first); err != nil {
					return
				}
				// Endless, but for a bound in case the Conn never stops.
				for range 4 * limit / frameSize {
					if _, err := raw.Write(next); err != nil {
						return
					}
				}
			}()
			_, _, err := c.ReadMessage()
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != StatusMessageTooBig {
				t.Fatalf("read error = %v, want a failure with 1009", err)
			}
			read := counter.beforeWrite.Load()
			wire := wireLimit(limit, true)
			t.Logf("failed after reading %d bytes, the wire limit is %d", read, wire)
			if read < wire-frameSize || read > wire+frameSize+largeBufferSize {
				t.Errorf("the Conn read %d bytes before failing, want about the wire limit %d", read, wire)
			}
		})
	}
}

// ---- memory ----

// TestDeflateReadAllocs reads compressed messages through NextReader into a
// fixed buffer: the allocations per message must not grow with its size.
// Borrowing a decompressor from the pool and resetting it costs a few;
// nothing should cost one per compressed byte.
func TestDeflateReadAllocs(t *testing.T) {
	const messages = 20
	msg := jsonLike(64<<10, 8)
	payload := deflateRef(flate.BestSpeed, msg)
	var in []byte
	for range messages {
		in = append(in, rawFrame(0xC1, true, payload)...)
	}
	for _, noContext := range []bool{true, false} {
		t.Run(fmt.Sprintf("no-context=%v", noContext), func(t *testing.T) {
			d := testDeflate()
			d.readNoContext = noContext
			tr := &memTransport{in: bytes.NewReader(in)}
			c := newConn(tr, nil, connConfig{deflate: d})
			defer c.CloseNow()
			buf := make([]byte, 32<<10)
			read := func() {
				_, r, err := c.NextReader()
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for err == nil {
					var k int
					k, err = r.Read(buf)
					n += k
				}
				if err != io.EOF || n != len(msg) {
					t.Fatalf("read %d bytes, %v; want %d", n, err, len(msg))
				}
			}
			read() // the first message may fill pools
			_, objects := allocatedWhile(func() {
				for range messages - 1 {
					read()
				}
			})
			perMessage := objects / (messages - 1)
			t.Logf("%d allocations per message of %d bytes, %d compressed", perMessage, len(msg), len(payload))
			if perMessage > 50 {
				t.Errorf("%d allocations per message of %d compressed bytes, want a few", perMessage, len(payload))
			}
		})
	}
}

// TestDeflateIdleState checks what a compressed connection holds between
// messages: with no context takeover, no compressor, decompressor or
// history (they go back to their pools); with it, the compressor and the
// history, which the next message needs.
func TestDeflateIdleState(t *testing.T) {
	for _, mode := range []CompressionMode{CompressionNoContextTakeover, CompressionContextTakeover} {
		t.Run(mode.String(), func(t *testing.T) {
			client, server := dialCompressed(t, mode, mode, -1)
			msg := jsonLike(50000, 6)
			for _, pair := range [][2]*Conn{{client, server}, {server, client}} {
				from, to := pair[0], pair[1]
				for _, streaming := range []bool{false, true} {
					errc := make(chan error, 1)
					go func() { errc <- from.WriteMessage(TextMessage, msg) }()
					_, got, err := readWhole(to, streaming)
					if err := <-errc; err != nil {
						t.Fatal(err)
					}
					if err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("read %d bytes, %v", len(got), err)
					}
					// A message read partly, then dropped by the next read.
					go func() { errc <- from.WriteMessage(TextMessage, msg) }()
					_, r, err := to.NextReader()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := r.Read(make([]byte, 100)); err != nil {
						t.Fatal(err)
					}
					go func() { errc <- from.WriteMessage(BinaryMessage, []byte("next")) }()
					if _, got, err := to.ReadMessage(); err != nil || string(got) != "next" {
						t.Fatalf("after a partly read message: %q, %v", got, err)
					}
					for range 2 {
						if err := <-errc; err != nil {
							t.Fatal(err)
						}
					}
				}
				if to.inflater != nil {
					t.Error("an idle Conn holds a decompressor")
				}
				if keep := mode == CompressionContextTakeover; (from.writer.deflater != nil) != keep {
					t.Errorf("an idle Conn holds a compressor: %v, want %v", from.writer.deflater != nil, keep)
				}
				if keep := mode == CompressionContextTakeover; (to.history != nil) != keep {
					t.Errorf("an idle Conn holds a read history: %v, want %v", to.history != nil, keep)
				}
				if from.writer.buf != nil {
					t.Error("an idle Conn holds a write buffer")
				}
			}
		})
	}
}

// ---- benchmarks ----

// benchModes are the modes the benchmarks compare; disabled is the baseline.
var benchModes = []CompressionMode{CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover}

// BenchmarkCompressedEcho measures JSON-like text written by the client and
// read by the server over loopback TCP, in each mode, every message
// compressed: throughput of the payload, compression and inflation
// included. Sixteen different messages take turns, so context takeover
// helps as much as it would with a stream of similar messages.
func BenchmarkCompressedEcho(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, mode := range benchModes {
			b.Run(fmt.Sprintf("%d/%s", size, strings.ReplaceAll(mode.String(), " ", "-")), func(b *testing.B) {
				client, server := dialCompressed(b, mode, mode, -1)
				var msgs [16][]byte
				for i := range msgs {
					msgs[i] = jsonLike(size, i)
				}
				done := make(chan error, 1)
				go func() {
					for i := range b.N {
						if err := client.WriteMessage(TextMessage, msgs[i%len(msgs)]); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if _, _, err := server.ReadMessage(); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// countingSink is a transport that only counts what is written to it.
type countingSink struct{ written int64 }

func (s *countingSink) Read([]byte) (int, error)         { return 0, io.EOF }
func (s *countingSink) Write(p []byte) (int, error)      { s.written += int64(len(p)); return len(p), nil }
func (s *countingSink) Close() error                     { return nil }
func (s *countingSink) SetReadDeadline(time.Time) error  { return nil }
func (s *countingSink) SetWriteDeadline(time.Time) error { return nil }
func (s *countingSink) LocalAddr() net.Addr              { return memAddr{} }
func (s *countingSink) RemoteAddr() net.Addr             { return memAddr{} }

// BenchmarkCompressionRatio reports the bytes a server puts on the wire,
// frame headers included, per byte of JSON-like message, by message size and
// mode, with every message compressed: DefaultCompressionThreshold should
// sit where compression starts to pay without context takeover. Each
// message differs from the one before, as a stream of events would.
func BenchmarkCompressionRatio(b *testing.B) {
	for _, size := range []int{64, 128, 256, 512, 1 << 10, 4 << 10} {
		for _, mode := range benchModes {
			b.Run(fmt.Sprintf("%d/%s", size, strings.ReplaceAll(mode.String(), " ", "-")), func(b *testing.B) {
				var msgs [64][]byte
				for i := range msgs {
					msgs[i] = jsonLike(size, i)
				}
				sink := &countingSink{}
				var d *deflateConfig
				if mode != CompressionDisabled {
					d = &deflateConfig{readWindowBits: 15, level: flate.BestSpeed, threshold: 0,
						readNoContext: mode == CompressionNoContextTakeover, writeNoContext: mode == CompressionNoContextTakeover}
				}
				c := newConn(sink, nil, connConfig{deflate: d})
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if err := c.WriteMessage(TextMessage, msgs[i%len(msgs)]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(sink.written)/float64(b.N*size), "wire/payload")
			})
		}
	}
}
