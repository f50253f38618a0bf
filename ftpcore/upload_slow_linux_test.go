package ftpcore

import (
	"bytes"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/faultproxy"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// slowAbortTimeout bounds ending an upload the stalled proxy never lets the
// server hear of.
const slowAbortTimeout = 300 * time.Millisecond

// slowServerConn dials s behind the proxies of faultproxy.ListenFTP, whose
// data proxy is armed with f for the next data connection, with
// DataTimeout dataTimeout. The data connections' send buffer is shrunk to
// 32 KiB, so that a write waits on the server as soon as the proxy's
// buffer is full, not megabytes later; and their segments to 1460 bytes,
// as on an Ethernet path: with loopback's 64 KiB ones a slowly drained
// receiver opens its window 64 KiB at a time, pausing the sender for
// longer than the DataTimeout between.
func slowServerConn(t *testing.T, s *realftpd.Server, dataTimeout time.Duration, f faultproxy.Fault) *Conn {
	t.Helper()
	ctl, data, err := faultproxy.ListenFTP(s.Addr, s.PasvMinPort, s.PasvMaxPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctl.Close()
		data.Close()
	})
	if err := data.Arm(f); err != nil {
		t.Fatal(err)
	}
	return dialReal(t, s, func(c *Config) {
		c.Addr = ctl.Addr()
		c.DataTimeout = dataTimeout
		c.AbortTimeout = slowAbortTimeout
		c.Dialer = &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 32<<10)
				if serr == nil {
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1460)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}}
	})
}

// TestRealUploadSlowServer: vsftpd takes an upload steadily at 640 KiB/s
// (the proxy forwards 16 KiB every 25 ms), slower than one 1 MiB Write per
// 500 ms DataTimeout. The Write failed with a timeout once the buffers
// were full, though the server never stopped taking data; DataTimeout is
// now the time nothing moves, so the upload completes. A server that stops
// taking data still fails the Write.
func TestRealUploadSlowServer(t *testing.T) {
	const dataTimeout = 500 * time.Millisecond
	for _, kind := range []realftpd.Kind{realftpd.Vsftpd, realftpd.VsftpdTLS13} {
		t.Run(string(kind), func(t *testing.T) {
			s := realftpd.Start(t, kind)
			payload := testData(1 << 20)

			c := slowServerConn(t, s, dataTimeout, faultproxy.Fault{Dir: faultproxy.ToTarget, Action: faultproxy.Drip, Chunk: 16 << 10, Every: 25 * time.Millisecond})
			u, err := c.Stor(testCtx(t), "slow.bin", 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Write(payload); err != nil {
				t.Fatalf("Write to a slow but steady server: %v", err)
			}
			if err := u.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got, err := os.ReadFile(s.Path("slow.bin")); err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("stored %d bytes (%v), want the %d sent", len(got), err, len(payload))
			}
			if kind != realftpd.Vsftpd {
				return // a stalled TLS write fails at its one deadline
			}

			// On plain TCP a write that moved bytes goes on: it must
			// still end once they stop moving.
			c = slowServerConn(t, s, dataTimeout, faultproxy.Fault{Dir: faultproxy.ToTarget, After: 64 << 10, Action: faultproxy.Stall})
			u, err = c.Stor(testCtx(t), "stalled.bin", 0)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = u.Write(payload)
			took := time.Since(start)
			if !IsTimeout(err) {
				t.Fatalf("Write to a stalled server: %v, want a timeout", err)
			}
			// The receiver's kernel takes a little more for a window or
			// two after the stall; then one DataTimeout without
			// progress, and the abort, which the stalled proxy never
			// answers (AbortTimeout).
			if took > 5*dataTimeout+slowAbortTimeout {
				t.Errorf("the stall was found after %v, want within %v", took, 5*dataTimeout+slowAbortTimeout)
			}
		})
	}
}
