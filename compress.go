package websocket

import (
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// CompressionMode says whether a Conn offers or accepts permessage-deflate
// (RFC 7692), and how it trades memory for compression ratio.
type CompressionMode int

const (
	// CompressionDisabled neither offers nor accepts compression. It is the
	// default: see DefaultCompressionThreshold for why.
	CompressionDisabled CompressionMode = iota

	// CompressionNoContextTakeover compresses each message on its own
	// (server_no_context_takeover and client_no_context_takeover). The
	// compressor and decompressor are borrowed from pools for the time of one
	// message, so an idle connection costs what an uncompressed one does.
	// Small messages compress less well than with context takeover.
	CompressionNoContextTakeover

	// CompressionContextTakeover lets each message refer back to earlier
	// ones, which compresses streams of similar messages best. It costs
	// memory for the life of the connection: a flate.Writer (1.2 MB at
	// flate.BestSpeed, 0.8 MB at other levels) and up to 64 KiB of history
	// for reading, 1.27 MB per connection in all as BenchmarkIdleConnection
	// measures it. The peer may still ask for no context takeover in either
	// direction, and is obeyed.
	CompressionContextTakeover
)

func (m CompressionMode) String() string {
	switch m {
	case CompressionDisabled:
		return "disabled"
	case CompressionNoContextTakeover:
		return "no context takeover"
	case CompressionContextTakeover:
		return "context takeover"
	}
	return "CompressionMode(" + strconv.Itoa(int(m)) + ")"
}

// DefaultCompressionThreshold is the size below which a message goes out
// uncompressed when compression is on, as RFC 7692 lets a sender choose per
// message. It trades bytes for CPU: compressing a message costs 5 to 13 µs
// at flate.BestSpeed against 0.2 µs for writing it as it is, and small
// messages save little. BenchmarkCompressionRatio measures JSON-like text
// without context takeover shrinking to 0.81 of its size at 128 bytes, 0.53
// at 256, 0.37 at 512 and 0.29 at 1 KiB; below about 100 bytes deflate saves
// nothing at all.
//
// Compression is off by default because it costs far more CPU per byte than
// framing does, on both ends, and only pays where bandwidth is dearer than
// CPU: turn it on for large, repetitive text such as JSON.
const DefaultCompressionThreshold = 512

// deflateConfig is what a Conn needs to know of the negotiated extension.
type deflateConfig struct {
	readNoContext    bool // the peer compresses every message on its own
	writeNoContext   bool // this side must compress every message on its own
	readWindowBits   int  // the peer's LZ77 window: how much history to keep
	writeHuffmanOnly bool // the peer allows a window smaller than flate's
	level            int
	threshold        int
}

// deflateParams are the parameters of a permessage-deflate offer or answer
// (RFC 7692 §7.1). Window bits are 0 when the parameter is absent.
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int
	clientMaxWindowBits     int
	clientMaxWindowBitsBare bool // offered with no value: "I can limit my window"
}

const deflateName = "permessage-deflate"

// parseDeflateParams checks the parameters of one permessage-deflate
// extension. An unknown or repeated parameter, or a value out of range, makes
// the whole offer (or answer) invalid (RFC 7692 §7.1).
func parseDeflateParams(ext extension, answer bool) (deflateParams, error) {
	var p deflateParams
	seen := make(map[string]bool, len(ext.params))
	for _, param := range ext.params {
		if seen[param.name] {
			return p, fmt.Errorf("parameter %s appears twice", param.name)
		}
		seen[param.name] = true
		switch param.name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if !param.bare {
				return p, fmt.Errorf("parameter %s takes no value", param.name)
			}
			if param.name == "server_no_context_takeover" {
				p.serverNoContextTakeover = true
			} else {
				p.clientNoContextTakeover = true
			}
		case "server_max_window_bits":
			bits, err := windowBits(param)
			if err != nil {
				return p, err
			}
			p.serverMaxWindowBits = bits
		case "client_max_window_bits":
			// In an offer the value may be left out; in an answer it may
			// not (RFC 7692 §7.1.2.2).
			if param.bare && !answer {
				p.clientMaxWindowBitsBare = true
				continue
			}
			bits, err := windowBits(param)
			if err != nil {
				return p, err
			}
			p.clientMaxWindowBits = bits
		default:
			return p, fmt.Errorf("unknown parameter %s", param.name)
		}
	}
	return p, nil
}

// windowBits parses a max_window_bits value: a decimal integer from 8 to 15
// without leading zeros (RFC 7692 §7.1.2).
func windowBits(param extensionParam) (int, error) {
	v := param.value
	if param.bare || len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, fmt.Errorf("parameter %s needs a value from 8 to 15", param.name)
	}
	bits, err := strconv.Atoi(v)
	if err != nil || bits < 8 || bits > 15 {
		return 0, fmt.Errorf("parameter %s=%s is not from 8 to 15", param.name, v)
	}
	return bits, nil
}

