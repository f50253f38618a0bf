package ftpcore

import (
	"bufio"
	"strings"
	"testing"
)

// BenchmarkReadReply measures the reply reader on the replies the hot path
// reads: one-line replies (SIZE, REST, RETR's 150 and 226) and a FEAT-size
// multi-line one.
func BenchmarkReadReply(b *testing.B) {
	for _, bb := range []struct{ name, raw string }{
		{"single", "213 1073741824\r\n"},
		{"transfer", "150 Opening BINARY mode data connection for big.bin (1073741824 bytes).\r\n"},
		{"multiline", "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			sr := strings.NewReader("")
			br := bufio.NewReaderSize(sr, DefaultMaxReplyLine)
			b.SetBytes(int64(len(bb.raw)))
			b.ReportAllocs()
			for b.Loop() {
				sr.Reset(bb.raw)
				br.Reset(sr)
				if _, err := readReply(br, DefaultMaxReplySize); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
