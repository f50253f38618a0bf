package ftpcore

import (
	"bytes"
	"context"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// The tests in this file give each timeout of Config a server that stays
// silent where it matters, and check that the call fails with a timeout
// within that timeout, not the longer ones around it. Each takes well under
// two seconds.

const (
	shortTimeout = 200 * time.Millisecond
	// longTimeout is what every other timeout is set to: a call that
	// waits this long used the wrong one.
	longTimeout = 10 * time.Second
	// slack is what a loaded -race run may add to a timeout.
	slack = time.Second
)

// longConfig sets every timeout to longTimeout; each test then shortens
// the one it is about.
func longConfig(c *Config) {
	c.DialTimeout = longTimeout
	c.GreetingTimeout = longTimeout
	c.CommandTimeout = longTimeout
	c.DataConnTimeout = longTimeout
	c.DataTimeout = longTimeout
	c.FinalReplyTimeout = longTimeout
	c.AbortTimeout = longTimeout
}

// checkTimeout fails t unless err is a timeout that came after about
// shortTimeout.
func checkTimeout(t *testing.T, what string, err error, took time.Duration) {
	t.Helper()
	if !IsTimeout(err) {
		t.Fatalf("%s: %v, want a timeout", what, err)
	}
	if took < shortTimeout/2 || took > shortTimeout+slack {
		t.Errorf("%s took %v with a timeout of %v", what, took, shortTimeout)
	}
}

func TestDefaultTimeouts(t *testing.T) {
	var c Config
	c.setDefaults()
	want := Config{
		DialTimeout: 10 * time.Second, GreetingTimeout: 30 * time.Second, CommandTimeout: 30 * time.Second,
		DataConnTimeout: 10 * time.Second, DataTimeout: 60 * time.Second, FinalReplyTimeout: 30 * time.Second,
		AbortTimeout: 5 * time.Second, KeepAlive: 30 * time.Second,
	}
	got := Config{
		DialTimeout: c.DialTimeout, GreetingTimeout: c.GreetingTimeout, CommandTimeout: c.CommandTimeout,
		DataConnTimeout: c.DataConnTimeout, DataTimeout: c.DataTimeout, FinalReplyTimeout: c.FinalReplyTimeout,
		AbortTimeout: c.AbortTimeout, KeepAlive: c.KeepAlive,
	}
	if !reflect.DeepEqual(got, want) { // Config has funcs: not comparable
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	// The derived defaults follow the ones they derive from.
	c = Config{DialTimeout: time.Second, CommandTimeout: 2 * time.Second}
	c.setDefaults()
	if c.GreetingTimeout != 2*time.Second || c.FinalReplyTimeout != 2*time.Second || c.DataConnTimeout != time.Second {
		t.Errorf("derived defaults: greeting %v, final reply %v, data connect %v",
			c.GreetingTimeout, c.FinalReplyTimeout, c.DataConnTimeout)
	}
}

func TestGreetingTimeout(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn) {
		io.Copy(io.Discard, nc) // accept, say nothing, wait for the client to go
	})
	cfg := Config{Addr: addr}
	longConfig(&cfg)
	cfg.GreetingTimeout = shortTimeout
	start := time.Now()
	c, err := Dial(testCtx(t), cfg)
	if err == nil {
		c.Close()
	}
	checkTimeout(t, "Dial", err, time.Since(start))
}

func TestCommandReplyTimeout(t *testing.T) {
	s := ftptest.NewServer(t)
	c := dialTest(t, s, longConfig, func(c *Config) { c.CommandTimeout = shortTimeout })
	s.Handle("SIZE", func(sc *ftptest.Conn, _ string) { <-sc.Done() })
	start := time.Now()
	_, err := c.Size(testCtx(t), "/f")
	checkTimeout(t, "Size", err, time.Since(start))
	if c.Usable() {
		t.Fatal("Conn usable after a reply timed out")
	}
}

