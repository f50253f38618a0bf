package ftpcore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Size returns the size of path in bytes (SIZE, RFC 3659 §4). The Conn is
// in binary mode, so the size is the number of bytes RETR will send.
func (c *Conn) Size(ctx context.Context, path string) (int64, error) {
	rep, err := c.expect(ctx, "SIZE", path, StatusFileStatus)
	if err != nil {
		return 0, err
	}
	return sizeOf(rep)
}

// sizeOf reads the size from a 213 reply to SIZE.
func sizeOf(rep *Reply) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(rep.Lines[0]), 10, 64)
	if err != nil || n < 0 {
		return 0, &ProtocolError{Cmd: "SIZE", Msg: fmt.Sprintf("malformed 213 reply %q", rep.Lines[0])}
	}
	return n, nil
}

// ModTime returns the modification time of path in UTC (MDTM, RFC 3659 §3).
func (c *Conn) ModTime(ctx context.Context, path string) (time.Time, error) {
	rep, err := c.expect(ctx, "MDTM", path, StatusFileStatus)
	if err != nil {
		return time.Time{}, err
	}
	return modTimeOf(rep)
}

// modTimeOf reads the time from a 213 reply to MDTM.
func modTimeOf(rep *Reply) (time.Time, error) {
	t, err := ParseTime(strings.TrimSpace(rep.Lines[0]))
	if err != nil {
		return time.Time{}, &ProtocolError{Cmd: "MDTM", Msg: err.Error()}
	}
	return t, nil
}

// ParseTime parses an RFC 3659 time-val: YYYYMMDDHHMMSS with an optional
// fraction of a second, always UTC.
func ParseTime(s string) (time.Time, error) {
	if len(s) < 14 {
		return time.Time{}, fmt.Errorf("malformed time-val %q", s)
	}
	for i := 0; i < 14; i++ {
		if !isDigit(s[i]) {
			return time.Time{}, fmt.Errorf("malformed time-val %q", s)
		}
	}
	num := func(i, j int) int { n, _ := strconv.Atoi(s[i:j]); return n }
	var nsec int
	if len(s) > 14 {
		frac := s[15:]
		if s[14] != '.' || len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, fmt.Errorf("malformed time-val %q", s)
		}
		for i := 0; i < len(frac); i++ {
			if !isDigit(frac[i]) {
				return time.Time{}, fmt.Errorf("malformed time-val %q", s)
			}
		}
		nsec, _ = strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
	}
	year, month, day := num(0, 4), num(4, 6), num(6, 8)
	hour, min, sec := num(8, 10), num(10, 12), num(12, 14)
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60 {
		return time.Time{}, fmt.Errorf("time-val out of range %q", s)
	}
	// The date is checked on its own: a leap second (SS = 60, RFC 3659
	// §2.3) rolls over into the next minute, which may well be in the next
	// day, while Feb 30 must not roll over into March.
	date := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if date.Day() != day {
		return time.Time{}, fmt.Errorf("time-val out of range %q", s)
	}
	return date.Add(time.Duration(hour)*time.Hour + time.Duration(min)*time.Minute +
		time.Duration(sec)*time.Second + time.Duration(nsec)), nil
}

// Stat describes path, following a symbolic link as RETR and CWD do. With
// MLST (RFC 3659 §7) it is one command (more for a link); without, it is
// SIZE and MDTM for a file, and a CWD there and back to tell a directory
// from a missing path. A missing path is the server's *Error (550 as a
// rule).
func (c *Conn) Stat(ctx context.Context, path string) (Entry, error) {
	if c.HasFeature("MLST") {
		e, size, err := c.mlst(ctx, path)
		if err != nil {
			return Entry{}, err
		}
		switch e.Type {
		case EntryFile:
			// The bytes RETR sends are what SIZE says (RFC 3659 §4).
			// proftpd's MLST of a symbolic link says type=file with the
			// link's own size and time: where SIZE differs, the time
			// is MDTM's, which follows the link as RETR does (a round
			// trip that regular files do not pay).
			if size >= 0 && e.Size >= 0 && size != e.Size {
				mod, err := c.ModTime(ctx, path)
				if err != nil && ReplyCode(err) == 0 {
					return Entry{}, err
				}
				e.ModTime = mod
			}
			if size >= 0 {
				e.Size = size
			}
		case EntryLink:
			// MLST describes the link itself, but RETR and CWD follow
			// it: so does Stat, like stat(2). A dangling link stays a
			// link.
			target, err := c.statBySize(ctx, path)
			if ReplyCode(err) == StatusFileUnavailable {
				return e, nil
			}
			return target, err
		}
		return e, nil
	}
	return c.statBySize(ctx, path)
}

