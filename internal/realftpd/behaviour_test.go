package realftpd

import (
	"os"
	"testing"
	"time"
)

// TestBehaviour pins down where the three servers differ on replies the
// gateway has to interpret, so that a package upgrade that changes one
// shows up here rather than as a puzzling gateway failure.
func TestBehaviour(t *testing.T) {
	type want struct {
		// REST beyond the end of the file, then RETR:
		restPastEOF int  // final reply code
		restDataEOF bool // the server closes the data connection itself
		// RNTO onto an existing file:
		rntoExisting int
		// SIZE in ASCII mode:
		sizeASCII int
		// MLST on a file:
		mlst int
	}
	for _, tt := range []struct {
		kind Kind
		want want
	}{
		// vsftpd accepts the offset and sends nothing: 150, then 226.
		{Vsftpd, want{restPastEOF: 226, restDataEOF: true, rntoExisting: 250, sizeASCII: 213, mlst: 500}},
		// pure-ftpd refuses with 554 but leaves the data connection it
		// accepted open: the client has to close it.
		{PureFTPd, want{restPastEOF: 554, restDataEOF: false, rntoExisting: 250, sizeASCII: 213, mlst: 250}},
		// proftpd refuses with 554 and resets the data connection.
		{ProFTPD, want{restPastEOF: 554, restDataEOF: true, rntoExisting: 250, sizeASCII: 550, mlst: 250}},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			s := Start(t, tt.kind)
			s.WriteFile(t, "a.txt", []byte("hello\n"))
			s.WriteFile(t, "b.txt", []byte("old contents\n"))
			c := dial(t, s)
			c.login()
			code := func(format string, args ...any) int {
				t.Helper()
				c.send(format, args...)
				code, _ := c.reply()
				return code
			}

			if got := code("TYPE A"); got != 200 {
				t.Fatalf("TYPE A: %d", got)
			}
			if got := code("SIZE a.txt"); got != tt.want.sizeASCII {
				t.Errorf("SIZE in ASCII mode: %d, want %d", got, tt.want.sizeASCII)
			}
			c.cmd(200, "TYPE I")
			if got := code("MLST a.txt"); got != tt.want.mlst {
				t.Errorf("MLST a.txt: %d, want %d", got, tt.want.mlst)
			}

			c.cmd(350, "REST 100")
			d := c.epsv()
			if err := d.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			c.send("RETR a.txt")
			got := read(d)
			final, msg := c.reply()
			if final == 150 {
				final, msg = c.reply()
			}
			if final != tt.want.restPastEOF {
				t.Errorf("RETR after REST past EOF: %d %s, want %d", final, msg, tt.want.restPastEOF)
			}
			r := <-got
			if len(r.data) != 0 {
				t.Errorf("RETR after REST past EOF sent %q", r.data)
			}
			if timedOut := os.IsTimeout(r.err); timedOut == tt.want.restDataEOF {
				t.Errorf("server closed the data connection: %v (read: %v), want %v", !timedOut, r.err, tt.want.restDataEOF)
			}

			c.cmd(350, "RNFR a.txt")
			if got := code("RNTO b.txt"); got != tt.want.rntoExisting {
				t.Errorf("RNTO onto an existing file: %d, want %d", got, tt.want.rntoExisting)
			}
			if b, err := os.ReadFile(s.Path("b.txt")); err != nil || string(b) != "hello\n" {
				t.Errorf("b.txt after RNTO = %q, %v; want a.txt's contents", b, err)
			}
			c.cmd(221, "QUIT")
		})
	}
}
