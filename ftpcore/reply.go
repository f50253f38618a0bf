package ftpcore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Reply is one complete server reply (RFC 959 §4.2).
type Reply struct {
	Code int
	// Lines holds the reply text: for a single-line reply the text after the
	// code; for a multi-line reply the text after "ddd-" on the first line,
	// every middle line as sent, and the text after "ddd " on the last line.
	Lines []string
}

// Msg returns the reply text, lines joined by "\n".
func (r *Reply) Msg() string { return strings.Join(r.Lines, "\n") }

// Class returns the first digit of the code: 1 preliminary, 2 completion,
// 3 intermediate, 4 transient negative, 5 permanent negative.
func (r *Reply) Class() int { return r.Code / 100 }

// maxReplyLines caps the lines of one multi-line reply, beside
// Config.MaxReplySize.
const maxReplyLines = 4096

// readReply reads one reply from r. Lines longer than r.Size() and replies
// longer than maxSize are protocol errors. A line may end in CRLF or, as
// many servers send, a bare LF.
func readReply(r *bufio.Reader, maxSize int) (*Reply, error) {
	return readReplyKeep(r, maxSize, int64(maxSize), nil)
}

// readReplyKeep reads one reply as readReply does, except that of a
// multi-line reply only the middle lines keep accepts are kept (all of
// them when keep is nil), at most maxSize bytes of them, while the reply as
// a whole may run to maxTotal bytes. STAT of a directory lists it on the
// control connection, as long as a listing, of which a caller wants one
// line at most.
func readReplyKeep(r *bufio.Reader, maxSize int, maxTotal int64, keep func([]byte) bool) (*Reply, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	code, sep, text, err := parseReplyLine(line)
	if err != nil {
		return nil, err
	}
	rep := &Reply{Code: code, Lines: []string{text}}
	if sep != '-' {
		return rep, nil
	}
	total, kept := int64(len(line)), len(line)
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		end := isReplyEnd(line, code)
		total += int64(len(line))
		take := end || keep == nil || keep(line)
		if take {
			kept += len(line)
		}
		if total > maxTotal || kept > maxSize || len(rep.Lines) >= maxReplyLines {
			return nil, &ProtocolError{Msg: fmt.Sprintf("multi-line %d reply longer than %d bytes", code, max(int64(maxSize), maxTotal))}
		}
		switch {
		case end && len(line) > 4:
			rep.Lines = append(rep.Lines, string(line[4:]))
			return rep, nil
		case end:
			rep.Lines = append(rep.Lines, "")
			return rep, nil
		case take:
			rep.Lines = append(rep.Lines, string(line))
		}
	}
}

// readLine returns one line without its line ending. The slice is valid
// until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, &ProtocolError{Msg: fmt.Sprintf("reply line longer than %d bytes", r.Size())}
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// parseReplyLine splits the first line of a reply into code, separator
// (' ', '-' or 0 for a bare code) and text.
func parseReplyLine(line []byte) (code int, sep byte, text string, err error) {
	if len(line) < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) ||
		line[0] < '1' || line[0] > '5' {
		return 0, 0, "", &ProtocolError{Msg: fmt.Sprintf("malformed reply line %q", truncate(line, 64))}
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, 0, "", nil
	}
	switch line[3] {
	case ' ', '-':
		return code, line[3], string(line[4:]), nil
	}
	return 0, 0, "", &ProtocolError{Msg: fmt.Sprintf("malformed reply line %q", truncate(line, 64))}
}

// isReplyEnd reports whether line ends a multi-line reply with code: "ddd "
// followed by text, or the bare code.
func isReplyEnd(line []byte, code int) bool {
	if len(line) < 3 {
		return false
	}
	if int(line[0]-'0')*100+int(line[1]-'0')*10+int(line[2]-'0') != code ||
		!isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) {
		return false
	}
	return len(line) == 3 || line[3] == ' '
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(bytes.Clone(b[:n]), "..."...)
	}
	return b
}

// maxCommandLine is the longest command line sent, CRLF included: the
// most vsftpd takes (its VSFTP_MAX_COMMAND_LINE). A longer line fails on
// every server, and not as a reply: vsftpd answers "500 Input line too
// long." and closes the session, proftpd 1.3.8 drops a line of more than
// 4102 bytes without a word (the command timeout passes), pure-ftpd
// answers "421 Line too long" past some 4.1 KB and closes.
const maxCommandLine = 4096

// checkArg rejects arguments that would end the command line early or
// smuggle a second command onto the control connection (net/smtp's
// validateLine), and those that would make verb's command line longer
// than any server takes.
func checkArg(verb, arg string) error {
	if strings.ContainsAny(arg, "\r\n\x00") {
		return ErrBadArgument
	}
	if len(verb)+len(" ")+len(arg)+len("\r\n") > maxCommandLine {
		return ErrLineTooLong
	}
	return nil
}