// statBySize describes path without MLST: SIZE and MDTM for a file, and a
// CWD there and back to tell a directory from a missing path.
func (c *Conn) statBySize(ctx context.Context, path string) (Entry, error) {
	// SIZE and MDTM of one path: pipelined, one round trip.
	var sizeRep, mdtmRep *Reply
	var err error
	if c.pipelining() {
		sizeRep, mdtmRep, err = c.exchangePair(ctx, "SIZE", path, "MDTM", path)
	} else if sizeRep, err = c.roundTrip(ctx, "SIZE", path); err == nil && sizeRep.Code == StatusFileStatus {
		mdtmRep, err = c.roundTrip(ctx, "MDTM", path)
	}
	if err != nil {
		return Entry{}, err
	}
	if sizeRep.Code == StatusFileStatus {
		return fileEntry(path, sizeRep, mdtmRep)
	}
	err = unexpected("SIZE", sizeRep)
	// SIZE refuses directories; so does it missing files. CWD tells them
	// apart. The working directory is put back at once so the pooled
	// session's state stays what the next user expects.
	sizeErr := err
	rep, err := c.roundTrip(ctx, "CWD", path)
	if err != nil {
		return Entry{}, err
	}
	if rep.Class() != 2 {
		return Entry{}, sizeErr
	}
	if _, err := c.expect(ctx, "CWD", c.dir, StatusRequestedFileOK, StatusCommandOK); err != nil {
		// The session now stands in the wrong directory: give it up.
		c.poison(err)
		return Entry{}, err
	}
	if mdtmRep == nil { // not pipelined: not asked yet
		mdtmRep, _ = c.roundTrip(ctx, "MDTM", path)
	}
	return dirEntry(path, mdtmRep), nil
}

// fileEntry is the file at path as a 213 reply to SIZE and the reply to
// MDTM describe it.
func fileEntry(path string, sizeRep, mdtmRep *Reply) (Entry, error) {
	size, err := sizeOf(sizeRep)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Name: baseName(path), Type: EntryFile, Size: size}
	if mdtmRep.Code == StatusFileStatus {
		if e.ModTime, err = modTimeOf(mdtmRep); err != nil {
			return Entry{}, err
		}
	}
	return e, nil
}

// dirEntry is the directory at path, with the time of the reply to MDTM
// (nil if none) where the server gives one. A malformed time is left out:
// RFC 3659 defines MDTM for files only.
func dirEntry(path string, mdtmRep *Reply) Entry {
	e := Entry{Name: baseName(path), Type: EntryDir, Size: -1}
	if mdtmRep != nil && mdtmRep.Code == StatusFileStatus {
		if mod, err := modTimeOf(mdtmRep); err == nil {
			e.ModTime = mod
		}
	}
	return e
}

// mlst sends MLST, and SIZE with it in one write when the server has SIZE
// and pipelining is on; size is what SIZE said, or -1.
func (c *Conn) mlst(ctx context.Context, path string) (e Entry, size int64, err error) {
	size = -1
	var rep *Reply
	if c.pipelining() && c.HasFeature("SIZE") {
		var sizeRep *Reply
		rep, sizeRep, err = c.exchangePair(ctx, "MLST", path, "SIZE", path)
		if err != nil {
			return Entry{}, -1, err
		}
		if sizeRep.Code == StatusFileStatus {
			if n, err := sizeOf(sizeRep); err == nil {
				size = n
			}
		}
		if rep.Code != StatusRequestedFileOK {
			return Entry{}, -1, unexpected("MLST", rep)
		}
	} else if rep, err = c.expect(ctx, "MLST", path, StatusRequestedFileOK); err != nil {
		return Entry{}, -1, err
	}
	e, err = mlstEntry(rep)
	if err != nil {
		return Entry{}, -1, err
	}
	if size < 0 && e.Type == EntryFile && c.HasFeature("SIZE") && !c.pipelining() {
		// Not asked together with MLST: ask now.
		sizeRep, err := c.roundTrip(ctx, "SIZE", path)
		if err != nil {
			return Entry{}, -1, err
		}
		if sizeRep.Code == StatusFileStatus {
			if n, err := sizeOf(sizeRep); err == nil {
				size = n
			}
		}
	}
	return e, size, nil
}

