package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ws6455/websocket"
)

// waitLimit bounds every wait of these tests, so that a bug fails a test
// instead of hanging it. Nothing asserts how long anything takes.
const waitLimit = 20 * time.Second

// TestMain fails the run when a goroutine of the server, the tests or the
// library is still running after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if stacks := goroutinesLeft(); stacks != "" {
			fmt.Fprintf(os.Stderr, "FAIL: goroutines left behind:\n\n%s\n", stacks)
			code = 1
		}
	}
	os.Exit(code)
}

// goroutinesLeft polls, up to waitLimit, until no goroutine but its own runs
// code of this module, and returns the stacks of those that still do.
func goroutinesLeft() string {
	deadline := time.Now().Add(waitLimit)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "ws6455/websocket") && !strings.Contains(g, "goroutinesLeft") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return strings.Join(left, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startChat serves a chat whose members may have queueLimit messages queued,
// and returns it with the server's URL.
func startChat(t *testing.T, queueLimit int) (*chat, string) {
	t.Helper()
	ch := newChat(4<<10, queueLimit, time.Minute)
	srv := httptest.NewServer(routes(ch))
	t.Cleanup(srv.Close)
	return ch, srv.URL
}

// join connects to the chat at serverURL as name, the way the page does:
// with the page's own origin. It waits for the member's own join message,
// which says that the server counts it as a member.
func join(t *testing.T, serverURL, name string) *websocket.Conn {
	t.Helper()
	c, err := dial(serverURL, name, serverURL)
	if err != nil {
		t.Fatalf("joining as %s: %v", name, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	expect(t, c, message{From: name, Event: "join"})
	return c
}

func dial(serverURL, name, origin string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	u := "ws" + strings.TrimPrefix(serverURL, "http") + "/ws?name=" + url.QueryEscape(name)
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		Header: http.Header{"Origin": {origin}},
	})
	return c, err
}

// send sends text as the page does.
func send(t *testing.T, c *websocket.Conn, text string) {
	t.Helper()
	p, _ := json.Marshal(message{Text: text})
	if err := c.WriteMessage(websocket.TextMessage, p); err != nil {
		t.Fatalf("sending: %v", err)
	}
}

// expect reads the next message of c and checks that it is want.
func expect(t *testing.T, c *websocket.Conn, want message) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	typ, p, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reading, expecting %+v: %v", want, err)
	}
	var got message
	if typ != websocket.TextMessage || json.Unmarshal(p, &got) != nil || got != want {
		t.Fatalf("got %v message %q, want %+v", typ, p, want)
	}
}

