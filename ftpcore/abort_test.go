package ftpcore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore/ftptest"
)

// stalledRETR is a RETR handler that sends 1000 bytes and then neither
// more data nor a final reply: the transfer is in progress when the client
// gives up. With final it sends that final reply right after the data
// instead, as a server does whose transfer completed before the ABOR.
func stalledRETR(final int) ftptest.Handler {
	return func(sc *ftptest.Conn, _ string) {
		sc.Reply(150, "Here it comes.")
		dc, err := sc.AcceptData()
		if err != nil {
			sc.Reply(425, "No data connection.")
			return
		}
		dc.Write(testData(1000))
		if final != 0 {
			sc.Reply(final, "Transfer complete.")
		}
	}
}

func replies(lines ...string) ftptest.Handler {
	return func(sc *ftptest.Conn, _ string) {
		for _, l := range lines {
			sc.WriteRaw(l + "\r\n")
		}
	}
}

// TestAbortOnCancel cancels a download and checks, for each way a server
// can answer the ABOR, whether the Conn stays usable: only when the
// replies are transfer or ABOR replies and the NOOP after them is answered
// 200, all within AbortTimeout.
func TestAbortOnCancel(t *testing.T) {
	const abortTimeout = 300 * time.Millisecond
	tests := []struct {
		name       string
		slow       bool                       // ftptest's own transfer, slowed down
		handlers   map[string]ftptest.Handler // by command
		wantUsable bool
		// wantNOOP: 1 if the NOOP proof must reach the server, -1 if the
		// client must give up before sending it, 0 if it may go either
		// way (the client gives up on replies that were sent with the
		// ABOR's, perhaps before the server read the NOOP).
		wantNOOP int
	}{
		{
			// ftptest answers an ABOR mid-transfer as RFC 959 says.
			name: "426 then 226", slow: true, wantUsable: true, wantNOOP: 1,
		},
		{
			name: "225 only",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(0),
				"ABOR": replies("225 No transfer to ABOR."),
			},
			wantUsable: true, wantNOOP: 1,
		},
		{
			// vsftpd and proftpd after a transfer that had completed.
			name: "226 then 225",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(226),
				"ABOR": replies("225 No transfer to ABOR."),
			},
			wantUsable: true, wantNOOP: 1,
		},
		{
			// pure-ftpd: its odd final reply, and no answer to the ABOR.
			name: "150 final, ABOR ignored",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(0),
				"ABOR": replies("150 0.001 seconds (measured here), 2209.85 Mbytes per second"),
			},
			wantUsable: true, wantNOOP: 1,
		},
		{
			// A middlebox took the urgent byte; the server did not
			// recognise what was left.
			name: "426 then 500",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(0),
				"ABOR": replies("426 Failure writing network stream.", "500 Unknown command."),
			},
			wantUsable: true, wantNOOP: 1,
		},
		{
			name: "silent after ABOR",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(0),
				"ABOR": func(sc *ftptest.Conn, _ string) { <-sc.Done() },
			},
			wantNOOP: -1,
		},
		{
			name: "garbage after ABOR",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(0),
				"ABOR": replies("what?"),
			},
			wantNOOP: -1,
		},
		{
			name: "3yz after ABOR",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(0),
				"ABOR": replies("350 Send more."),
			},
			wantNOOP: -1,
		},
		{
			name: "NOOP never answered",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(0),
				"ABOR": replies("426 Aborted.", "226 ABOR successful."),
				"NOOP": func(sc *ftptest.Conn, _ string) { <-sc.Done() },
			},
			wantNOOP: 1,
		},
		{
			name: "NOOP refused",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(0),
				"ABOR": replies("426 Aborted.", "226 ABOR successful."),
				"NOOP": replies("500 Not now."),
			},
			wantNOOP: 1,
		},
		{
			name: "too many replies",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(0),
				"ABOR": replies("426 Aborted.", "226 ABOR successful.", "226 Really.", "226 Really!"),
			},
		},
		{
			// A reply no transfer or ABOR gives, before the NOOP's.
			name: "211 before the NOOP's 200",
			handlers: map[string]ftptest.Handler{
				"RETR": stalledRETR(0),
				"ABOR": replies("426 Aborted.", "211 Status."),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []ftptest.Option
			if tt.slow {
				opts = append(opts, ftptest.WithSlowData(1000, time.Minute))
			}
			s := ftptest.NewServer(t, opts...)
			s.PutFile("/f", testData(100000), time.Now())
			for cmd, h := range tt.handlers {
				s.Handle(cmd, h)
			}
			c := dialTest(t, s, func(c *Config) {
				c.AbortTimeout = abortTimeout
				c.CommandTimeout = 10 * time.Second // must not be what bounds the abort
			})
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			tr, err := c.Retr(ctx, "/f", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(tr, make([]byte, 1000)); err != nil {
				t.Fatalf("first chunk: %v", err)
			}
			before := len(s.Commands())
			cancel()
			start := time.Now()
			err = tr.Close()
			took := time.Since(start)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Close: %v, want context.Canceled", err)
			}
			if took > abortTimeout+time.Second {
				t.Errorf("Close took %v with an abort timeout of %v", took, abortTimeout)
			}
			if c.Usable() != tt.wantUsable {
				t.Fatalf("Usable = %v, want %v (Close: %v)", c.Usable(), tt.wantUsable, err)
			}
			cmds := s.Commands()[before:]
			if len(cmds) == 0 || cmds[0] != "ABOR" {
				t.Errorf("server saw %q after the cancel, want ABOR first", cmds)
			}
			if tt.wantNOOP != 0 && slices.Contains(cmds, "NOOP") != (tt.wantNOOP > 0) {
				t.Errorf("server saw %q after the cancel; NOOP wanted: %v", cmds, tt.wantNOOP > 0)
			}
			if tt.wantUsable {
				if err := c.Noop(testCtx(t)); err != nil {
					t.Fatalf("Noop: %v", err)
				}
				return
			}
			if err := c.Noop(testCtx(t)); !errors.Is(err, ErrUnusable) {
				t.Fatalf("Noop on the unusable Conn: %v", err)
			}
		})
	}
}

