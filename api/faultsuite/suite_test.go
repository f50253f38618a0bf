// Package faultsuite_test is the gateway's fault suite (issue 9): every
// way the FTP server, the network between, or the HTTP client can fail a
// transfer, run through the whole gateway, each case checking what the
// client gets, the files left on the FTP server, the pool afterwards, and
// that no goroutine outlives the case. The fake server (ftptest) makes the
// reply sequences only it can make on demand; a real vsftpd the case owns,
// reached through internal/faultproxy, makes the resets, stalls and drips
// of a network, the crash and restart of a server, and the refusal of a
// server that is down; cmd/gateway runs as a process for SIGTERM.
//
// The cases run one after another: goleak looks at every goroutine of the
// process, so a case running beside it would count as a leak.
package faultsuite_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
	"github.com/ftpgw/ftpgw/internal/contract"
	"github.com/ftpgw/ftpgw/internal/faultproxy"
	"github.com/ftpgw/ftpgw/internal/realftpd"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if gatewayBinary.path != "" {
		os.RemoveAll(filepath.Dir(gatewayBinary.path))
	}
	os.Exit(contract.Verdict(code))
}

// The versions of file.bin: v0 is on the server at the start, v1 is what
// uploads send.
var v0, v1 = version(0), version(1)

// after is how far into a transfer the mid-transfer faults strike.
const after = 256 << 10

// want is how a case must end.
type want struct {
	// status is the response's status, 0 when the client left before
	// one could come.
	status int
	// cut: the body stopped short of its length (a download's headers
	// were out when the fault struck).
	cut bool
	// For a problem document: its detail contains detail, and its
	// ftp_code is ftpCode (0: none).
	detail  string
	ftpCode int
	// body is a download's whole body; a cut one must be a prefix of it,
	// never bytes from two versions. Nil for no download.
	body []byte
	// target is file.bin's content at the end, for an upload: v0
	// untouched, or the complete new version. Nil for no upload.
	target []byte
}

// faultCase is one fault and its outcome. run makes the fault and the
// request, and leaves the server up; the suite then checks the outcome
// and that the gateway recovered.
type faultCase struct {
	name string
	// kinds are the real servers the case runs against; none: the
	// fake server, scripted by script.
	kinds  []realftpd.Kind
	script func(*ftptest.Server)
	tune   func(*rigConfig)
	run    func(t *testing.T, r *rig) outcome
	want   want
}

var (
	plainFTP = []realftpd.Kind{realftpd.Vsftpd}
	// withFTPS adds FTPS where the fault is on a data connection, whose
	// TLS makes an end of data and a reset look different.
	withFTPS = []realftpd.Kind{realftpd.Vsftpd, realftpd.VsftpdTLS13}
)

func get(r *rig, hdr ...string) outcome {
	return r.do(http.MethodGet, "/files/"+fileName, nil, hdr...)
}

func putV1(r *rig) outcome {
	return r.do(http.MethodPut, "/files/"+fileName, bytes.NewReader(v1))
}

// firstCalls has the first n calls of a command answered by h, and the
// rest by the built-in behaviour.
func firstCalls(n int32, cmd string, h ftptest.Handler) ftptest.Handler {
	var calls atomic.Int32
	return func(c *ftptest.Conn, arg string) {
		if calls.Add(1) > n {
			c.Default(cmd, arg)
			return
		}
		h(c, arg)
	}
}

func reply421(c *ftptest.Conn, _ string) {
	c.Reply(421, "Timeout.")
	c.Close()
}

// goAway421 is a server whose idle timeout ended the pooled sessions:
// from arm on, each session that logged in before it answers its next
// command with 421 and closes. Sessions opened since are served. (Counting
// the first calls instead would have the 421 hit whichever session the
// pool's refill opened in between, which no server does.)
type goAway421 struct {
	mu    sync.Mutex
	old   map[*ftptest.Conn]bool
	armed bool
}

var goAwayGET, goAwayPUT = &goAway421{}, &goAway421{}

func (g *goAway421) script(s *ftptest.Server) {
	g.mu.Lock()
	g.old, g.armed = map[*ftptest.Conn]bool{}, false
	g.mu.Unlock()
	s.Handle("PASS", func(c *ftptest.Conn, arg string) {
		c.Default("PASS", arg)
		g.mu.Lock()
		if !g.armed {
			g.old[c] = true
		}
		g.mu.Unlock()
	})
	s.Handle("MLST", func(c *ftptest.Conn, arg string) {
		g.mu.Lock()
		hit := g.armed && g.old[c]
		g.mu.Unlock()
		if hit {
			reply421(c, arg)
			return
		}
		c.Default("MLST", arg)
	})
}

