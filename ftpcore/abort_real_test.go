package ftpcore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// These tests cut transfers short on the real servers and pin down what
// each answers (see the comment at the top of abort.go). They skip without
// root and the servers, and fail instead when FTPGW_REQUIRE_REAL_SERVERS=1.

// abortKinds are the servers of the matrix, plus one FTPS configuration
// for the plain ABOR sent inside TLS.
var abortKinds = []realftpd.Kind{realftpd.Vsftpd, realftpd.PureFTPd, realftpd.ProFTPD, realftpd.VsftpdTLS13}

func dialAbortReal(t *testing.T, s *realftpd.Server, log *traceLog) *Conn {
	t.Helper()
	cfg := Config{
		Addr:           s.Addr,
		User:           s.User,
		Password:       s.Password,
		DialTimeout:    5 * time.Second,
		CommandTimeout: 10 * time.Second,
		DataTimeout:    10 * time.Second,
		AbortTimeout:   5 * time.Second,
		Logger:         log.logger(),
	}
	if s.TLS != nil {
		cfg.TLS = TLSExplicit
		if s.TLS.Implicit {
			cfg.TLS = TLSImplicit
		}
		cfg.TLSConfig = s.TLS.ClientConfig()
	}
	c, err := Dial(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("Dial %s: %v\nserver log:\n%s", s.Kind, err, strings.Join(s.Log(), "\n"))
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var traceCode = regexp.MustCompile(`msg="ftp recv" .*? code=(\d+) `)

// repliesAfter returns the codes of the replies the trace shows after the
// last line containing marker, up to the next command sent.
func repliesAfter(log *traceLog, marker string) []int {
	lines := strings.Split(log.String(), "\n")
	start := -1
	for i, l := range lines {
		if strings.Contains(l, marker) {
			start = i
		}
	}
	if start < 0 {
		return nil
	}
	var codes []int
	for _, l := range lines[start+1:] {
		if strings.Contains(l, `msg="ftp send"`) && !strings.Contains(l, "line=NOOP") {
			break
		}
		if m := traceCode.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			codes = append(codes, n)
		}
	}
	return codes
}

// TestRealRetrCancel cancels a 64 MiB download mid-stream on each server.
// Every server leaves the session reusable: the ABOR exchange ends with
// NOOP's 200, and a SIZE after it is answered correctly. The replies each
// server sends between the ABOR and that 200 are pinned down here; the
// server's command log, where it has one, shows the ABOR and the NOOP.
func TestRealRetrCancel(t *testing.T) {
	const size = 64 << 20
	tests := []struct {
		kind realftpd.Kind
		// want lists the accepted reply sequences from the ABOR to the
		// NOOP's 200 included.
		want [][]int
		// wantABOR is how the command log shows the ABOR.
		wantABOR string
	}{
		// Not acted on until the reset data connection fails the
		// transfer; the Telnet bytes before ABOR show up as "????".
		{kind: realftpd.Vsftpd, want: [][]int{{426, 225, 200}}, wantABOR: "????ABOR"},
		// Ends a reset transfer with a 150 and ignores an ABOR with
		// Telnet bytes outside its transfer loop; when the ABOR is seen
		// first it answers 426 and 226.
		{kind: realftpd.PureFTPd, want: [][]int{{150, 200}, {426, 226, 200}}},
		{kind: realftpd.ProFTPD, want: [][]int{{426, 226, 200}}, wantABOR: "ABOR"},
		// Plain ABOR inside TLS.
		{kind: realftpd.VsftpdTLS13, want: [][]int{{426, 225, 200}}, wantABOR: "ABOR"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			s := realftpd.Start(t, tt.kind)
			data := testData(size)
			s.WriteFile(t, "big.bin", data)
			var log traceLog
			c := dialAbortReal(t, s, &log)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			tr, err := c.Retr(ctx, "big.bin", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 1<<20)
			if _, err := io.ReadFull(tr, got); err != nil || !bytes.Equal(got, data[:len(got)]) {
				t.Fatalf("first MiB: %v", err)
			}
			cancel()
			start := time.Now()
			_, err = io.Copy(io.Discard, struct{ io.Reader }{tr})
			if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
				t.Fatalf("reading after cancel: %v after %v", err, time.Since(start))
			}
			if tr.BytesRead() >= size {
				t.Fatalf("read all %d bytes: the transfer was not cut short", tr.BytesRead())
			}
			start = time.Now()
			err = tr.Close()
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Close: %v, want context.Canceled", err)
			}
			replies := repliesAfter(&log, "line=ABOR")
			t.Logf("%s: Close took %v; replies after ABOR: %v", tt.kind, time.Since(start), replies)
			if !c.Usable() {
				t.Fatalf("Conn unusable after the ABOR exchange: %v\ntrace:\n%s", c.Err(), log.String())
			}
			if !slices.ContainsFunc(tt.want, func(w []int) bool { return slices.Equal(w, replies) }) {
				t.Errorf("replies after ABOR %v, want one of %v\ntrace:\n%s", replies, tt.want, log.String())
			}
			n, err := c.Size(testCtx(t), "big.bin")
			if err != nil || n != size {
				t.Fatalf("Size after the abort = %d, %v", n, err)
			}
			if !s.HasCommandLog() {
				return
			}
			cmds := s.Commands()
			i := slices.Index(cmds, "RETR big.bin")
			if i < 0 {
				t.Fatalf("no RETR in %q", cmds)
			}
			if want := []string{tt.wantABOR, "NOOP", "SIZE big.bin"}; !slices.Equal(cmds[i+1:], want) {
				t.Errorf("server logged %q after the RETR, want %q", cmds[i+1:], want)
			}
		})
	}
}