// waitSize polls until the chat has n members.
func waitSize(t *testing.T, ch *chat, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for ch.size() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the chat has %d members, want %d", ch.size(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBroadcast(t *testing.T) {
	ch, srv := startChat(t, websocket.DefaultQueueLimit)
	ann := join(t, srv, "ann")
	bob := join(t, srv, "bob")
	expect(t, ann, message{From: "bob", Event: "join"})

	// "from" is the server's to set: a member cannot write as another.
	if err := ann.WriteMessage(websocket.TextMessage, []byte(`{"from":"bob","text":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{ann, bob} {
		expect(t, c, message{From: "ann", Text: "hi"})
	}
	send(t, bob, "hello, ann")
	for _, c := range []*websocket.Conn{ann, bob} {
		expect(t, c, message{From: "bob", Text: "hello, ann"})
	}

	if err := bob.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("bob's close: %v", err)
	}
	expect(t, ann, message{From: "bob", Event: "leave"})
	if err := ann.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("ann's close: %v", err)
	}
	waitSize(t, ch, 0)
}

// A member that never reads fills its queue and is dropped with 1008, while
// the others go on talking.
func TestSlowMemberDropped(t *testing.T) {
	ch, srv := startChat(t, 2)
	ann := join(t, srv, "ann")
	slow := join(t, srv, "slow")
	expect(t, ann, message{From: "slow", Event: "join"})

	// Socket buffers take megabytes before a write to slow blocks and its
	// queue starts to fill, so ann sends messages near the read limit. She
	// waits for each to come back, so that her own queue stays short.
	text := strings.Repeat("x", 3<<10)
	var sent int
	for ch.size() == 2 {
		if sent*len(text) > 256<<20 {
			t.Fatalf("slow is still a member after %d messages", sent)
		}
		send(t, ann, text)
		expect(t, ann, message{From: "ann", Text: text})
		sent++
	}
	t.Logf("slow was dropped after %d messages", sent)
	send(t, ann, "still here")
	expect(t, ann, message{From: "ann", Text: "still here"})

	// Once slow reads, it finds what was queued before the drop, then the
	// close frame.
	var got int
	for {
		slow.SetReadDeadline(time.Now().Add(waitLimit))
		_, _, err := slow.ReadMessage()
		if err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusPolicyViolation {
				t.Fatalf("slow's connection ended with status %d, want 1008: %v", code, err)
			}
			break
		}
		got++
	}
	if got >= sent {
		t.Errorf("slow read %d messages of the %d sent; the drop should have cut some", got, sent)
	}
	expect(t, ann, message{From: "slow", Event: "leave"})
	ann.Close(websocket.StatusNormalClosure, "")
	waitSize(t, ch, 0)
}

func TestNotJSON(t *testing.T) {
	ch, srv := startChat(t, websocket.DefaultQueueLimit)
	for _, tc := range []struct {
		typ websocket.MessageType
		p   string
	}{
		{websocket.TextMessage, "hi"},
		{websocket.BinaryMessage, `{"text":"hi"}`},
	} {
		c := join(t, srv, "ann")
		if err := c.WriteMessage(tc.typ, []byte(tc.p)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(waitLimit))
		_, _, err := c.ReadMessage()
		if code := websocket.CloseStatus(err); code != websocket.StatusUnsupportedData {
			t.Errorf("%v message %q: connection ended with status %d, want 1003: %v", tc.typ, tc.p, code, err)
		}
		c.CloseNow()
		waitSize(t, ch, 0)
	}
}

func TestRefused(t *testing.T) {
	ch, srv := startChat(t, websocket.DefaultQueueLimit)
	for _, tc := range []struct {
		why, name, origin string
		status            int
	}{
		{"no name", "", srv, http.StatusBadRequest},
		{"blank name", "  ", srv, http.StatusBadRequest},
		{"long name", strings.Repeat("é", maxName+1), srv, http.StatusBadRequest},
		{"control character", "ann\nbob", srv, http.StatusBadRequest},
		{"another site's page", "ann", "https://evil.example", http.StatusForbidden},
	} {
		c, err := dial(srv, tc.name, tc.origin)
		if err == nil {
			c.CloseNow()
			t.Errorf("%s: joined, want status %d", tc.why, tc.status)
			continue
		}
		var he *websocket.HandshakeError
		if !errors.As(err, &he) || he.Status != tc.status {
			t.Errorf("%s: %v, want status %d", tc.why, err, tc.status)
		}
	}
	// The longest name is fine.
	c := join(t, srv, strings.Repeat("é", maxName))
	c.Close(websocket.StatusNormalClosure, "")
	waitSize(t, ch, 0)
}

// On shutdown every member is told that the server is going away.
func TestCloseAll(t *testing.T) {
	ch, srv := startChat(t, websocket.DefaultQueueLimit)
	ann := join(t, srv, "ann")
	bob := join(t, srv, "bob")
	expect(t, ann, message{From: "bob", Event: "join"})

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		ch.closeAll(websocket.StatusGoingAway, "server shutting down")
	}()
	// Close waits for each member's answer, which a read sends.
	for _, c := range []*websocket.Conn{ann, bob} {
		c.SetReadDeadline(time.Now().Add(waitLimit))
		_, p, err := c.ReadMessage()
		if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
			t.Errorf("read %q, %v; want a close with status 1001", p, err)
		}
	}
	<-closed
	waitSize(t, ch, 0)
}

func TestPage(t *testing.T) {
	_, srv := startChat(t, websocket.DefaultQueueLimit)
	client := &http.Client{}
	defer client.CloseIdleConnections()
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/", http.StatusOK, "<title>WebSocket chat</title>"},
		{"/index.html", http.StatusNotFound, ""},
	} {
		resp, err := client.Get(srv + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s: status %d, body %.60q; want status %d with %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}