// mlstEntry reads the entry from a 250 reply to MLST: "250-Listing path",
// " facts; path", "250 End". The fact line starts with a single space (RFC
// 3659 §7.2).
func mlstEntry(rep *Reply) (Entry, error) {
	for _, l := range rep.Lines[1:] {
		if strings.HasPrefix(l, " ") {
			e, err := ParseMLSxLine(l[1:])
			if err != nil {
				return Entry{}, &ProtocolError{Cmd: "MLST", Msg: err.Error()}
			}
			e.Name = baseName(e.Name)
			return e, nil
		}
	}
	return Entry{}, &ProtocolError{Cmd: "MLST", Msg: "250 reply without a fact line"}
}

// Delete removes the file path (DELE).
func (c *Conn) Delete(ctx context.Context, path string) error {
	_, err := c.expect(ctx, "DELE", path, StatusRequestedFileOK, StatusCommandOK)
	return err
}

// Mkdir creates the directory path (MKD).
func (c *Conn) Mkdir(ctx context.Context, path string) error {
	_, err := c.expect(ctx, "MKD", path, StatusPathCreated, StatusRequestedFileOK)
	return err
}

// Rmdir removes the directory path (RMD).
func (c *Conn) Rmdir(ctx context.Context, path string) error {
	_, err := c.expect(ctx, "RMD", path, StatusRequestedFileOK, StatusCommandOK)
	return err
}

// Rename renames from to to (RNFR then RNTO). Whether an existing to is
// replaced is up to the server; the Unix servers do, atomically.
func (c *Conn) Rename(ctx context.Context, from, to string) error {
	if err := checkArg("RNTO", to); err != nil {
		return fmt.Errorf("ftpcore: RNTO: %w", err)
	}
	if _, err := c.expect(ctx, "RNFR", from, StatusRequestFilePending); err != nil {
		return err
	}
	_, err := c.expect(ctx, "RNTO", to, StatusRequestedFileOK, StatusCommandOK)
	return err
}

// Cwd changes the working directory (CWD). The pool expects a session in
// its login directory; callers that change it must change it back.
func (c *Conn) Cwd(ctx context.Context, path string) error {
	_, err := c.expect(ctx, "CWD", path, StatusRequestedFileOK, StatusCommandOK)
	return err
}

func baseName(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Facts is what SIZE and MDTM said of one path.
type Facts struct {
	Size    int64     // bytes; -1 where SIZE was refused (a directory, a path gone)
	ModTime time.Time // UTC; zero where MDTM was refused
}

// Describe sends SIZE and MDTM of each of paths, all in one write where
// pipelining is on (one round trip, however many), and returns what the
// server said of each, following symbolic links as RETR does. A refusal
// leaves that fact unknown; a malformed 213 reply is a *ProtocolError.
// The caller bounds len(paths): every path costs two commands.
func (c *Conn) Describe(ctx context.Context, paths []string) ([]Facts, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	cmds := make([]cmd, 0, 2*len(paths))
	for _, p := range paths {
		cmds = append(cmds, cmd{"SIZE", p}, cmd{"MDTM", p})
	}
	reps, err := c.exchangeAll(ctx, cmds, nil)
	if err != nil {
		return nil, err
	}
	facts := make([]Facts, len(paths))
	for i := range paths {
		f := Facts{Size: -1}
		if rep := reps[2*i]; rep.Code == StatusFileStatus {
			if f.Size, err = sizeOf(rep); err != nil {
				return nil, err
			}
		}
		if rep := reps[2*i+1]; rep.Code == StatusFileStatus {
			if f.ModTime, err = modTimeOf(rep); err != nil {
				return nil, err
			}
		}
		facts[i] = f
	}
	return facts, nil
}