// TestRealStorCancel cancels an upload on each server: the data
// connection is reset, never closed cleanly, so each server fails the
// transfer (never 226) with one reply, and the session stays usable.
func TestRealStorCancel(t *testing.T) {
	tests := []struct {
		kind      realftpd.Kind
		wantFinal int
	}{
		{realftpd.Vsftpd, 426},
		{realftpd.PureFTPd, 451},
		{realftpd.ProFTPD, 426},
		{realftpd.VsftpdTLS13, 426},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			s := realftpd.Start(t, tt.kind)
			var log traceLog
			c := dialAbortReal(t, s, &log)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			u, err := c.Stor(ctx, "up.bin", 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Write(testData(1 << 20)); err != nil {
				t.Fatal(err)
			}
			cancel()
			time.Sleep(10 * time.Millisecond) // let the AfterFunc set its deadline
			if _, err := u.Write([]byte("more")); !errors.Is(err, context.Canceled) {
				t.Fatalf("Write after cancel: %v", err)
			}
			if err := u.Close(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Close: %v, want context.Canceled", err)
			}
			if !c.Usable() {
				t.Fatalf("Conn unusable: %v\ntrace:\n%s", c.Err(), log.String())
			}
			replies := repliesAfter(&log, "line=\"STOR up.bin\"")
			if len(replies) > 0 && replies[0] == StatusExtendedPassive {
				replies = replies[1:] // EPSV's, sent in the same write as STOR
			}
			t.Logf("%s: replies to STOR: %v", tt.kind, replies)
			if len(replies) != 2 || replies[1] != tt.wantFinal {
				t.Errorf("replies to STOR %v, want 150 then %d\ntrace:\n%s", replies, tt.wantFinal, log.String())
			}
			if err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

// TestRealRetrEarlyClose closes ranges early on each server: the Conn must
// stay in step (final reply, then NOOP, no ABOR). pure-ftpd's final reply
// to a reset download has code 150.
func TestRealRetrEarlyClose(t *testing.T) {
	for _, kind := range abortKinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			s := realftpd.Start(t, kind)
			data := testData(16 << 20)
			s.WriteFile(t, "big.bin", data)
			var log traceLog
			c := dialAbortReal(t, s, &log)
			readRangesClosedEarly(t, c, "big.bin", data, 5, 100_003, nil, log.String)
			if n, err := c.Size(testCtx(t), "big.bin"); err != nil || n != int64(len(data)) {
				t.Fatalf("Size = %d, %v", n, err)
			}
			if strings.Contains(log.String(), "line=ABOR") {
				t.Error("ABOR sent for an early close")
			}
		})
	}
}
