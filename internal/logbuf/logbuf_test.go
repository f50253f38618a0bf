package logbuf

import (
	"fmt"
	"sync"
	"testing"
)

// TestBuffer: concurrent writes all arrive, and ListeningAddr finds the
// address of the "listening" line among other lines, "" before it.
func TestBuffer(t *testing.T) {
	var b Buffer
	if got := b.ListeningAddr(); got != "" {
		t.Fatalf("ListeningAddr of nothing = %q", got)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { fmt.Fprintf(&b, "{\"msg\":\"line\",\"n\":%d}\n", i) })
	}
	wg.Wait()
	b.Write([]byte("not json\n{\"msg\":\"listening\",\"addr\":\"127.0.0.1:8080\"}\n"))
	if got := b.ListeningAddr(); got != "127.0.0.1:8080" {
		t.Fatalf("ListeningAddr = %q", got)
	}
	if n := len(b.String()); n < 8*len(`{"msg":"line","n":0}`) {
		t.Fatalf("%d bytes: writes lost", n)
	}
}