// TestAbortNotSentWithoutTransfer checks the cases where a cancelled
// download needs no ABOR: the caller already had every byte it asked for,
// or the server had completed the transfer with its first reply.
func TestAbortNotSentWithoutTransfer(t *testing.T) {
	t.Run("range complete", func(t *testing.T) {
		s := ftptest.NewServer(t, ftptest.WithSlowData(1000, time.Minute))
		s.PutFile("/f", testData(100000), time.Now())
		c := dialTest(t, s)
		ctx, cancel := context.WithCancel(testCtx(t))
		tr, err := c.Retr(ctx, "/f", 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := tr.Close(); err != nil {
			t.Fatalf("Close: %v; the range was complete", err)
		}
		if slices.Contains(s.Commands(), "ABOR") || !c.Usable() {
			t.Fatalf("server saw %q, usable %v", s.Commands(), c.Usable())
		}
	})
	t.Run("final reply first", func(t *testing.T) {
		s := ftptest.NewServer(t)
		s.Handle("RETR", func(sc *ftptest.Conn, _ string) { sc.Reply(226, "Nothing to send.") })
		c := dialTest(t, s)
		ctx, cancel := context.WithCancel(testCtx(t))
		tr, err := c.Retr(ctx, "/f", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := tr.Close(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Close: %v", err)
		}
		if slices.Contains(s.Commands(), "ABOR") || !c.Usable() {
			t.Fatalf("server saw %q, usable %v", s.Commands(), c.Usable())
		}
	})
}

// TestABORBytes checks what goes on the wire: on TCP the Telnet IP, then
// the Synch (IAC as urgent data, DM in band), then ABOR, as RFC 959 §4.1.3
// and BSD ftp have it; on anything else (a TLS control connection) plain
// ABOR.
func TestABORBytes(t *testing.T) {
	t.Run("TCP", func(t *testing.T) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		client, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer server.Close()
		c := newConn(client, testConfigDefaults())
		if err := c.sendABOR(); err != nil {
			t.Fatal(err)
		}
		server.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got []byte
		if urgentSupported {
			// Without SO_OOBINLINE the urgent IAC is taken out of the
			// stream and read apart with MSG_OOB, before the reader
			// passes the urgent mark (which drops it).
			head := make([]byte, 2)
			if _, err := io.ReadFull(server, head); err != nil {
				t.Fatal(err)
			}
			b, err := readUrgent(server.(*net.TCPConn))
			if err != nil || b != telnetIAC {
				t.Fatalf("urgent byte %#x, %v; want IAC", b, err)
			}
			got = append(head, b)
		}
		rest := make([]byte, 7)
		if _, err := io.ReadFull(server, rest); err != nil {
			t.Fatal(err)
		}
		got = append(got, rest...)
		want := []byte("ABOR\r\n")
		if urgentSupported {
			want = []byte("\xff\xf4\xff\xf2ABOR\r\n") // IAC IP, IAC (urgent), DM
		}
		if !bytes.Equal(got[:len(want)], want) {
			t.Fatalf("wire %q, want %q", got, want)
		}
		if c.Commands() != 1 {
			t.Errorf("Commands() = %d", c.Commands())
		}
	})
	t.Run("not TCP", func(t *testing.T) {
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		c := newConn(client, testConfigDefaults())
		errc := make(chan error, 1)
		go func() { errc <- c.sendABOR() }()
		got := make([]byte, 6)
		if _, err := io.ReadFull(server, got); err != nil || string(got) != "ABOR\r\n" {
			t.Fatalf("got %q, %v", got, err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}

func testConfigDefaults() Config {
	var cfg Config
	cfg.setDefaults()
	return cfg
}