// negotiateDeflate is the server's side of RFC 7692 §5: it accepts the first
// permessage-deflate offer it can honour, and returns its answer for
// Sec-WebSocket-Extensions and the resulting configuration; "" and nil when
// it accepts none. Every legal offer can be honoured: a window smaller than
// flate's is honoured by sending Huffman-only blocks, which refer to nothing.
func negotiateDeflate(offers []extension, mode CompressionMode, level, threshold int) (string, *deflateConfig) {
	if mode == CompressionDisabled {
		return "", nil
	}
	for _, ext := range offers {
		if ext.name != deflateName {
			continue
		}
		offer, err := parseDeflateParams(ext, false)
		if err != nil {
			continue // decline this offer only
		}
		answer := []string{deflateName}
		cfg := &deflateConfig{level: level, threshold: threshold, readWindowBits: 15}
		if offer.serverNoContextTakeover || mode == CompressionNoContextTakeover {
			answer = append(answer, "server_no_context_takeover")
			cfg.writeNoContext = true
		}
		// A server may ask for client_no_context_takeover unasked (RFC 7692
		// §7.1.1.2); a client that offered it will not use context anyway.
		if offer.clientNoContextTakeover || mode == CompressionNoContextTakeover {
			answer = append(answer, "client_no_context_takeover")
			cfg.readNoContext = true
		}
		if bits := offer.serverMaxWindowBits; bits != 0 {
			answer = append(answer, "server_max_window_bits="+strconv.Itoa(bits))
			cfg.writeHuffmanOnly = bits < 15
		}
		// client_max_window_bits=N in an offer is the client's own promise;
		// the answer need not repeat it (RFC 7692 §7.1.2.2).
		if bits := offer.clientMaxWindowBits; bits != 0 {
			cfg.readWindowBits = bits
		}
		return strings.Join(answer, "; "), cfg
	}
	return "", nil
}

// deflateOffer is the client's offer for mode (RFC 7692 §5.1). It always
// says the client can limit its window, so that a server wanting a small
// window can still accept.
func deflateOffer(mode CompressionMode) string {
	if mode == CompressionNoContextTakeover {
		return deflateName + "; client_max_window_bits; server_no_context_takeover; client_no_context_takeover"
	}
	return deflateName + "; client_max_window_bits"
}

// acceptDeflateAnswer checks the server's answer to deflateOffer(mode) and
// returns the client's configuration.
func acceptDeflateAnswer(exts []extension, mode CompressionMode, level, threshold int) (*deflateConfig, error) {
	if len(exts) == 0 {
		return nil, nil
	}
	if mode == CompressionDisabled {
		return nil, errors.New("the server chose an extension the client did not offer")
	}
	if len(exts) > 1 || exts[0].name != deflateName {
		return nil, fmt.Errorf("the server chose extensions the client did not offer")
	}
	answer, err := parseDeflateParams(exts[0], true)
	if err != nil {
		return nil, fmt.Errorf("the server's permessage-deflate answer is invalid: %w", err)
	}
	if mode == CompressionNoContextTakeover && !answer.serverNoContextTakeover {
		return nil, errors.New("the server's permessage-deflate answer lacks the server_no_context_takeover the client asked for")
	}
	cfg := &deflateConfig{
		level:            level,
		threshold:        threshold,
		readNoContext:    answer.serverNoContextTakeover,
		writeNoContext:   answer.clientNoContextTakeover || mode == CompressionNoContextTakeover,
		readWindowBits:   15,
		writeHuffmanOnly: answer.clientMaxWindowBits != 0 && answer.clientMaxWindowBits < 15,
	}
	if answer.serverMaxWindowBits != 0 {
		cfg.readWindowBits = answer.serverMaxWindowBits
	}
	return cfg, nil
}

// flateWriters pools compressors by level (flate.HuffmanOnly is -2, so
// level+2 indexes). A flate.Writer is large: it is held only while one
// message is written, unless context takeover keeps it.
var flateWriters [flate.BestCompression + 3]sync.Pool

func getFlateWriter(level int, dst io.Writer) *flate.Writer {
	if fw, ok := flateWriters[level+2].Get().(*flate.Writer); ok {
		fw.Reset(dst)
		return fw
	}
	fw, _ := flate.NewWriter(dst, level) // level was checked by the options
	return fw
}

func putFlateWriter(level int, fw *flate.Writer) {
	flateWriters[level+2].Put(fw)
}

var flateReaders sync.Pool

// getFlateReader returns a decompressor reading src, primed with dict.
func getFlateReader(src io.Reader, dict []byte) io.ReadCloser {
	if fr, ok := flateReaders.Get().(io.ReadCloser); ok {
		fr.(flate.Resetter).Reset(src, dict)
		return fr
	}
	return flate.NewReaderDict(src, dict)
}

// syncMarker is what a sender strips from the end of each compressed
// message (RFC 7692 §7.2.1): the LEN and NLEN of the empty stored block that
// a sync flush ends with.
const syncMarker = "\x00\x00\xff\xff"

