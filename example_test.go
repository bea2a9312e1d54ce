package websocket_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/ws6455/websocket"
)

// An echo server: Upgrade in an HTTP handler, then read and write messages
// until the peer closes. The client here is only there to run it.
func ExampleUpgrade() {
	closed := make(chan websocket.StatusCode, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered the request with an HTTP error
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.ReadMessage()
			if err != nil {
				closed <- websocket.CloseStatus(err)
				return
			}
			if err := c.WriteMessage(typ, p); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	// Dial takes the http:// URL of httptest as ws://.
	c, _, err := websocket.Dial(context.Background(), srv.URL, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	c.WriteMessage(websocket.TextMessage, []byte("hello"))
	_, p, err := c.ReadMessage()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("echoed: %s\n", p)
	c.Close(websocket.StatusNormalClosure, "")
	fmt.Println("server saw:", <-closed)
	// Output:
	// echoed: hello
	// server saw: 1000 (normal closure)
}

// A client: Dial, send a message, read the answer and close. After Close, a
// read returns the server's answer to the close frame.
func ExampleDial() {
	srv := httptest.NewServer(http.HandlerFunc(exampleEcho))
	defer srv.Close()
	url := "ws" + srv.URL[len("http"):]

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	if err := c.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	_, p, err := c.ReadMessage()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("echoed: %s\n", p)

	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		fmt.Println(err)
	}
	_, _, err = c.ReadMessage()
	fmt.Println("closed with:", websocket.CloseStatus(err))
	// Output:
	// echoed: hello
	// closed with: 1000 (normal closure)
}

// Streaming: NextWriter sends a message written in pieces, and NextReader
// reads one as it arrives, without holding either whole.
func ExampleConn_NextWriter() {
	srv := httptest.NewServer(http.HandlerFunc(exampleEcho))
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), srv.URL, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()

	w, err := c.NextWriter(websocket.TextMessage)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(w, "piece %d; ", i)
	}
	if err := w.Close(); err != nil { // sends the final frame
		fmt.Println(err)
		return
	}

	typ, r, err := c.NextReader()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(typ, ": ")
	io.Copy(os.Stdout, r)
	fmt.Println()
	c.Close(websocket.StatusNormalClosure, "")
	// Output:
	// text: piece 1; piece 2; piece 3;
}

// CloseStatus tells a close by the peer, with its code, from other errors.
func ExampleCloseStatus() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.Close(websocket.StatusGoingAway, "restarting")
	}))
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), srv.URL, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()

	_, _, err = c.ReadMessage()
	switch code := websocket.CloseStatus(err); code {
	case -1:
		fmt.Println("not a close by the peer:", err)
	case websocket.StatusGoingAway:
		var ce *websocket.CloseError
		errors.As(err, &ce)
		fmt.Printf("server going away: %q\n", ce.Reason)
	default:
		fmt.Println("server closed with", code)
	}
	// Output:
	// server going away: "restarting"
}

// Ping needs a goroutine that reads: the pong arrives through it.
func ExampleConn_Ping() {
	srv := httptest.NewServer(http.HandlerFunc(exampleEcho))
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), srv.URL, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx, []byte("are you there?")); err != nil {
		fmt.Println("no pong:", err)
	} else {
		fmt.Println("pong received")
	}
	c.Close(websocket.StatusNormalClosure, "")
	<-readDone
	// Output:
	// pong received
}

// exampleEcho is the handler of the examples' servers: it sends every message
// back, with its type, until the connection ends.
func exampleEcho(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(typ, p); err != nil {
			return
		}
	}
}