func (g *goAway421) arm() {
	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()
}

// warm waits for the pool to hold n idle sessions.
func warm(t *testing.T, r *rig, n int32) {
	t.Helper()
	if !eventually(5*time.Second, func() bool { return r.pool.Stat().IdleSessions() >= n }) {
		t.Fatalf("%d idle sessions after 5 s, want %d", r.pool.Stat().IdleSessions(), n)
	}
}

func minSessions(n int32) func(*rigConfig) {
	return func(c *rigConfig) {
		c.pool.MinSessions = n
		c.pool.HealthCheckAfterIdle = time.Minute // only the fault calls for a NOOP
	}
}

// storThen answers STOR with 150, takes up to limit bytes of data (all,
// when limit < 0) and stores them under the STOR's name, as a disk keeps
// what arrived, then ends as end says.
func storThen(limit int, end func(c *ftptest.Conn, dc net.Conn)) ftptest.Handler {
	return func(c *ftptest.Conn, arg string) {
		c.Reply(150, "Ok to send data.")
		dc, err := c.AcceptData()
		if err != nil {
			c.Reply(425, "Failed to establish connection.")
			return
		}
		dc.SetReadDeadline(time.Now().Add(10 * time.Second))
		var got []byte
		if limit < 0 {
			got, _ = io.ReadAll(dc)
		} else {
			got = make([]byte, limit)
			n, _ := io.ReadFull(dc, got)
			got = got[:n]
		}
		c.Server().PutFile(arg, got, time.Now())
		end(c, dc)
	}
}

// sendThenReset writes b to the gateway on dc, then resets dc. Through a
// small send buffer: with the kernel's (megabytes on loopback) all of b
// could be written, and dc reset, before the gateway saw its connect
// complete, which would fail its dial rather than cut a transfer (as
// faultproxy's smallSendBuffer, for the same reason).
func sendThenReset(dc net.Conn, b []byte) {
	dc.(*net.TCPConn).SetWriteBuffer(4096)
	dc.Write(b)
	resetData(dc)
}

func resetData(dc net.Conn) {
	dc.(*net.TCPConn).SetLinger(0)
	dc.Close()
}

