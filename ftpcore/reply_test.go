package ftpcore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		bufSize   int // bufio size; 0 means DefaultMaxReplyLine
		maxSize   int // 0 means DefaultMaxReplySize
		wantCode  int
		wantLines []string
		// wantNext, when set, is the code of a second reply that must
		// follow, proving the first did not read past its end.
		wantNext int
	}{
		{
			name:      "single line",
			in:        "220 Service ready for new user.\r\n",
			wantCode:  220,
			wantLines: []string{"Service ready for new user."},
		},
		{
			// RFC 959 §4.2's own example, plus middle lines that start with
			// another code, or with this code and a hyphen: none ends it.
			name: "multi-line RFC 959",
			in: "123-First line\r\n" +
				"Second line\r\n" +
				"  234 A line beginning with numbers\r\n" +
				"234 not the end, another code\r\n" +
				"123-not the end, a hyphen\r\n" +
				"1234 not the end, four digits\r\n" +
				"123 The last line\r\n" +
				"200 next\r\n",
			wantCode: 123,
			wantLines: []string{
				"First line",
				"Second line",
				"  234 A line beginning with numbers",
				"234 not the end, another code",
				"123-not the end, a hyphen",
				"1234 not the end, four digits",
				"The last line",
			},
			wantNext: 200,
		},
		{
			name:      "FEAT as vsftpd sends it",
			in:        "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n",
			wantCode:  211,
			wantLines: []string{"Features:", " EPRT", " EPSV", " MDTM", " PASV", " REST STREAM", " SIZE", " TVFS", "End"},
		},
		{
			name:      "bare code",
			in:        "200\r\n331 next\r\n",
			wantCode:  200,
			wantLines: []string{""},
			wantNext:  331,
		},
		{
			name:      "code and space, no text",
			in:        "200 \r\n",
			wantCode:  200,
			wantLines: []string{""},
		},
		{
			name:      "multi-line ended by a bare code",
			in:        "211-Features:\r\n UTF8\r\n211\r\n",
			wantCode:  211,
			wantLines: []string{"Features:", " UTF8", ""},
		},
		{
			name:      "bare LF single line",
			in:        "230 Login successful.\n",
			wantCode:  230,
			wantLines: []string{"Login successful."},
		},
		{
			name:      "bare LF multi-line",
			in:        "250-Listing /a\n type=file;size=1; /a\n250 End\n226 next\n",
			wantCode:  250,
			wantLines: []string{"Listing /a", " type=file;size=1; /a", "End"},
			wantNext:  226,
		},
		{
			name:      "CR inside the text is kept",
			in:        "200 a\rb\r\n",
			wantCode:  200,
			wantLines: []string{"a\rb"},
		},
		{
			name:      "line exactly filling the buffer",
			in:        "200 " + strings.Repeat("x", 60-len("200 ")-2) + "\r\n",
			bufSize:   60,
			wantCode:  200,
			wantLines: []string{strings.Repeat("x", 60-len("200 ")-2)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := newReader(tt.in, tt.bufSize)
			rep, err := readReply(br, orDefault(tt.maxSize, DefaultMaxReplySize))
			if err != nil {
				t.Fatalf("readReply: %v", err)
			}
			if rep.Code != tt.wantCode || !slices.Equal(rep.Lines, tt.wantLines) {
				t.Fatalf("readReply = %d %q, want %d %q", rep.Code, rep.Lines, tt.wantCode, tt.wantLines)
			}
			if rep.Msg() != strings.Join(tt.wantLines, "\n") {
				t.Errorf("Msg() = %q", rep.Msg())
			}
			if rep.Class() != tt.wantCode/100 {
				t.Errorf("Class() = %d", rep.Class())
			}
			if tt.wantNext != 0 {
				next, err := readReply(br, DefaultMaxReplySize)
				if err != nil || next.Code != tt.wantNext {
					t.Fatalf("next reply = %v, %v; want code %d", next, err, tt.wantNext)
				}
			}
		})
	}
}

func TestReadReplyErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		bufSize int
		maxSize int
		// wantProto: a *ProtocolError; otherwise an EOF.
		wantProto bool
	}{
		{name: "garbage", in: "garbage\r\n", wantProto: true},
		{name: "empty line", in: "\r\n", wantProto: true},
		{name: "two digits", in: "20\r\n", wantProto: true},
		{name: "four digits", in: "2000 ok\r\n", wantProto: true},
		{name: "letter after code", in: "200x ok\r\n", wantProto: true},
		{name: "leading space", in: " 200 ok\r\n", wantProto: true},
		{name: "code 0xx", in: "099 ok\r\n", wantProto: true},
		{name: "code 6xx", in: "600 ok\r\n", wantProto: true},
		{name: "non-digit in code", in: "2a0 ok\r\n", wantProto: true},
		{name: "tab separator", in: "200\tok\r\n", wantProto: true},
		{
			name:      "first line longer than the buffer",
			in:        "200 " + strings.Repeat("x", 100) + "\r\n",
			bufSize:   64,
			wantProto: true,
		},
		{
			name:      "middle line longer than the buffer",
			in:        "211-Features:\r\n " + strings.Repeat("x", 100) + "\r\n211 End\r\n",
			bufSize:   64,
			wantProto: true,
		},
		{
			name:      "multi-line reply over maxSize",
			in:        "211-Features:\r\n" + strings.Repeat(" FEATURE\r\n", 20) + "211 End\r\n",
			maxSize:   100,
			wantProto: true,
		},
		{
			name:      "multi-line reply over the line count",
			in:        "211-x\r\n" + strings.Repeat("\r\n", maxReplyLines+1) + "211 End\r\n",
			maxSize:   1 << 30,
			wantProto: true,
		},
		{name: "no input", in: ""},
		{name: "EOF mid-line", in: "220 Rea"},
		{name: "EOF after the code", in: "220"},
		{name: "EOF mid-reply", in: "211-Features:\r\n EPSV\r\n"},
		{name: "EOF in the last line", in: "211-Features:\r\n EPSV\r\n211 En"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := readReply(newReader(tt.in, tt.bufSize), orDefault(tt.maxSize, DefaultMaxReplySize))
			if err == nil {
				t.Fatalf("readReply = %d %q, want an error", rep.Code, rep.Lines)
			}
			var pe *ProtocolError
			if got := errors.As(err, &pe); got != tt.wantProto {
				t.Fatalf("readReply error %v (%T): ProtocolError = %v, want %v", err, err, got, tt.wantProto)
			}
			if !tt.wantProto && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("readReply error %v, want EOF", err)
			}
			if !tt.wantProto && !IsConnLost(err) {
				t.Errorf("IsConnLost(%v) = false, want true", err)
			}
		})
	}
}

