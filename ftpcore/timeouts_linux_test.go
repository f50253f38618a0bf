package ftpcore

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// fullBacklog returns the address of a listener on 127.0.0.1 that accepts
// nothing and whose accept queue is full: Linux then drops further SYNs,
// so a connect to it hangs until the caller's timeout, as against a host
// that does not answer.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// A backlog of 0 still queues one connection; fill the queue until a
	// connect goes unanswered.
	for i := 0; ; i++ {
		if i == 8 {
			t.Fatalf("%s still accepts connections after %d", addr, i)
		}
		nc, err := net.DialTimeout("tcp4", addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { nc.Close() })
	}
	return addr
}

func TestConnectTimeout(t *testing.T) {
	cfg := Config{Addr: fullBacklog(t)}
	longConfig(&cfg)
	cfg.DialTimeout = shortTimeout
	start := time.Now()
	c, err := Dial(testCtx(t), cfg)
	if err == nil {
		c.Close()
	}
	checkTimeout(t, "Dial", err, time.Since(start))
}

// TestDataConnTimeout points EPSV at a port that does not answer: Retr
// fails after DataConnTimeout. Unpipelined, the Conn stays usable (the
// server drops the unused passive listener at the next data command);
// pipelined, RETR went out with EPSV and the server may be waiting for the
// connection with it taken, so the Conn is given up.
func TestDataConnTimeout(t *testing.T) {
	_, port, _ := net.SplitHostPort(fullBacklog(t))
	for _, pipelined := range []bool{false, true} {
		s := ftptest.NewServer(t)
		s.Handle("EPSV", func(sc *ftptest.Conn, _ string) {
			sc.Reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%s|)", port))
		})
		c := dialTest(t, s, longConfig, func(c *Config) {
			c.DataConnTimeout = shortTimeout
			c.DisablePipelining = !pipelined
		})
		start := time.Now()
		tr, err := c.Retr(testCtx(t), "/f", 0, -1)
		if err == nil {
			tr.Close()
		}
		checkTimeout(t, "Retr", err, time.Since(start))
		if c.Usable() == pipelined {
			t.Errorf("pipelined %v: Usable() = %v after the data connection timed out", pipelined, c.Usable())
		}
		if !pipelined {
			if err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		}
	}
}

// TestDataTimeoutIsIdle sends a download slowly but steadily: 1000 bytes
// every 50 ms, 1.2 s in all, with a data timeout of 500 ms (ten times the
// gap, so a loaded machine's scheduling stalls do not trip it). WriteTo hands
// io.Copy a chunk of 1 MiB that takes the whole 1.2 s; a deadline per
// chunk would end it, the idle watch sees the kernel receive data and does
// not.
func TestDataTimeoutIsIdle(t *testing.T) {
	data := testData(24000)
	sinks := map[string]func(t *testing.T) (io.Writer, func() int64){
		"discard": func(*testing.T) (io.Writer, func() int64) { return io.Discard, func() int64 { return -1 } },
		"TCP (splice)": func(t *testing.T) (io.Writer, func() int64) {
			return tcpSink(t), func() int64 { return -1 }
		},
		"buffer": func(*testing.T) (io.Writer, func() int64) {
			var b bytes.Buffer
			return &b, func() int64 {
				if !bytes.Equal(b.Bytes(), data) {
					return int64(b.Len())
				}
				return -1
			}
		},
	}
	for name, sink := range sinks {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := ftptest.NewServer(t, ftptest.WithSlowData(1000, 50*time.Millisecond))
			s.PutFile("/f", data, time.Now())
			c := dialTest(t, s, longConfig, func(c *Config) { c.DataTimeout = 500 * time.Millisecond })
			tr, err := c.Retr(testCtx(t), "/f", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			w, check := sink(t)
			start := time.Now()
			n, err := tr.WriteTo(w)
			if err != nil || n != int64(len(data)) {
				t.Fatalf("WriteTo = %d, %v after %v", n, err, time.Since(start))
			}
			if bad := check(); bad >= 0 {
				t.Fatalf("sink has %d bytes, not the file", bad)
			}
			if err := tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}
