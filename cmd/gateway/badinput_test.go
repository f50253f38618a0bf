package main

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestBadSlowHeaders is the slowloris row of the bad-input suite (issue
// 9; the rest is in api/badinput_test.go). A client that drips its request
// head, a header line every 300 ms, and one that connects and sends
// nothing, are both dropped when run's http.Server's ReadHeaderTimeout
// (10 s from the connection's start, fixed in run: neither a flag nor the
// api has one) runs out, however steadily the first drips, without an
// answer and without a handler: no session is held. Meanwhile other
// clients are served. It takes the 10 s, as there is no shorter setting.
func TestBadSlowHeaders(t *testing.T) {
	t.Parallel()
	addr, stderr := startRun(t, "--demo", "--listen", "127.0.0.1:0", "--drain-pause", "0s", "--shutdown-timeout", "5s")
	const headerTimeout = 10 * time.Second

	type cut struct {
		after time.Duration
		read  []byte
		err   error
	}
	watch := func(c net.Conn, start time.Time) <-chan cut {
		ch := make(chan cut, 1)
		go func() {
			c.SetReadDeadline(start.Add(headerTimeout + 10*time.Second))
			b, err := io.ReadAll(c)
			ch <- cut{time.Since(start), b, err}
		}()
		return ch
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	start := time.Now()
	drip, silent := dial(), dial()
	dripCut, silentCut := watch(drip, start), watch(silent, start)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		if _, err := io.WriteString(drip, "GET /files/hello.txt HTTP/1.1\r\nHost: x\r\n"); err != nil {
			return
		}
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			if _, err := io.WriteString(drip, "X-Drip: a\r\n"); err != nil {
				return
			}
		}
	}()

	// Served while the two hang on.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr.String() + "/files/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET while two clients drip: %d", resp.StatusCode)
	}

	for name, ch := range map[string]<-chan cut{"dripping": dripCut, "silent": silentCut} {
		c := <-ch
		if c.err != nil || len(c.read) != 0 {
			t.Errorf("%s client: after %v read %q, %v; want the connection closed without an answer", name, c.after, c.read, c.err)
			continue
		}
		if c.after < headerTimeout-time.Second || c.after > headerTimeout+5*time.Second {
			t.Errorf("%s client cut after %v, want about %v", name, c.after, headerTimeout)
		}
	}
	if t.Failed() {
		t.Logf("gateway log:\n%s", stderr.String())
	}
}