var cases = []faultCase{
	// The FTP server's replies, from the fake server.
	{
		name:   "421 on every pooled session, GET",
		tune:   minSessions(2),
		script: goAwayGET.script,
		run: func(t *testing.T, r *rig) outcome {
			warm(t, r, 2)
			goAwayGET.arm()
			return get(r)
		},
		want: want{status: 200, body: v0},
	},
	{
		name:   "421 on every pooled session, PUT",
		tune:   minSessions(2),
		script: goAwayPUT.script,
		run: func(t *testing.T, r *rig) outcome {
			warm(t, r, 2)
			goAwayPUT.arm()
			return putV1(r)
		},
		want: want{status: 204, target: v1},
	},
	{
		name: "421 on every session while the server goes away",
		run: func(t *testing.T, r *rig) outcome {
			r.fake.Handle("MLST", reply421)
			defer r.fake.Handle("MLST", nil)
			return get(r)
		},
		want: want{status: 503, detail: "not available", ftpCode: 421},
	},
	{
		name:   "425 to RETR",
		script: func(s *ftptest.Server) { s.SetNoDataConn425(true) },
		run: func(t *testing.T, r *rig) outcome {
			defer r.fake.SetNoDataConn425(false)
			return get(r)
		},
		want: want{status: 502, detail: "data connection failed", ftpCode: 425},
	},
	{
		name:   "425 to STOR",
		script: func(s *ftptest.Server) { s.SetNoDataConn425(true) },
		run: func(t *testing.T, r *rig) outcome {
			defer r.fake.SetNoDataConn425(false)
			return putV1(r)
		},
		want: want{status: 502, detail: "data connection failed", ftpCode: 425, target: v0},
	},
	{
		name: "426 in the middle of RETR",
		script: func(s *ftptest.Server) {
			s.Handle("RETR", firstCalls(1, "RETR", func(c *ftptest.Conn, arg string) {
				c.Reply(150, "Opening BINARY mode data connection.")
				dc, err := c.AcceptData()
				if err != nil {
					return
				}
				sendThenReset(dc, v0[:after])
				c.Reply(426, "Failure writing network stream.")
			}))
		},
		run:  func(t *testing.T, r *rig) outcome { return get(r) },
		want: want{status: 200, cut: true, body: v0},
	},
	{
		name: "426 in the middle of STOR",
		script: func(s *ftptest.Server) {
			s.Handle("STOR", storThen(after, func(c *ftptest.Conn, dc net.Conn) {
				resetData(dc)
				c.Reply(426, "Failure reading network stream.")
			}))
		},
		run:  func(t *testing.T, r *rig) outcome { return putV1(r) },
		want: want{status: 502, detail: "data connection failed", ftpCode: 426, target: v0},
	},
	{
		name: "226 never comes after RETR",
		tune: shortFinalReply,
		script: func(s *ftptest.Server) {
			s.Handle("RETR", firstCalls(1, "RETR", func(c *ftptest.Conn, arg string) {
				c.Reply(150, "Opening BINARY mode data connection.")
				dc, err := c.AcceptData()
				if err != nil {
					return
				}
				dc.Write(v0)
				dc.Close()
				<-c.Done()
			}))
		},
		run: func(t *testing.T, r *rig) outcome { return get(r) },
		// Every byte the size promised came: the missing reply costs
		// the session, not the response.
		want: want{status: 200, body: v0},
	},
	{
		name: "226 never comes after STOR",
		tune: shortFinalReply,
		script: func(s *ftptest.Server) {
			s.Handle("STOR", firstCalls(1, "STOR", storThen(-1, func(c *ftptest.Conn, dc net.Conn) {
				dc.Close()
				<-c.Done()
			})))
		},
		run:  func(t *testing.T, r *rig) outcome { return putV1(r) },
		want: want{status: 504, detail: "did not answer in time", target: v0},
	},
	{
		// The size check, not the 226, says whether the file is stored.
		name: "226 after a STOR the server cut short",
		script: func(s *ftptest.Server) {
			s.Handle("STOR", func(c *ftptest.Conn, arg string) {
				c.Reply(150, "Ok to send data.")
				dc, err := c.AcceptData()
				if err != nil {
					c.Reply(425, "Failed to establish connection.")
					return
				}
				got, _ := io.ReadAll(dc)
				c.Server().PutFile(arg, got[:len(got)/2], time.Now()) // half of it lost
				dc.Close()
				c.Reply(226, "Transfer complete.")
			})
		},
		run:  func(t *testing.T, r *rig) outcome { return putV1(r) },
		want: want{status: 502, detail: "stored", target: v0},
	},
	{
		name: "421 in the middle of STOR",
		script: func(s *ftptest.Server) {
			s.Handle("STOR", firstCalls(1, "STOR", storThen(after, func(c *ftptest.Conn, dc net.Conn) {
				c.Reply(421, "Service not available, closing control connection.")
				resetData(dc)
				c.Close()
			})))
		},
		run:  func(t *testing.T, r *rig) outcome { return putV1(r) },
		want: want{status: 503, detail: "not available", ftpCode: 421, target: v0},
	},
	{
		name: "552 in the middle of STOR",
		script: func(s *ftptest.Server) {
			s.Handle("STOR", storThen(after, func(c *ftptest.Conn, dc net.Conn) {
				c.Reply(552, "Exceeded storage allocation.")
				resetData(dc)
			}))
		},
		run:  func(t *testing.T, r *rig) outcome { return putV1(r) },
		want: want{status: 507, detail: "out of space", ftpCode: 552, target: v0},
	},
	{
		name: "452 in the middle of STOR, after the reset",
		script: func(s *ftptest.Server) {
			s.Handle("STOR", storThen(after, func(c *ftptest.Conn, dc net.Conn) {
				resetData(dc)
				time.Sleep(100 * time.Millisecond)
				c.Reply(452, "Insufficient storage space.")
			}))
		},
		run:  func(t *testing.T, r *rig) outcome { return putV1(r) },
		want: want{status: 507, detail: "out of space", ftpCode: 452, target: v0},
	},
	{
		// The target is there, and its directory took the temporary
		// file: the rename over it is what the account may not do.
		name: "RNTO refused after a good STOR",
		script: func(s *ftptest.Server) {
			s.Handle("RNTO", func(c *ftptest.Conn, arg string) { c.Reply(550, "Rename failed.") })
		},
		run:  func(t *testing.T, r *rig) outcome { return putV1(r) },
		want: want{status: 403, detail: "denied the change to this file", ftpCode: 550, target: v0},
	},
	{
		name: "the pool exhausted",
		tune: func(c *rigConfig) {
			c.pool.MaxSessions = 1
			c.pool.AcquireTimeout = 300 * time.Millisecond
		},
		run: func(t *testing.T, r *rig) outcome {
			// The first GET holds the only session until released.
			release := make(chan struct{})
			r.fake.Handle("MLST", firstCalls(1, "MLST", func(c *ftptest.Conn, arg string) {
				select {
				case <-release:
				case <-c.Done():
				}
				c.Default("MLST", arg)
			}))
			first := make(chan outcome, 1)
			go func() { first <- get(r) }()
			if !eventually(5*time.Second, func() bool { return r.pool.Stat().AcquiredSessions() == 1 }) {
				t.Fatal("the first GET never held the only session")
			}
			start := time.Now()
			o := get(r)
			if d := time.Since(start); d > time.Second {
				t.Errorf("the 503 took %v with a 300 ms acquire timeout", d)
			}
			if o.header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After %q, want 1", o.header.Get("Retry-After"))
			}
			close(release)
			if f := <-first; f.status != 200 || !bytes.Equal(f.body, v0) {
				t.Errorf("the GET holding the session: %v, want 200 and the file", f)
			}
			return o
		},
		want: want{status: 503, detail: "all FTP sessions are busy"},
	},

	// The network between, through the proxies in front of vsftpd.
	{
		name:  "data connection reset in the middle of RETR",
		kinds: withFTPS,
		run: func(t *testing.T, r *rig) outcome {
			r.data.Arm(faultproxy.Fault{Dir: faultproxy.ToClient, After: after, Action: faultproxy.Reset})
			return get(r)
		},
		want: want{status: 200, cut: true, body: v0},
	},
	{
		name:  "data connection closed in the middle of RETR",
		kinds: withFTPS,
		run: func(t *testing.T, r *rig) outcome {
			r.data.Arm(faultproxy.Fault{Dir: faultproxy.ToClient, After: after, Action: faultproxy.Close})
			return get(r)
		},
		want: want{status: 200, cut: true, body: v0},
	},
	{
		name:  "server stalls in the middle of RETR",
		kinds: withFTPS,
		run: func(t *testing.T, r *rig) outcome {
			r.data.Arm(faultproxy.Fault{Dir: faultproxy.ToClient, After: after, Action: faultproxy.Stall})
			return get(r)
		},
		want: want{status: 200, cut: true, body: v0},
	},
	{
		name:  "control connection reset in the middle of RETR",
		kinds: plainFTP,
		run: func(t *testing.T, r *rig) outcome {
			return midGet(t, r, "/files/"+fileName, func() { r.ctl.Apply(faultproxy.Fault{Dir: faultproxy.ToClient, Action: faultproxy.Reset}) })
		},
		want: want{status: 200, body: v0},
	},
	{
		name:  "control connection closed in the middle of RETR",
		kinds: plainFTP,
		run: func(t *testing.T, r *rig) outcome {
			return midGet(t, r, "/files/"+fileName, func() { r.ctl.Apply(faultproxy.Fault{Dir: faultproxy.ToClient, Action: faultproxy.Close}) })
		},
		want: want{status: 200, body: v0},
	},
	{
		name:  "data connection reset in the middle of STOR",
		kinds: withFTPS,
		run: func(t *testing.T, r *rig) outcome {
			r.data.Arm(faultproxy.Fault{Dir: faultproxy.ToTarget, After: after, Action: faultproxy.Reset})
			return putV1(r)
		},
		want: want{status: 502, detail: "data connection failed", ftpCode: 426, target: v0},
	},
	{
		// vsftpd takes the end of data for the end of the file and
		// answers 226; the gateway, whose writes met the reset, does not
		// take that for a stored file.
		name:  "data connection closed in the middle of STOR",
		kinds: plainFTP,
		run: func(t *testing.T, r *rig) outcome {
			r.data.Arm(faultproxy.Fault{Dir: faultproxy.ToTarget, After: after, Action: faultproxy.Close})
			return putV1(r)
		},
		want: want{status: 502, detail: "closed the connection", target: v0},
	},
	{
		// Under TLS an end of data without close_notify is no end of
		// file: vsftpd answers 426.
		name:  "data connection closed in the middle of STOR",
		kinds: []realftpd.Kind{realftpd.VsftpdTLS13},
		run: func(t *testing.T, r *rig) outcome {
			r.data.Arm(faultproxy.Fault{Dir: faultproxy.ToTarget, After: after, Action: faultproxy.Close})
			return putV1(r)
		},
		want: want{status: 502, detail: "data connection failed", ftpCode: 426, target: v0},
	},
	{
		name:  "server stalls in the middle of STOR",
		kinds: withFTPS,
		// The stalled proxy passes no reset on, so the abort waits for a
		// reply that cannot come.
		tune: func(c *rigConfig) { c.pool.Conn.AbortTimeout = 300 * time.Millisecond },
		run: func(t *testing.T, r *rig) outcome {
			r.data.Arm(faultproxy.Fault{Dir: faultproxy.ToTarget, After: after, Action: faultproxy.Stall})
			return putV1(r)
		},
		want: want{status: 504, detail: "did not answer in time", target: v0},
	},
	{
		name:  "control connection reset in the middle of STOR",
		kinds: plainFTP,
		run: func(t *testing.T, r *rig) outcome {
			return midPut(t, r, func() { r.ctl.Apply(faultproxy.Fault{Dir: faultproxy.ToClient, Action: faultproxy.Reset}) })
		},
		want: want{status: 502, detail: "closed the connection", target: v0},
	},
	{
		name:  "control connection closed in the middle of STOR",
		kinds: plainFTP,
		run: func(t *testing.T, r *rig) outcome {
			return midPut(t, r, func() { r.ctl.Apply(faultproxy.Fault{Dir: faultproxy.ToClient, Action: faultproxy.Close}) })
		},
		want: want{status: 502, detail: "closed the connection", target: v0},
	},
	{
		name:  "dripping server, GET of a range",
		kinds: withFTPS,
		run: func(t *testing.T, r *rig) outcome {
			r.ctl.Arm(faultproxy.Fault{Dir: faultproxy.ToClient, Action: faultproxy.Drip, Chunk: 16, Every: time.Millisecond})
			r.data.Arm(faultproxy.Fault{Dir: faultproxy.ToClient, Action: faultproxy.Drip, Chunk: 16 << 10, Every: 10 * time.Millisecond})
			return get(r, "Range", "bytes=1000-500999")
		},
		want: want{status: 206, body: v0[1000:501000]},
	},
	{
		// The buffers between take most of the body at once; the final
		// reply comes once the server has dripped its way through them.
		// ftpcore's TestRealUploadSlowServer has the writes wait on such
		// a server.
		name:  "dripping server, PUT",
		kinds: withFTPS,
		run: func(t *testing.T, r *rig) outcome {
			r.ctl.Arm(faultproxy.Fault{Dir: faultproxy.ToClient, Action: faultproxy.Drip, Chunk: 16, Every: time.Millisecond})
			r.data.Arm(faultproxy.Fault{Dir: faultproxy.ToTarget, Action: faultproxy.Drip, Chunk: 8 << 10, Every: 10 * time.Millisecond})
			return r.do(http.MethodPut, "/files/"+fileName, bytes.NewReader(v1[:512<<10]))
		},
		want: want{status: 204, target: v1[:512<<10]},
	},

	// The HTTP client.
	{
		name:  "dripping client, PUT",
		kinds: plainFTP,
		tune:  slowClientLimits,
		run: func(t *testing.T, r *rig) outcome {
			px, err := faultproxy.Listen("127.0.0.1:0", r.http.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer px.Close()
			px.Arm(faultproxy.Fault{Dir: faultproxy.ToTarget, After: 1 << 10, Action: faultproxy.Drip, Chunk: 1 << 10, Every: 20 * time.Millisecond})
			c := r.dialGateway(t, 0, px.Addr())
			c.startPut(t, "/files/"+fileName, len(v1))
			go c.Write(v1)
			return c.response()
		},
		want: want{status: 408, detail: "too slowly", target: v0},
	},
	{
		name:  "dripping client, GET",
		kinds: plainFTP,
		tune:  slowClientLimits,
		run: func(t *testing.T, r *rig) outcome {
			c := r.dialGateway(t, 16<<10)
			resp := c.get(t, "/files/"+fileName)
			o := outcome{status: resp.StatusCode, header: resp.Header}
			deadline := time.Now().Add(5 * time.Second)
			buf := make([]byte, 1<<10)
			for time.Now().Before(deadline) {
				n, err := resp.Body.Read(buf)
				o.body = append(o.body, buf[:n]...)
				if err != nil {
					o.cut, o.err = err != io.EOF, err
					return o
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Errorf("a client reading 50 KiB/s against a minimum of 200 KiB/s was not cut in 5 s")
			return o
		},
		want: want{status: 200, cut: true, body: v0},
	},
	{
		name:  "client leaves in the middle of a download",
		kinds: withFTPS,
		run: func(t *testing.T, r *rig) outcome {
			c := r.dialGateway(t, 64<<10)
			resp := c.get(t, "/files/"+fileName)
			o := outcome{status: resp.StatusCode, header: resp.Header, cut: true}
			o.body = make([]byte, after)
			n, _ := io.ReadFull(resp.Body, o.body)
			o.body = o.body[:n]
			c.Close()
			return o
		},
		want: want{status: 200, cut: true, body: v0},
	},
	{
		name:  "client leaves in the middle of an upload",
		kinds: withFTPS,
		run: func(t *testing.T, r *rig) outcome {
			c := r.dialGateway(t, 0)
			c.startPut(t, "/files/"+fileName, len(v1))
			c.Write(v1[:1<<20])
			uploading(t, r)
			c.Close()
			return outcome{}
		},
		want: want{target: v0},
	},

	// The server killed and started again.
	{
		// A file larger than every buffer between vsftpd and the client,
		// so that the kill stops data still to be sent: vsftpd's socket
		// sends what it holds and then its end of data, early.
		name:  "server restarted in the middle of a download, the file replaced",
		kinds: plainFTP,
		// The client reads nothing while the server restarts: that must
		// not be what cuts it.
		tune: func(c *rigConfig) { c.api.ClientIdleTimeout = 30 * time.Second },
		run: func(t *testing.T, r *rig) outcome {
			const bigSize = 64 << 20
			old, replaced := bigVersion(bigSize, 3), version(2)
			r.put(t, "big.bin", old)
			o := midGet(t, r, "/files/big.bin", func() {
				r.put(t, "big.bin", replaced)
				r.ftpd.Restart(t)
			})
			if !o.cut || len(o.body) >= bigSize || !bytes.Equal(o.body, old[:len(o.body)]) {
				t.Errorf("the download across the restart: %d bytes, cut %v; want a strict prefix of the old version (common prefix %d)", len(o.body), o.cut, commonPrefix(o.body, old))
			}
			n := r.do(http.MethodGet, "/files/big.bin", nil)
			if n.status != 200 || !bytes.Equal(n.body, replaced) {
				t.Errorf("GET after the restart: %v (%s), want 200 and the new version", n, sameBytes(n.body, replaced))
			}
			t.Logf("%d of the %d bytes came before the end of data", len(o.body), bigSize)
			o.body = nil // checked here
			return o
		},
		want: want{status: 200, cut: true},
	},
	{
		name:  "server killed in the middle of an upload, back later",
		kinds: plainFTP,
		run: func(t *testing.T, r *rig) outcome {
			c := r.dialGateway(t, 0)
			c.startPut(t, "/files/"+fileName, len(v1))
			c.Write(v1[:1<<20])
			uploading(t, r)
			// Down: the port, and the proxy's in front of it, refuse
			// connections until the response is out.
			r.ctl.Refuse(true)
			r.ftpd.Kill(t)
			go c.Write(v1[1<<20:])
			o := c.response()
			time.Sleep(200 * time.Millisecond)
			r.ftpd.Revive(t)
			r.ctl.Refuse(false)
			return o
		},
		want: want{status: 502, detail: "closed the connection", target: v0},
	},
	{
		name:  "server restarted under idle pooled sessions",
		kinds: withFTPS,
		tune:  minSessions(2),
		run: func(t *testing.T, r *rig) outcome {
			warm(t, r, 2)
			r.ftpd.Restart(t)
			if g := get(r); g.status != 200 || !bytes.Equal(g.body, v0) {
				t.Errorf("GET after the restart: %v", g)
			}
			return putV1(r)
		},
		want: want{status: 204, target: v1},
	},
	{
		name:  "server unreachable",
		kinds: plainFTP,
		run: func(t *testing.T, r *rig) outcome {
			r.ctl.Refuse(true)
			defer r.ctl.Refuse(false)
			start := time.Now()
			o := get(r)
			if d := time.Since(start); d > time.Second {
				t.Errorf("the GET took %v against a refused port, want it well within the %v dial timeout", d, dialTimeout)
			}
			if p := putV1(r); p.status != 502 {
				t.Errorf("PUT: %v, want 502", p)
			}
			if h := r.do(http.MethodGet, "/healthz", nil); h.status != 200 {
				t.Errorf("/healthz: %v, want 200 while the server is down", h)
			}
			if h := r.do(http.MethodGet, "/readyz", nil); h.status != 503 {
				t.Errorf("/readyz: %v, want 503 while the server is down", h)
			}
			return o
		},
		want: want{status: 502, detail: "cannot connect"},
	},

	// The gateway itself told to stop.
	{
		name:  "SIGTERM in the middle of an upload the client finishes",
		kinds: plainFTP,
		run: func(t *testing.T, r *rig) outcome {
			g := startGatewayProcess(t, upstreamOf(r), r.ftpd.Password, "--shutdown-timeout", "10s")
			c := r.dialGateway(t, 0, g.addr)
			c.startPut(t, "/files/"+fileName, len(v1))
			c.Write(v1[:1<<20])
			uploading(t, r)
			if err := g.signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			go c.Write(v1[1<<20:])
			o := c.response()
			if code := g.wait(10 * time.Second); code != 0 {
				t.Errorf("exit status %d, want 0 after a drain that finished:\n%s", code, g.stderr.String())
			}
			g.checkLogs(t, r.ftpd.Password)
			return o
		},
		want: want{status: 204, target: v1},
	},
	{
		name:  "SIGTERM in the middle of an upload the client does not finish",
		kinds: plainFTP,
		run: func(t *testing.T, r *rig) outcome {
			g := startGatewayProcess(t, upstreamOf(r), r.ftpd.Password, "--shutdown-timeout", "500ms")
			c := r.dialGateway(t, 0, g.addr)
			c.startPut(t, "/files/"+fileName, len(v1))
			c.Write(v1[:1<<20])
			uploading(t, r)
			if err := g.signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			o := c.response()
			if code := g.wait(10 * time.Second); code != 1 {
				t.Errorf("exit status %d, want 1 after requests were cut off:\n%s", code, g.stderr.String())
			}
			g.checkLogs(t, r.ftpd.Password)
			return o
		},
		want: want{target: v0},
	},
}

// shortFinalReply waits half a second for the reply that ends a
// transfer.
func shortFinalReply(c *rigConfig) { c.pool.Conn.FinalReplyTimeout = 500 * time.Millisecond }

// slowClientLimits asks 200 KiB/s of clients, over half a second.
func slowClientLimits(c *rigConfig) {
	c.api.MinClientRate = 200 << 10
	c.api.MinClientRateWindow = 500 * time.Millisecond
}

// upstreamOf is the --upstream URL of r's server, through its proxy.
func upstreamOf(r *rig) *url.URL {
	return &url.URL{Scheme: "ftp", User: url.User(r.ftpd.User), Host: r.ctl.Addr(), Path: "/"}
}

// uploading waits until the server holds the temporary file of an upload
// under way.
func uploading(t *testing.T, r *rig) {
	t.Helper()
	if !eventually(5*time.Second, func() bool { return len(r.temps()) > 0 }) {
		t.Fatal("no upload under way after 5 s")
	}
}

// bigVersion is a file of size bytes, version v.
func bigVersion(size int, v byte) []byte {
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{v, 'b'}).Read(b)
	return b
}

// midGet starts a GET of p on a connection of its own, calls fault once
// the first bytes are in, and reads the rest.
func midGet(t *testing.T, r *rig, p string, fault func()) outcome {
	t.Helper()
	c := r.dialGateway(t, 64<<10)
	resp := c.get(t, p)
	o := outcome{status: resp.StatusCode, header: resp.Header}
	first := make([]byte, after)
	n, err := io.ReadFull(resp.Body, first)
	if err == nil {
		fault()
	}
	rest, err2 := io.ReadAll(resp.Body)
	if err == nil {
		err = err2
	}
	o.body = append(first[:n], rest...)
	o.cut, o.err = err != nil, err
	return o
}

// midPut starts a PUT of v1 on a connection of its own, calls fault once
// the upload is under way, sends the rest and reads the response.
func midPut(t *testing.T, r *rig, fault func()) outcome {
	t.Helper()
	c := r.dialGateway(t, 0)
	c.startPut(t, "/files/"+fileName, len(v1))
	c.Write(v1[:1<<20])
	uploading(t, r)
	fault()
	go c.Write(v1[1<<20:])
	return c.response()
}

// TestFaults runs every case and checks, for each: the status and the
// problem document; that a download is a prefix of one version, and cut
// when it must be; that an upload's target is untouched or the complete
// new version; that no temporary file is left once the server is back;
// that the pool serves the next GET; and that no goroutine is left.
func TestFaults(t *testing.T) {
	for _, tc := range cases {
		kinds := tc.kinds
		if len(kinds) == 0 {
			kinds = []realftpd.Kind{""}
		}
		for _, kind := range kinds {
			name := tc.name
			if kind != "" {
				name += "/" + string(kind)
			}
			t.Run(name, func(t *testing.T) {
				// Registered first, so it runs after every other
				// cleanup: the servers, the proxies, the pool.
				ignore := goleak.IgnoreCurrent()
				t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
				cfg := defaultRigConfig()
				if tc.tune != nil {
					tc.tune(&cfg)
				}
				var r *rig
				if kind == "" {
					r = startFakeRig(t, cfg, tc.script)
				} else {
					r = startRealRig(t, kind, cfg)
				}
				o := tc.run(t, r)
				t.Logf("outcome: %v", o)
				checkOutcome(t, o, tc.want)
				checkAfter(t, r, tc.want)
			})
		}
	}
}

func checkOutcome(t *testing.T, o outcome, w want) {
	t.Helper()
	if o.status != w.status {
		t.Errorf("status %d, want %d (%v)", o.status, w.status, o)
	}
	if w.status == 0 {
		return
	}
	if w.status == http.StatusServiceUnavailable && o.header.Get("Retry-After") == "" {
		t.Error("a 503 without Retry-After")
	}
	if o.cut != w.cut {
		t.Errorf("cut %v, want %v (%v)", o.cut, w.cut, o)
	}
	if w.body != nil && o.status < 300 {
		switch {
		case o.cut && (len(o.body) >= len(w.body) || !bytes.Equal(o.body, w.body[:len(o.body)])):
			t.Errorf("a cut body of %d bytes is not a strict prefix of the file (common prefix %d)", len(o.body), commonPrefix(o.body, w.body))
		case !o.cut && !bytes.Equal(o.body, w.body):
			t.Errorf("body: %s", sameBytes(o.body, w.body))
		}
	}
	if w.status < 400 {
		return
	}
	p, err := problemOf(o)
	if err != nil {
		t.Error(err)
		return
	}
	if p.Type != "about:blank" || p.Status != w.status || p.Title != http.StatusText(w.status) {
		t.Errorf("problem type %q, status %d, title %q; want about:blank, %d, %q", p.Type, p.Status, p.Title, w.status, http.StatusText(w.status))
	}
	if !strings.Contains(p.Detail, w.detail) {
		t.Errorf("problem detail %q, want it to say %q", p.Detail, w.detail)
	}
	if p.FTPCode != w.ftpCode {
		t.Errorf("problem ftp_code %d, want %d", p.FTPCode, w.ftpCode)
	}
	if hasMsg := p.FTPMessage != ""; hasMsg != (w.status >= 500 && w.ftpCode != 0) {
		t.Errorf("problem ftp_message %q on a %d with ftp_code %d", p.FTPMessage, w.status, w.ftpCode)
	}
}

// checkAfter checks what the case left: the target, the temporary files,
// and a pool that serves the next request.
func checkAfter(t *testing.T, r *rig, w want) {
	t.Helper()
	// The request's handler may still be cleaning up after a client
	// that left.
	if !eventually(10*time.Second, func() bool { return r.pool.Stat().AcquiredSessions() == 0 }) {
		t.Errorf("%d sessions still acquired 10 s after the case", r.pool.Stat().AcquiredSessions())
	}
	if w.target != nil {
		got, ok := r.file(fileName)
		if !ok || !bytes.Equal(got, w.target) {
			t.Errorf("target: %s (exists %v), want %s", sameBytes(got, w.target), ok, which(w.target))
		}
	}
	// Long enough for the retries of a deletion that met the server
	// down (after 1, 3 and 7 s).
	if !eventually(10*time.Second, func() bool { return len(r.temps()) == 0 }) {
		t.Errorf("temporary files left on the server once it was back: %q", r.temps())
	}
	o := r.do(http.MethodGet, "/files/"+checkName, nil)
	if o.status != 200 || string(o.body) != checkBody {
		t.Errorf("the GET after the fault: %v, want 200 %q", o, checkBody)
	}
}

func which(b []byte) string {
	switch {
	case bytes.Equal(b, v0):
		return "the old version untouched"
	case bytes.Equal(b, v1):
		return "the complete new version"
	}
	return fmt.Sprintf("%d bytes", len(b))
}
