package api_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/ftpgw/ftpgw/api"
	"github.com/ftpgw/ftpgw/internal/realftpd"
)

// BenchmarkRangeGETLinks is a warm 64 KiB range GET through the gateway on
// vsftpd, the hot path, under each link policy: follow costs what the
// gateway cost before there were policies; inside adds its CWD, PWD and
// STAT to the write that carries SIZE and MDTM.
//
//	FTPGW_REQUIRE_REAL_SERVERS=1 go test -run '^$' -bench RangeGETLinks -count 5 ./api/
func BenchmarkRangeGETLinks(b *testing.B) {
	for _, policy := range []api.LinkPolicy{api.LinksFollow, api.LinksInside, api.LinksRefuse} {
		b.Run(policy.String(), func(b *testing.B) {
			g := startGatewayOn(b, realftpd.Vsftpd, gatewayOptions{links: policy})
			g.ftpd.WriteFile(b, "d/r.bin", randomBytes(1<<20, 9))
			req, err := http.NewRequest(http.MethodGet, g.url("/files/d/r.bin"), nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Range", "bytes=65536-131071")
			client := g.http.Client()
			get := func() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusPartialContent || n != 65536 {
					b.Fatalf("GET: %d, %d bytes, %v", resp.StatusCode, n, err)
				}
			}
			get() // a session logged in, a connection open: warm
			b.SetBytes(65536)
			for b.Loop() {
				get()
			}
		})
	}
}
