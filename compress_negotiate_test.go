package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

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
