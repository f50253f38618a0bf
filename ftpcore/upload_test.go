package ftpcore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

func TestStouNamesTheFile(t *testing.T) {
	srv := ftptest.NewServer(t)
	srv.Handle("STOU", func(c *ftptest.Conn, arg string) {
		c.Reply(150, "FILE: unique.0001")
		dc, err := c.AcceptData()
		if err != nil {
			c.Reply(425, "no data connection")
			return
		}
		b, _ := io.ReadAll(dc)
		dc.Close()
		c.Server().PutFile("/unique.0001", b, time.Now())
		c.Reply(226, "Transfer complete")
	})
	c := dialTest(t, srv)
	u, err := c.Stou(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if u.Name() != "unique.0001" {
		t.Errorf("Name() = %q", u.Name())
	}
	if _, err := io.WriteString(u, "stou data"); err != nil {
		t.Fatal(err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if b, ok := srv.File("/unique.0001"); !ok || string(b) != "stou data" {
		t.Errorf("stored %q %v", b, ok)
	}
	u2, err := c.Stor(t.Context(), "/x", 0)
	if err != nil {
		t.Fatal(err)
	}
	if u2.Name() != "" {
		t.Errorf("STOR upload has a Name %q", u2.Name())
	}
	u2.Close()
}

func TestStor(t *testing.T) {
	big := testData(3 << 20)
	tests := []struct {
		name     string
		existing []byte // nil: no file before
		offset   int64
		appe     bool
		data     []byte
		want     []byte
		wantCmd  string
	}{
		{name: "new file", data: big, want: big, wantCmd: "STOR /d/f"},
		{name: "replace", existing: []byte("old contents"), data: []byte("new"), want: []byte("new"), wantCmd: "STOR /d/f"},
		{name: "empty", existing: []byte("old"), data: nil, want: []byte{}, wantCmd: "STOR /d/f"},
		{name: "resume with REST", existing: []byte("hello world"), offset: 6, data: []byte("there"), want: []byte("hello there"), wantCmd: "REST 6"},
		{name: "append", existing: []byte("abc"), appe: true, data: []byte("def"), want: []byte("abcdef"), wantCmd: "APPE /d/f"},
		{name: "append to nothing", appe: true, data: []byte("def"), want: []byte("def"), wantCmd: "APPE /d/f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			s.Mkdir("/d")
			if tt.existing != nil {
				s.PutFile("/d/f", tt.existing, time.Now())
			}
			c := dialTest(t, s)
			ctx := testCtx(t)
			var u *Upload
			var err error
			if tt.appe {
				u, err = c.Appe(ctx, "/d/f")
			} else {
				u, err = c.Stor(ctx, "/d/f", tt.offset)
			}
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			n, err := io.Copy(u, bytes.NewReader(tt.data)) // through Upload.ReadFrom
			if err != nil || n != int64(len(tt.data)) || u.BytesWritten() != n {
				t.Fatalf("copy = %d, %v; BytesWritten %d", n, err, u.BytesWritten())
			}
			if err := u.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := u.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			got, ok := s.File("/d/f")
			if !ok || !bytes.Equal(got, tt.want) {
				t.Fatalf("server has %d bytes (%v), want %d", len(got), ok, len(tt.want))
			}
			if !slices.Contains(s.Commands(), tt.wantCmd) {
				t.Errorf("server saw %q, want %q", s.Commands(), tt.wantCmd)
			}
			if err := c.Noop(ctx); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

func TestStorRefused(t *testing.T) {
	tests := []struct {
		name     string
		opts     []ftptest.Option
		path     string
		offset   int64
		wantCode int
	}{
		{name: "missing directory", path: "/nope/f", wantCode: 553},
		{name: "onto a directory", path: "/d", wantCode: 553},
		{name: "REST past the end", path: "/d/f", offset: 100, wantCode: 554},
		{name: "no data connection", opts: []ftptest.Option{ftptest.WithNoDataConn425()}, path: "/d/f", wantCode: 425},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t, tt.opts...)
			s.PutFile("/d/f", []byte("short"), time.Now())
			c := dialTest(t, s)
			u, err := c.Stor(testCtx(t), tt.path, tt.offset)
			if err == nil {
				u.Abort(nil)
				t.Fatal("Stor succeeded")
			}
			if ReplyCode(err) != tt.wantCode || !c.Usable() {
				t.Fatalf("Stor error %v, usable %v; want %d and usable", err, c.Usable(), tt.wantCode)
			}
			if err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
}

func TestUploadAbort(t *testing.T) {
	s := ftptest.NewServer(t)
	data := testData(1 << 20)
	var log traceLog
	c := dialTest(t, s, func(c *Config) { c.Logger = log.logger() })
	ctx := testCtx(t)
	u, err := c.Stor(ctx, "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(data[:100<<10]); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("the source failed")
	if err := u.Abort(cause); err != cause {
		t.Fatalf("Abort = %v, want the cause itself", err)
	}
	if !c.Usable() {
		t.Fatalf("Conn unusable after Abort: %v", c.Err())
	}
	if !log.received("426") {
		t.Errorf("server did not answer 426:\n%s", log.String())
	}
	if err := c.Noop(ctx); err != nil {
		t.Fatalf("Noop: %v", err)
	}
	// ftptest keeps what arrived before the reset, as a disk-backed
	// server does: only a prefix of what was written.
	if got, ok := s.File("/f"); !ok || len(got) > 100<<10 || !bytes.Equal(got, data[:len(got)]) {
		t.Errorf("server kept %d bytes (%v)", len(got), ok)
	}
	if err := u.Close(); err != nil {
		t.Errorf("Close after Abort: %v", err)
	}
}

// TestUploadEnd checks how the server sees the end of an upload, with a STOR
// handler that reports how its read of the data connection ended: a clean
// end of file only for Close, a reset for Abort, a failed Write and a
// cancelled context, so that no truncated file is taken for complete. The
// handler answers the reset with 426, which keeps the Conn usable.
func TestUploadEnd(t *testing.T) {
	tests := []struct {
		name       string
		end        func(t *testing.T, c *Conn, u *Upload, cancel context.CancelFunc) error
		wantEOF    bool // the server read a clean end of file
		wantUsable bool
	}{
		{
			name:       "Close",
			end:        func(t *testing.T, c *Conn, u *Upload, _ context.CancelFunc) error { return u.Close() },
			wantEOF:    true,
			wantUsable: true,
		},
		{
			name: "Abort",
			end: func(t *testing.T, c *Conn, u *Upload, _ context.CancelFunc) error {
				if err := u.Abort(errClientGone); err != errClientGone {
					return err
				}
				return nil
			},
			wantUsable: true,
		},
		{
			name: "cancel then Close",
			end: func(t *testing.T, c *Conn, u *Upload, cancel context.CancelFunc) error {
				cancel()
				if err := u.Close(); !errors.Is(err, context.Canceled) {
					return fmt.Errorf("Close after cancel: %v, want context.Canceled", err)
				}
				return nil
			},
			wantUsable: true,
		},
		{
			name: "cancel then Write",
			end: func(t *testing.T, c *Conn, u *Upload, cancel context.CancelFunc) error {
				cancel()
				time.Sleep(10 * time.Millisecond) // let the AfterFunc set its deadline
				if _, err := u.Write([]byte("more")); !errors.Is(err, context.Canceled) {
					return fmt.Errorf("Write after cancel: %v, want context.Canceled", err)
				}
				if err := u.Close(); !errors.Is(err, context.Canceled) {
					return fmt.Errorf("Close after cancel: %v, want context.Canceled", err)
				}
				return nil
			},
			wantUsable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			readErr := make(chan error, 1)
			s.Handle("STOR", func(sc *ftptest.Conn, _ string) {
				sc.Reply(150, "Ok to send data.")
				dc, err := sc.AcceptData()
				if err != nil {
					sc.Reply(425, "No data connection.")
					return
				}
				dc.SetDeadline(time.Now().Add(testTimeout))
				_, err = io.Copy(io.Discard, dc)
				dc.Close()
				readErr <- err
				if err != nil {
					sc.Reply(426, "Connection reset; transfer aborted.")
					return
				}
				sc.Reply(226, "Transfer complete.")
			})
			c := dialTest(t, s)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			u, err := c.Stor(ctx, "/f", 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := u.Write(testData(10000)); err != nil {
				t.Fatal(err)
			}
			if err := tt.end(t, c, u, cancel); err != nil {
				t.Fatal(err)
			}
			var got error
			select {
			case got = <-readErr:
			case <-time.After(10 * time.Second):
				t.Fatal("the server's read did not end")
			}
			if (got == nil) != tt.wantEOF {
				t.Fatalf("server read ended with %v; want a clean EOF: %v", got, tt.wantEOF)
			}
			if c.Usable() != tt.wantUsable {
				t.Fatalf("Usable = %v, want %v (%v)", c.Usable(), tt.wantUsable, c.Err())
			}
		})
	}
}

func TestUploadWriteAfterServerGone(t *testing.T) {
	s := ftptest.NewServer(t)
	s.Handle("STOR", func(sc *ftptest.Conn, _ string) {
		sc.Reply(150, "Ok to send data.")
		dc, err := sc.AcceptData()
		if err != nil {
			return
		}
		// The first bytes, before the reset: a reset sent at once can
		// reach the client before its connect has completed, and fail
		// the dial instead of the writes.
		dc.SetReadDeadline(time.Now().Add(5 * time.Second))
		dc.Read(make([]byte, 1))
		dc.(*net.TCPConn).SetLinger(0)
		dc.Close()
		sc.Reply(426, "Failure reading network stream.")
	})
	c := dialTest(t, s)
	u, err := c.Stor(testCtx(t), "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	chunk := testData(64 << 10)
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ {
		_, werr = u.Write(chunk)
	}
	if werr == nil {
		t.Fatal("writes into a reset data connection kept succeeding")
	}
	// Close sees the failed write and aborts: the cause comes back, and
	// the 426 keeps the Conn in step.
	err = u.Close()
	if err == nil || !strings.Contains(err.Error(), "STOR data") {
		t.Fatalf("Close: %v, want the write error", err)
	}
	if !c.Usable() {
		t.Fatalf("Conn unusable: %v", c.Err())
	}
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// refusingSTOR is a STOR handler for a server that refuses an upload under
// way: it reads the first 64 KiB, then replies code and resets the data
// connection, or resets first and replies a moment later, when the
// client's writes have already failed.
func refusingSTOR(code int, text string, resetFirst bool) ftptest.Handler {
	return func(sc *ftptest.Conn, arg string) {
		sc.Reply(150, "Ok to send data.")
		dc, err := sc.AcceptData()
		if err != nil {
			sc.Reply(425, "No data connection.")
			return
		}
		dc.SetReadDeadline(time.Now().Add(testTimeout))
		io.ReadFull(dc, make([]byte, 64<<10))
		reset := func() {
			dc.(*net.TCPConn).SetLinger(0)
			dc.Close()
		}
		if resetFirst {
			reset()
			time.Sleep(100 * time.Millisecond)
			sc.Reply(code, text)
			return
		}
		sc.Reply(code, text)
		reset()
	}
}

// TestUploadRefusedMidway: a server that refuses an upload under way
// replies 552 or 452 (or 451, 426) and resets the data connection, in
// either order. The failed write reads that reply, so Write, ReadFrom,
// Close and Abort return it as an *Error whatever reached the client
// first, and the Conn stays usable.
func TestUploadRefusedMidway(t *testing.T) {
	copyLarge := func(u *Upload) (int64, error) {
		return u.ReadFrom(io.LimitReader(zeros{}, 1<<30))
	}
	writeLarge := func(u *Upload) (int64, error) {
		chunk := testData(64 << 10)
		var n int64
		for n < 1<<30 {
			w, err := u.Write(chunk)
			n += int64(w)
			if err != nil {
				return n, err
			}
		}
		return n, nil
	}
	tests := []struct {
		code       int
		text       string
		resetFirst bool
		send       func(u *Upload) (int64, error)
	}{
		{552, "Exceeded storage allocation.", false, writeLarge},
		{552, "Exceeded storage allocation.", true, writeLarge},
		{452, "Insufficient storage space.", true, copyLarge},
		{452, "Insufficient storage space.", false, copyLarge},
		{451, "Local error in processing.", true, writeLarge},
		{426, "Connection closed; transfer aborted.", true, copyLarge},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%d reply first", tt.code)
		if tt.resetFirst {
			name = fmt.Sprintf("%d reset first", tt.code)
		}
		t.Run(name, func(t *testing.T) {
			s := ftptest.NewServer(t)
			s.Handle("STOR", refusingSTOR(tt.code, tt.text, tt.resetFirst))
			c := dialTest(t, s)
			u, err := c.Stor(testCtx(t), "/f", 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tt.send(u)
			var fe *Error
			if !errors.As(err, &fe) || fe.Code != tt.code || fe.Cmd != "STOR" || fe.Msg != tt.text {
				t.Fatalf("send: %v, want an *Error with STOR's %d", err, tt.code)
			}
			if !c.Usable() {
				t.Fatalf("Conn unusable: %v", c.Err())
			}
			if _, werr := u.Write([]byte("more")); werr != err {
				t.Errorf("Write after the failure: %v, want %v", werr, err)
			}
			if aerr := u.Abort(errClientGone); aerr != err {
				t.Errorf("Abort after the failure: %v, want %v", aerr, err)
			}
			if cerr := u.Close(); cerr != nil {
				t.Errorf("Close after Abort: %v", cerr)
			}
			if err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	}
	t.Run("Close after the failure", func(t *testing.T) {
		s := ftptest.NewServer(t)
		s.Handle("STOR", refusingSTOR(552, "Exceeded storage allocation.", true))
		c := dialTest(t, s)
		u, err := c.Stor(testCtx(t), "/f", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := writeLarge(u); ReplyCode(err) != 552 {
			t.Fatalf("Write: %v, want 552", err)
		}
		if err := u.Close(); ReplyCode(err) != 552 {
			t.Fatalf("Close: %v, want 552", err)
		}
		if err := c.Noop(testCtx(t)); err != nil {
			t.Fatalf("Noop: %v", err)
		}
	})
}

// TestUploadStalledKeepsTimeout: a server that stops reading fails the
// write on DataTimeout, and its reply to the reset that follows (426) is
// no reason of its own: the error stays a timeout, with no reply code.
func TestUploadStalledKeepsTimeout(t *testing.T) {
	s := ftptest.NewServer(t)
	s.Handle("STOR", func(sc *ftptest.Conn, _ string) {
		sc.Reply(150, "Ok to send data.")
		dc, err := sc.AcceptData()
		if err != nil {
			return
		}
		// Read nothing until the client has given up and reset.
		select {
		case <-sc.Done():
			return
		case <-time.After(time.Second):
		}
		io.Copy(io.Discard, dc)
		dc.Close()
		sc.Reply(426, "Failure reading network stream.")
	})
	c := dialTest(t, s, func(c *Config) { c.DataTimeout = 300 * time.Millisecond })
	u, err := c.Stor(testCtx(t), "/f", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = u.ReadFrom(io.LimitReader(zeros{}, 1<<30))
	if !IsTimeout(err) || ReplyCode(err) != 0 {
		t.Fatalf("ReadFrom: %v, want a timeout without a reply code", err)
	}
	if cerr := u.Close(); !IsTimeout(cerr) || ReplyCode(cerr) != 0 {
		t.Fatalf("Close: %v, want the timeout", cerr)
	}
	if !c.Usable() {
		t.Fatalf("Conn unusable: %v", c.Err())
	}
	if err := c.Noop(testCtx(t)); err != nil {
		t.Fatalf("Noop: %v", err)
	}
}

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
