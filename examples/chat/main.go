// Command chat is a chat server for browsers: every message a member sends
// goes to every member, the sender included.
//
//	go run ./examples/chat -addr 127.0.0.1:9002
//
// Open http://127.0.0.1:9002/ in a few tabs. The page connects to /ws with
// the member's name as a query parameter, /ws?name=ann, and sends each line
// as a JSON object, {"text":"hi"}. The server answers with objects such as
// {"from":"ann","text":"hi"}, and {"from":"ann","event":"join"} or "leave"
// when members come and go. The server sets "from" itself, to the name the
// member joined with, so that nobody can write as someone else.
//
// A message is encoded once and queued for each member
// (websocket.Conn.QueuePreparedMessage), so a member that reads too slowly
// holds up nobody: its queue fills, and it is dropped with status 1008
// (policy violation). Only pages from the server's own origin may connect.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ws6455/websocket"
)

// indexHTML is the page served at / to a browser.
//
//go:embed index.html
var indexHTML []byte

// maxName is the longest name a member may take, in characters.
const maxName = 32

func main() {
	addr := flag.String("addr", "127.0.0.1:9002", "listen address of the chat server (port 0 picks a free port)")
	limit := flag.Int64("limit", 4<<10, "largest message accepted from a member, in bytes")
	queue := flag.Int("queue", websocket.DefaultQueueLimit, "messages queued for a member before it is dropped as too slow")
	ping := flag.Duration("ping", 30*time.Second, "interval between pings, and how long each pong may take")
	flag.Parse()

	log.SetFlags(log.Ltime)
	log.SetPrefix("chat: ")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := runServer(ctx, *addr, newChat(*limit, *queue, *ping)); err != nil {
		log.Print(err)
		stop()
		os.Exit(1)
	}
}

// runServer serves the page and the chat on addr until ctx is done.
func runServer(ctx context.Context, addr string, ch *chat) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s failed: %w", addr, err)
	}
	srv := &http.Server{Handler: routes(ch), ReadHeaderTimeout: 10 * time.Second}
	// Log the address actually bound, so that -addr 127.0.0.1:0 is usable.
	log.Printf("listening on http://%s/", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP failed: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down the server failed: %w", err)
	}
	// Shutdown does not track hijacked connections: close them here, so that
	// browsers see 1001 (going away) rather than a connection cut short.
	ch.closeAll(websocket.StatusGoingAway, "server shutting down")
	return nil
}

// routes serves the page at / and the chat at /ws.
func routes(ch *chat) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	mux.Handle("GET /ws", ch)
	return mux
}

// message is the JSON object of every text message, both ways. From and
// Event are the server's to set; from a member only Text is read.
type message struct {
	From  string `json:"from,omitempty"`
	Text  string `json:"text,omitempty"`
	Event string `json:"event,omitempty"` // "join" or "leave"
}

// chat upgrades requests for /ws and relays their messages to every member.
// The hub is only a set under a mutex: queueing never blocks, so broadcast
// can hold the lock throughout, and every member gets messages in one order.
type chat struct {
	readLimit  int64         // largest message read from a member
	queueLimit int           // messages queued for a member before it is dropped
	ping       time.Duration // heartbeat interval and pong timeout

	mu      sync.Mutex
	members map[*websocket.Conn]string // the name of each member
}

func newChat(readLimit int64, queueLimit int, ping time.Duration) *chat {
	return &chat{readLimit: readLimit, queueLimit: queueLimit, ping: ping, members: make(map[*websocket.Conn]string)}
}

func (ch *chat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The name is checked before the upgrade, so that a bad one is an HTTP
	// error and no connection.
	name := strings.TrimSpace(r.URL.Query().Get("name"))
	if err := checkName(name); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// No OriginPatterns: the default same-origin check keeps pages of other
	// sites from joining as their visitors (RFC 6455 §10.2).
	c, err := websocket.Upgrade(w, r, &websocket.UpgradeOptions{
		ReadLimit:  ch.readLimit,
		QueueLimit: ch.queueLimit,
	})
	if err != nil {
		// Upgrade has already answered the request with an HTTP error.
		log.Printf("upgrading the request from %s failed: %v", r.RemoteAddr, err)
		return
	}
	defer c.CloseNow()

	// Heartbeat notices a browser that vanished without closing TCP (a
	// laptop put to sleep, a NAT that forgot the mapping). Its pongs arrive
	// through the reads below.
	ctx, cancel := context.WithCancel(context.Background())
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		// nil once cancel is called; net.ErrClosed when the Conn closed
		// for another reason, which the reader below reports.
		if err := c.Heartbeat(ctx, ch.ping, ch.ping); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Printf("%s (%s) stopped answering pings: %v", name, r.RemoteAddr, err)
		}
	}()
	defer func() { cancel(); <-beating }()

	ch.add(c, name)
	ch.broadcast(message{From: name, Event: "join"})
	log.Printf("%s joined from %s", name, r.RemoteAddr)
	err = ch.relay(c, name)
	ch.remove(c)
	ch.broadcast(message{From: name, Event: "leave"})
	if code := websocket.CloseStatus(err); code != -1 {
		log.Printf("%s left (%s): %v", name, r.RemoteAddr, err)
		return
	}
	log.Printf("%s's connection from %s ended: %v", name, r.RemoteAddr, err)
}

// checkName says what is wrong with a member's name, if anything.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("a name is needed: /ws?name=...")
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return errors.New("the name must be printable UTF-8 text")
	case utf8.RuneCountInString(name) > maxName:
		return fmt.Errorf("the name is longer than %d characters", maxName)
	}
	return nil
}

// relay broadcasts every message c sends, as name's, until reading fails,
// and returns the error that ended it.
func (ch *chat) relay(c *websocket.Conn, name string) error {
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			return err
		}
		var in message
		if typ != websocket.TextMessage || json.Unmarshal(p, &in) != nil {
			c.Close(websocket.StatusUnsupportedData, `expected a JSON object such as {"text":"hi"}`)
			return errors.New("the member sent something other than a JSON object")
		}
		if in.Text != "" {
			ch.broadcast(message{From: name, Text: in.Text})
		}
	}
}

// broadcast encodes m once and queues it for every member. A member whose
// queue is full reads more slowly than the others talk: it is dropped, and
// closed from a goroutine of its own because Close waits for the peer.
func (ch *chat) broadcast(m message) {
	data, _ := json.Marshal(m) // a struct of strings always encodes
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err != nil {
		log.Printf("preparing a message failed: %v", err)
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for c, name := range ch.members {
		// Other errors mean c is closing, and its own handler removes it.
		if err := c.QueuePreparedMessage(pm); errors.Is(err, websocket.ErrQueueFull) {
			log.Printf("dropping %s (%s): reading too slowly", name, c.RemoteAddr())
			delete(ch.members, c)
			go c.Close(websocket.StatusPolicyViolation, "reading too slowly")
		}
	}
}

func (ch *chat) add(c *websocket.Conn, name string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.members[c] = name
}

func (ch *chat) remove(c *websocket.Conn) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	delete(ch.members, c)
}

// size returns the number of members.
func (ch *chat) size() int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.members)
}

// closeAll removes every member and closes them all at once, since each
// Close waits for its peer.
func (ch *chat) closeAll(code websocket.StatusCode, reason string) {
	ch.mu.Lock()
	var wg sync.WaitGroup
	for c := range ch.members {
		delete(ch.members, c)
		wg.Go(func() { c.Close(code, reason) })
	}
	ch.mu.Unlock()
	wg.Wait()
}