// TestReadReplyKeep: of a multi-line reply only the lines keep accepts
// are kept, and the caps apply to those and to the whole apart.
func TestReadReplyKeep(t *testing.T) {
	keepX := func(l []byte) bool { return strings.Contains(string(l), "x") }
	listing := "213-Status follows:\r\n" + strings.Repeat("-rw-r--r-- 1 0 0 6 Nov 24 04:12 other\r\n", 100) +
		"lrwxrwxrwx 1 0 0 6 Nov 24 04:12 x -> y\r\n213 End of status\r\n"
	tests := []struct {
		name      string
		in        string
		maxSize   int
		maxTotal  int64
		keep      func([]byte) bool
		wantLines []string
		wantProto bool
	}{
		{
			name:      "only the kept lines",
			in:        listing,
			maxSize:   200,
			maxTotal:  1 << 20,
			keep:      keepX,
			wantLines: []string{"Status follows:", "lrwxrwxrwx 1 0 0 6 Nov 24 04:12 x -> y", "End of status"},
		},
		{
			name:      "the whole over maxTotal",
			in:        listing,
			maxSize:   200,
			maxTotal:  1000,
			keep:      keepX,
			wantProto: true,
		},
		{
			name:      "the kept lines over maxSize",
			in:        listing,
			maxSize:   200,
			maxTotal:  1 << 20,
			keep:      func([]byte) bool { return true },
			wantProto: true,
		},
		{
			name:      "a single-line reply",
			in:        "450 nothere: No such file or directory\r\n",
			maxSize:   200,
			maxTotal:  1000,
			keep:      keepX,
			wantLines: []string{"nothere: No such file or directory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := readReplyKeep(newReader(tt.in, 0), tt.maxSize, tt.maxTotal, tt.keep)
			var pe *ProtocolError
			if tt.wantProto {
				if !errors.As(err, &pe) {
					t.Fatalf("readReplyKeep = %v, %v; want a ProtocolError", rep, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rep.Lines, tt.wantLines) {
				t.Errorf("Lines = %q, want %q", rep.Lines, tt.wantLines)
			}
		})
	}
}

func TestProtocolErrorText(t *testing.T) {
	_, err := readReply(newReader(strings.Repeat("g", 200)+"\r\n", 0), DefaultMaxReplySize)
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *ProtocolError", err)
	}
	// The offending line is quoted, but cut short: a hostile server must
	// not be able to fill logs through our error text.
	if len(pe.Msg) > 120 || !strings.Contains(pe.Msg, "...") {
		t.Errorf("Msg = %q, want a truncated quote", pe.Msg)
	}
	if got := pe.Error(); !strings.HasPrefix(got, "ftp: protocol error: ") {
		t.Errorf("Error() = %q", got)
	}
	pe.Cmd = "NOOP"
	if got := pe.Error(); !strings.HasPrefix(got, "ftp: NOOP: protocol error: ") {
		t.Errorf("Error() = %q", got)
	}
}

func TestParseQuotedPath(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{`"/home/x" is the current directory`, "/home/x", true},
		{`"/" is current directory.`, "/", true},
		{`"/a ""b"" c" created`, `/a "b" c`, true},
		{`MKD ok, "/x" created`, "/x", true},
		{`""`, "", true},
		{`""""`, `"`, true},
		{`"/a"" b"`, `/a" b`, true},
		{`"/with space/é"`, "/with space/é", true},
		{`"/a" and "/b"`, "/a", true},
		{`no quotes at all`, "", false},
		{`"unterminated`, "", false},
		{`"/a""`, "", false}, // the last quote is half of a doubled pair
		{``, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseQuotedPath(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseQuotedPath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCheckArg(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
	}{
		{"", nil},
		{"/a/b.txt", nil},
		{"name with spaces", nil},
		{"tab\there", nil},
		{"ünïcödé/文件", nil},
		{"\xff\xfe", nil}, // not UTF-8, but not a line break either
		{"a\rb", ErrBadArgument},
		{"a\nb", ErrBadArgument},
		{"a\x00b", ErrBadArgument},
		{"a\r\nDELE victim", ErrBadArgument},
		{"\n", ErrBadArgument},
		{"trailing\r", ErrBadArgument},
		// "STOR " and CRLF around it: 4096 bytes, the most vsftpd reads.
		{strings.Repeat("a", 4089), nil},
		{strings.Repeat("a", 4090), ErrLineTooLong},
		{strings.Repeat("a", 4090) + "\n", ErrBadArgument},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.in), func(t *testing.T) {
			if err := checkArg("STOR", tt.in); err != tt.wantErr {
				t.Fatalf("checkArg(STOR, %.20q (%d bytes)) = %v, want %v", tt.in, len(tt.in), err, tt.wantErr)
			}
		})
	}
}

func newReader(s string, size int) *bufio.Reader {
	return bufio.NewReaderSize(strings.NewReader(s), orDefault(size, DefaultMaxReplyLine))
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