// TestDataIdleTimeout stalls a download after its first chunk: Read and
// WriteTo (into a plain writer, a buffer and a TCP socket, which splices)
// fail after DataTimeout without data.
func TestDataIdleTimeout(t *testing.T) {
	tests := []struct {
		name string
		copy func(t *testing.T, tr *Transfer) (int64, error)
	}{
		{"Read", func(t *testing.T, tr *Transfer) (int64, error) {
			return io.Copy(io.Discard, struct{ io.Reader }{tr})
		}},
		{"WriteTo buffer", func(t *testing.T, tr *Transfer) (int64, error) {
			var b bytes.Buffer
			return tr.WriteTo(&b)
		}},
		{"WriteTo TCP", func(t *testing.T, tr *Transfer) (int64, error) {
			return tr.WriteTo(tcpSink(t))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, ftptest.WithSlowData(1000, time.Minute))
			s.PutFile("/f", testData(100000), time.Now())
			c := dialTest(t, s, longConfig, func(c *Config) {
				c.DataTimeout = shortTimeout
				c.AbortTimeout = 2 * time.Second
			})
			tr, err := c.Retr(testCtx(t), "/f", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			n, err := tt.copy(t, tr)
			checkTimeout(t, "copy", err, time.Since(start))
			if n != 1000 {
				t.Errorf("copied %d bytes before the stall, want 1000", n)
			}
			if err := tr.Close(); err != nil || !c.Usable() {
				t.Fatalf("Close: %v, usable %v; a stalled transfer closes early", err, c.Usable())
			}
		})
	}
}

// tcpSink returns a TCP connection whose peer discards what it reads.
func tcpSink(t *testing.T) *net.TCPConn {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(testTimeout))
		io.Copy(io.Discard, nc)
	}()
	nc, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc.(*net.TCPConn)
}

// TestFinalReplyTimeout sends all the data and then never the final reply:
// Close gives up after FinalReplyTimeout and leaves the Conn unusable.
func TestFinalReplyTimeout(t *testing.T) {
	t.Run("download", func(t *testing.T) {
		s := ftptest.NewServer(t)
		data := testData(5000)
		s.Handle("RETR", func(sc *ftptest.Conn, _ string) {
			sc.Reply(150, "Here it comes.")
			dc, err := sc.AcceptData()
			if err != nil {
				return
			}
			dc.Write(data)
			dc.Close()
			<-sc.Done()
		})
		c := dialTest(t, s, longConfig, func(c *Config) { c.FinalReplyTimeout = shortTimeout })
		tr, err := c.Retr(testCtx(t), "/f", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(tr); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		start := time.Now()
		err = tr.Close()
		checkTimeout(t, "Close", err, time.Since(start))
		if c.Usable() {
			t.Fatal("Conn usable without the final reply")
		}
	})
	t.Run("upload", func(t *testing.T) {
		s := ftptest.NewServer(t)
		s.Handle("STOR", func(sc *ftptest.Conn, _ string) {
			sc.Reply(150, "Send it.")
			dc, err := sc.AcceptData()
			if err != nil {
				return
			}
			io.Copy(io.Discard, dc)
			dc.Close()
			<-sc.Done()
		})
		c := dialTest(t, s, longConfig, func(c *Config) { c.FinalReplyTimeout = shortTimeout })
		u, err := c.Stor(testCtx(t), "/f", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Write(testData(5000)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = u.Close()
		checkTimeout(t, "Close", err, time.Since(start))
		if c.Usable() {
			t.Fatal("Conn usable without the final reply")
		}
	})
}

// TestAbortTimeoutBoundsEarlyClose closes a download early on a server
// that never answers the reset: Close gives up after AbortTimeout.
func TestAbortTimeoutBoundsEarlyClose(t *testing.T) {
	s := ftptest.NewServer(t)
	s.Handle("RETR", stalledRETR(0))
	s.Handle("NOOP", func(sc *ftptest.Conn, _ string) { <-sc.Done() })
	c := dialTest(t, s, longConfig, func(c *Config) { c.AbortTimeout = shortTimeout })
	tr, err := c.Retr(context.Background(), "/f", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(tr); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = tr.Close()
	checkTimeout(t, "Close", err, time.Since(start))
	if c.Usable() {
		t.Fatal("Conn usable without an answer to the reset")
	}
}
