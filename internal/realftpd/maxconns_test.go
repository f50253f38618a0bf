package realftpd

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// TestMaxConns: with Options.MaxConns 2, the connection beyond two is
// greeted with the server's refusal and closed.
func TestMaxConns(t *testing.T) {
	tests := []struct {
		kind  Kind
		held  int // connections of the test's own that fit
		greet string
	}{
		{Vsftpd, 2, "421 "},
		{PureFTPd, 2, "421 "},
		{ProFTPD, 1, "530 "}, // Start's connection is the second
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			s := Start(t, tt.kind, Options{MaxConns: 2})
			greeting := func() string {
				t.Helper()
				c, err := net.Dial("tcp", s.Addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				c.SetDeadline(time.Now().Add(5 * time.Second))
				l, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					t.Fatalf("greeting: %v", err)
				}
				return l
			}
			for i := range tt.held {
				if g := greeting(); !strings.HasPrefix(g, "220") {
					t.Fatalf("connection %d greeted %q, want 220", i+1, g)
				}
			}
			if g := greeting(); !strings.HasPrefix(g, tt.greet) {
				t.Errorf("connection beyond the limit greeted %q, want %q…", g, tt.greet)
			}
		})
	}
}