// inflateSource feeds a compressed message's payload to the decompressor:
// the frames' payloads, unmasked, across fragments and the control frames
// between them. It is an io.ByteReader, so flate reads it directly instead
// of through a bufio.Reader of its own.
//
// It does not append the stripped sync marker: bytes of ours that flate
// took for data (a stored block whose length runs past the payload) would
// reach the reader as the peer's. It watches instead how flate asks for
// input. flate reads block headers and Huffman codes with ReadByte and the
// LEN of a stored block with Read. A well-formed message ends where the
// stripped empty stored block's LEN would start: flate has just read the
// block's header byte with ReadByte and asks Read for LEN. That is a clean
// end; running out anywhere else means the message was cut short.
type inflateSource struct {
	c          *Conn
	lastByte   bool  // the last byte handed over went through ReadByte
	cleanEnd   bool  // the payload ran out where the sync marker was stripped
	exhausted  bool  // the payload has run out
	restartKiB int32 // the cost of new deflate streams after final blocks (readInflated)
}

func (s *inflateSource) Read(p []byte) (int, error) {
	c := s.c
	if err := s.nextFrame(); err != nil {
		if err == io.EOF {
			s.cleanEnd = s.lastByte
		}
		return 0, err
	}
	n, err := c.readFrameBytes(p)
	switch {
	case n > 0:
		s.lastByte = false
		return n, nil
	case err == nil:
		return 0, nil // the transport read nothing, which io.Reader allows
	}
	return 0, c.readFailed(err)
}

func (s *inflateSource) ReadByte() (byte, error) {
	c := s.c
	if err := s.nextFrame(); err != nil {
		if err == io.EOF {
			s.cleanEnd = false
		}
		return 0, err
	}
	fr := &c.fr
	if fr.r == fr.w {
		if err := fr.fill(1); err != nil {
			return 0, c.readFailed(err)
		}
	}
	b := fr.buf[fr.r]
	fr.r++
	if c.frame.masked {
		b ^= c.frame.key[c.maskPos]
		c.maskPos = (c.maskPos + 1) & 3
	}
	c.frameLeft--
	s.lastByte = true
	return b, nil
}

// nextFrame moves to the message's next frame when the current one is used
// up. It returns io.EOF after the final frame.
func (s *inflateSource) nextFrame() error {
	c := s.c
	for c.frameLeft == 0 {
		if c.frame.fin {
			s.exhausted = true
			return io.EOF
		}
		if err := c.advanceFrame(); err != nil {
			return err
		}
	}
	return nil
}

// deflateSink receives the compressor's output and turns it into frames. It
// always holds back the last four bytes it got: when the message ends they
// are the sync flush's 0x00 0x00 0xff 0xff, which RFC 7692 §7.2.1 says not to
// send. It lives in the Conn's message writer; a pooled compressor keeps
// pointing at it until its next use resets it, so a closed Conn can outlive
// its last message by as long as sync.Pool keeps idle entries (two garbage
// collections at most).
type deflateSink struct {
	w *messageWriter
}

func (s *deflateSink) Write(p []byte) (int, error) {
	return s.w.buffer(p, len(syncMarker))
}

// slidingWindow keeps the last size bytes a peer's messages inflated to, so
// that the next message, compressed with context takeover, can refer to
// them. It holds twice that so it moves bytes only once per size appended.
type slidingWindow struct {
	buf  []byte
	size int
}

func (sw *slidingWindow) write(p []byte) {
	if sw.buf == nil {
		sw.buf = make([]byte, 0, 2*sw.size)
	}
	if len(p) >= sw.size {
		sw.buf = append(sw.buf[:0], p[len(p)-sw.size:]...)
		return
	}
	if len(sw.buf)+len(p) > cap(sw.buf) {
		keep := sw.buf[len(sw.buf)-(sw.size-len(p)):]
		sw.buf = sw.buf[:copy(sw.buf, keep)]
	}
	sw.buf = append(sw.buf, p...)
}

// history returns at most the last size bytes written; nil from a nil
// window, which a Conn without read context takeover has.
func (sw *slidingWindow) history() []byte {
	if sw == nil {
		return nil
	}
	if len(sw.buf) > sw.size {
		return sw.buf[len(sw.buf)-sw.size:]
	}
	return sw.buf
}

// compressionOptions checks the compression options that Upgrade and Dial
// share and applies their defaults.
func compressionOptions(mode CompressionMode, level, threshold int) (int, int, error) {
	if mode < CompressionDisabled || mode > CompressionContextTakeover {
		return 0, 0, fmt.Errorf("websocket: unknown compression mode %d", int(mode))
	}
	if level < flate.HuffmanOnly || level > flate.BestCompression {
		return 0, 0, fmt.Errorf("websocket: compression level %d is not one of compress/flate's", level)
	}
	if level == 0 {
		level = flate.BestSpeed
	}
	if threshold == 0 {
		threshold = DefaultCompressionThreshold
	}
	return level, threshold, nil
}
