package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/logbuf"
)

// TestSlowClientNotCut: run wires the api's idle watch into its
// http.Server (ConnContext), so a client that reads 6 MiB steadily at about
// 0.6 MiB/s through a small receive buffer gets it all under a 1 s
// --client-idle-timeout. Without the watch, a deadline per write cuts such
// a client: the kernel wakes a writer blocked on a full send buffer only
// once a third of it is free, over two seconds here.
func TestSlowClientNotCut(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 6<<20)
	rand.NewChaCha8([32]byte{1}).Read(data)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	addr, stderr := startRun(t, "--demo", "--demo-dir", dir, "--listen", "127.0.0.1:0", "--client-idle-timeout", "1s", "--drain-pause", "0s", "--shutdown-timeout", "5s")

	tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, a)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(256 << 10)
		}
		return c, err
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr.String() + "/files/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got bytes.Buffer
	for {
		n, err := io.CopyN(&got, resp.Body, 48<<10)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v\n%s", got.Len(), len(data), err, stderr.String())
		}
		if n > 0 {
			time.Sleep(80 * time.Millisecond)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d bytes, not the %d of the file", got.Len(), len(data))
	}
}

// startRun runs the gateway with args until the test ends, and returns
// where it listens and what it logs.
func startRun(t *testing.T, args ...string) (net.Addr, *logbuf.Buffer) {
	t.Helper()
	g := startRunning(t, args...)
	return g.addr, g.stderr
}

// running is a gateway run in-process by startRunning.
type running struct {
	addr   net.Addr
	stderr *logbuf.Buffer
	// stop stands in for SIGTERM: it cancels run's context.
	stop context.CancelFunc
	// done is closed when run has returned, with err.
	done chan struct{}
	err  error
}

// startRunning runs the gateway with args until it is stopped or the test
// ends.
func startRunning(t *testing.T, args ...string) *running {
	t.Helper()
	cfg, err := loadConfig(args, envFrom(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	listening := make(chan net.Addr, 1)
	cfg.onListening = func(a net.Addr) { listening <- a }
	ctx, cancel := context.WithCancel(context.Background())
	g := &running{stderr: &logbuf.Buffer{}, stop: cancel, done: make(chan struct{})}
	go func() {
		g.err = run(ctx, cfg, g.stderr)
		close(g.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-g.done
	})
	select {
	case g.addr = <-listening:
		registerContract(t, "http://"+g.addr.String(), cfg)
		return g
	case <-g.done:
		t.Fatalf("run returned before listening: %v\n%s", g.err, g.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("gateway not listening after 10s\n%s", g.stderr.String())
	}
	return nil
}

// TestSmugglingRefused: run serves on the api's Listener, so a request
// with both Content-Length and Transfer-Encoding gets a 400 and the
// connection closes before the request pipelined behind it is answered.
func TestSmugglingRefused(t *testing.T) {
	addr, _ := startRun(t, "--demo", "--listen", "127.0.0.1:0", "--drain-pause", "0s", "--shutdown-timeout", "5s")
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "PUT /files/x.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+
		"GET /files/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the connection was not closed: %v (read %q)", err, all)
	}
	if n := strings.Count(string(all), "HTTP/1.1 "); n != 1 || !strings.HasPrefix(string(all), "HTTP/1.1 400 ") {
		t.Fatalf("want one 400 response, then the connection closed; got:\n%s", all)
	}
}
