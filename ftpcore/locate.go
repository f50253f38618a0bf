package ftpcore

import (
	"bytes"
	"context"
	pathpkg "path"
	"strings"
	"time"
)

// Where a path really is, by the server's own account. FTP has no command
// that resolves a path, but the Unix servers tell it in two ways:
//
//   - A directory: after CWD there, PWD reports the working directory as
//     getcwd(3) gives it, every symbolic link on the way resolved.
//   - A symbolic link that is not a directory: STAT of its path (RFC 959
//     §4.1.3) answers with its "ls -l" line, "lrwxrwxrwx … name -> target".
//
// What each server of the test matrix said (internal/realftpd, a tree with
// links made on disk; Debian 12 builds; locate_real_test.go checks it):
//
//	                         vsftpd 3.0.3        pure-ftpd 1.0.50      proftpd 1.3.8
//	PWD after CWD link→dir   resolved path       resolved path         resolved path
//	STAT of a link to a file "l… rel -> in.txt"  "l… /pub/rel -> in.txt" " l… /r/pub/rel -> in.txt"
//	  name printed as        base name           the argument          the argument
//	  link in the working    left out (an empty  its line              its line
//	  directory              213), also by glob
//	STAT of a dangling link  its line            213, no line          450
//	STAT of a directory      its content         its content           its content (212)
//	STAT -d of a directory   its content         the directory's line  its content
//	STAT, name with a space  works               splits at the space;  works
//	                                             "\ " escapes it
//	STAT, name with {a,b}    brace glob, finds   works                 works
//	                         nothing
//	STAT, name with [1]      works               glob; "\[" escapes   works
//	MLST of a link           (no MLST)           type=OS.unix=slink:   type=file or dir (the
//	                                             (no target)           target's), link's size
//	MLSD of a link           (LIST: l… -> t)     type=OS.unix=slink:   type=OS.unix=symlink
//	SIZE, MDTM, RETR, CWD    follow links        follow links          follow links
//	DELE of a link           removes the link    removes the link      removes the link
//	RMD of a link to a dir   550                 550 Not a directory   550 Not a directory
//
// pure-ftpd chroots the test user: an absolute target ("/etc") resolves
// inside the chroot, where it is missing (a dangling link); "../x" climbs
// no higher than the chroot's top.
//
// Locate asks both questions in the write that carries Stat's own
// commands, so that telling where a path is costs no round trip of its
// own.

// Location is what Locate learns of a path.
type Location struct {
	// Entry describes the path as Stat does: a symbolic link followed.
	Entry Entry
	// Self describes the path itself, a symbolic link not followed: Type
	// EntryLink for a link, with Target when the server names it. It
	// comes from MLST where that marks links (pure-ftpd; then also without
	// lstat, and a link's Target from STAT only with lstat), otherwise
	// from STAT's "ls -l" line. SelfKnown is false when Locate was not
	// asked for it, or the server gave no line naming the path.
	Self      Entry
	SelfKnown bool
	// SelfErr is why Self is not known when the server refused STAT (its
	// *Error: 500 or 502 from a server without STAT of a path, 450 from
	// proftpd for a link to nothing); nil when it was not asked, or
	// answered without a line for the path.
	SelfErr error
	// Real is where the path is, when the server takes it for a directory
	// (it entered it): the working directory PWD reported there. "" when
	// the path is no directory, or one the server would not enter.
	Real string
	// Parent is where the path's parent directory is, as Real; "" when the
	// server would not enter it (missing, not a directory, no permission).
	Parent string
	// Dirs holds where each of the directories Locate was given is, as
	// Real, in order.
	Dirs []string
}

// Locate describes path as Stat does, and says where the server puts it:
// for path's parent directory, for path itself when it is a directory, and
// for each of dirs, the working directory that PWD reports after a CWD
// there (on vsftpd, pure-ftpd and proftpd the physical path, every symbolic
// link on the way resolved; servers that report the logical path instead
// make Real, Parent and Dirs no better than the paths asked). With lstat
// it also describes path itself, a link not followed (Location.Self), from
// STAT; leave lstat false where path is likely a directory, whose STAT
// lists its content.
//
// With pipelining on, everything goes out in one write, the CWD back to
// the login directory last, and the replies are read in order: one round
// trip however many directories are asked. Where STAT of path gives no
// line for it (vsftpd leaves out a link in the working directory, which
// Locate avoids by leaving the parent first unless that is "/"; a name
// with braces), a second round trip lists the parent directory, from
// inside it. The session ends where it began; if the CWD back fails, the
// Conn is poisoned.
//
// A path Stat would not find returns the *Error Stat would (550 as a rule)
// with the Location filled in as far as the server told, Parent and Dirs
// included, so that a caller about to create path can check where it
// would go. Any other error returns a zero Location.
func (c *Conn) Locate(ctx context.Context, path string, lstat bool, dirs ...string) (Location, error) {
	pl := c.planLocate(path, lstat, dirs)
	reps, err := c.exchangeAll(ctx, pl.cmds, pl.keep)
	if err != nil {
		return Location{}, err
	}
	loc, err, list := pl.read(c, reps)
	if list {
		return c.listSelf(ctx, pl, loc, err)
	}
	return loc, err
}

// locatePlan is the one write of a Locate and where its replies are.
type locatePlan struct {
	path, base    string
	lstat, mlst   bool
	dirs, args    []string
	cmds          []cmd
	cwdAt, statAt int
	keep          func([]byte) bool
}

// planLocate lays out Locate's commands.
func (c *Conn) planLocate(path string, lstat bool, dirs []string) *locatePlan {
	pl := &locatePlan{path: path, base: baseName(path), lstat: lstat, mlst: c.HasFeature("MLST"), dirs: dirs}
	parent := pathpkg.Dir(path)
	cmds := make([]cmd, 0, 15+2*len(dirs))
	if pl.mlst {
		cmds = append(cmds, cmd{"MLST", path})
	}
	// SIZE also for MLST servers: the bytes RETR sends are what SIZE says,
	// and a link's MLST does not say them.
	cmds = append(cmds, cmd{"SIZE", path}, cmd{"MDTM", path})
	pl.cwdAt = len(cmds)
	cmds = append(cmds, cmd{"CWD", parent}, cmd{"PWD", ""}, cmd{"CWD", path}, cmd{"PWD", ""})
	for _, d := range dirs {
		cmds = append(cmds, cmd{"CWD", d}, cmd{"PWD", ""})
	}
	if lstat && parent != "/" && (len(dirs) == 0 || dirs[len(dirs)-1] == parent) {
		// Out of the parent, where the CWDs before may have left the
		// session: vsftpd's STAT leaves out a link in the working
		// directory. After a CWD to another directory there is no need.
		cmds = append(cmds, cmd{"CWD", pathpkg.Dir(parent)})
	}
	pl.statAt = len(cmds)
	if lstat {
		pl.args = statArgs(path)
		for _, arg := range pl.args {
			cmds = append(cmds, cmd{"STAT", arg})
		}
	}
	pl.cmds = append(cmds, cmd{"CWD", c.dir})
	name := []byte(pl.base)
	pl.keep = func(line []byte) bool {
		// Only a line naming path can describe it: the rest of a
		// directory's listing, or of a glob's matches, is dropped.
		return bytes.Contains(line, name)
	}
	return pl
}

// read makes the Location of the replies to pl's commands. list reports
// that STAT did not describe the path, so that the parent's listing must
// be asked (listSelf) with loc and err as read so far.
func (pl *locatePlan) read(c *Conn, reps []*Reply) (loc Location, err error, list bool) {
	if err := c.checkBack(reps[len(reps)-1]); err != nil {
		return Location{}, err, false
	}
	path := pl.path
	loc.Parent = workingDir(reps[pl.cwdAt], reps[pl.cwdAt+1])
	loc.Real = workingDir(reps[pl.cwdAt+2], reps[pl.cwdAt+3])
	for i := range pl.dirs {
		at := pl.cwdAt + 4 + 2*i
		loc.Dirs = append(loc.Dirs, workingDir(reps[at], reps[at+1]))
	}
	for i, arg := range pl.args {
		// pure-ftpd and proftpd print the path as asked, vsftpd (without
		// MLST) the base name. A line with the base name alone is taken
		// when it cannot come from another directory: vsftpd lists only
		// the parent (the last segment alone is a glob), and an argument
		// with no space or glob character names one path to any server.
		// pure-ftpd splits "/a/x y" into "/a/x", which it lists if it is
		// a directory, and "y".
		rep := reps[pl.statAt+i]
		byBase := !pl.mlst || !strings.ContainsAny(arg, statSpecial)
		if e, ok := statLine(rep, path, pl.base, byBase); ok {
			loc.Self, loc.SelfKnown, loc.SelfErr = e, true, nil
			break
		}
		if rep.Class() != 2 && loc.SelfErr == nil {
			loc.SelfErr = unexpected("STAT", rep)
		}
	}
	if pl.mlst {
		var mlstSelf Entry
		loc.Entry, mlstSelf, err = locateMLST(path, reps[0], reps[1], reps[2], loc.Real != "")
		if mlstSelf.Type == EntryLink {
			// pure-ftpd's MLST describes the link itself, without its
			// target ("OS.unix=slink:"); STAT's line names the target.
			if loc.SelfKnown && loc.Self.Type == EntryLink {
				mlstSelf.Target = loc.Self.Target
			}
			loc.Self, loc.SelfKnown = mlstSelf, true
		}
	} else {
		loc.Entry, err = locateBySize(path, reps[0], reps[1], loc.Real != "")
	}
	if err != nil {
		loc.Entry = Entry{}
	}
	list = pl.lstat && err == nil && loc.Real == "" && loc.Parent != "" &&
		(!loc.SelfKnown || loc.Self.Type == EntryLink && loc.Self.Target == "")
	return loc, err, list
}

// listSelf completes loc, read with err, from the listing of the path's
// parent, a second round trip.
func (c *Conn) listSelf(ctx context.Context, pl *locatePlan, loc Location, err error) (Location, error) {
	self, ok, serr, lerr := c.listedSelf(ctx, pathpkg.Dir(pl.path), pl.base, pl.keep)
	if lerr != nil {
		return Location{}, lerr
	}
	switch {
	case ok:
		loc.Self, loc.SelfKnown, loc.SelfErr = self, true, nil
	case serr != nil:
		loc.SelfErr = serr
	}
	return loc, err
}

// listedSelf finds base in the listing STAT gives of the directory dir,
// from inside it ("STAT ."), so that neither a separator nor a glob in a
// name stands in the way: the answer for a name STAT of its path did not
// describe. statErr is the server's refusal of that STAT, if it refused.
func (c *Conn) listedSelf(ctx context.Context, dir, base string, keep func([]byte) bool) (e Entry, ok bool, statErr, err error) {
	reps, err := c.exchangeAll(ctx, []cmd{{"CWD", dir}, {"STAT", "."}, {"CWD", c.dir}}, keep)
	if err != nil {
		return Entry{}, false, nil, err
	}
	if err := c.checkBack(reps[2]); err != nil {
		return Entry{}, false, nil, err
	}
	switch {
	case reps[0].Class() != 2:
		return Entry{}, false, nil, nil
	case reps[1].Class() != 2:
		return Entry{}, false, unexpected("STAT", reps[1]), nil
	}
	e, ok = statLine(reps[1], "", base, true)
	return e, ok, nil, nil
}

// checkBack checks the reply to the CWD back to the login directory that
// ends a sequence: if it failed, the session stands in another directory
// and is given up.
func (c *Conn) checkBack(rep *Reply) error {
	if rep.Code == StatusRequestedFileOK || rep.Code == StatusCommandOK {
		return nil
	}
	err := unexpected("CWD", rep)
	c.poison(err)
	return err
}

// locateBySize is statBySize on the replies Locate read: SIZE and MDTM of
// path, and whether CWD entered it.
func locateBySize(path string, sizeRep, mdtmRep *Reply, isDir bool) (Entry, error) {
	switch {
	case sizeRep.Code == StatusFileStatus:
		return fileEntry(path, sizeRep, mdtmRep)
	case isDir:
		return dirEntry(path, mdtmRep), nil
	}
	return Entry{}, unexpected("SIZE", sizeRep)
}

// locateMLST is Stat's MLST branch on the replies Locate read. self is the
// entry MLST gave, before a link is followed.
func locateMLST(path string, mlstRep, sizeRep, mdtmRep *Reply, isDir bool) (e, self Entry, err error) {
	if mlstRep.Code != StatusRequestedFileOK {
		return Entry{}, Entry{}, unexpected("MLST", mlstRep)
	}
	if e, err = mlstEntry(mlstRep); err != nil {
		return Entry{}, Entry{}, err
	}
	self = e
	switch e.Type {
	case EntryFile:
		if sizeRep.Code == StatusFileStatus {
			if n, err := sizeOf(sizeRep); err == nil {
				if e.Size >= 0 && n != e.Size {
					// proftpd's MLST of a link: the link's own size
					// and time (Stat). MDTM's follows the link.
					e.ModTime = time.Time{}
					if mdtmRep.Code == StatusFileStatus {
						e.ModTime, _ = modTimeOf(mdtmRep)
					}
				}
				e.Size = n
			}
		}
	case EntryLink:
		// As Stat: what the link leads to, and a dangling link stays a
		// link.
		target, err := locateBySize(path, sizeRep, mdtmRep, isDir)
		if ReplyCode(err) == StatusFileUnavailable {
			return e, self, nil
		}
		return target, self, err
	}
	return e, self, nil
}

// statSpecial are the characters a server may take for a separator or a
// glob in STAT's argument.
const statSpecial = " *?[]{}\\"

// statArgs are the arguments STAT is sent with to describe path: path
// itself, and where it holds a space or a glob character, the spelling
// pure-ftpd needs, which splits STAT's argument at spaces and expands
// globs, with a backslash to escape either. The other servers find nothing
// under that spelling.
func statArgs(path string) []string {
	if !strings.ContainsAny(path, statSpecial) {
		return []string{path}
	}
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if strings.IndexByte(statSpecial, path[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(path[i])
	}
	return []string{path, b.String()}
}

// statLine finds the "ls -l" line that describes path in a reply to STAT,
// printed with path as it was asked (pure-ftpd, proftpd) or, if byBase,
// with its base name (vsftpd; any server listing a directory), and
// returns its entry, named base. The name is matched exactly, so that a
// link's " -> target" is cut where the name ends even when the name itself
// holds " -> ", and a glob's other matches do not count.
func statLine(rep *Reply, path, base string, byBase bool) (Entry, bool) {
	if rep.Class() != 2 || len(rep.Lines) < 3 {
		return Entry{}, false
	}
	names := [...]string{path, base}
	if !byBase {
		names[1] = path
	}
	now := time.Now()
	for _, l := range rep.Lines[1 : len(rep.Lines)-1] {
		e, ok, err := ParseListLine(l, now)
		if err != nil || !ok {
			continue
		}
		name := e.Name
		if e.Target != "" {
			name += " -> " + e.Target
		}
		for _, want := range names {
			if want == "" {
				continue
			}
			if name == want {
				e.Name, e.Target = base, ""
				return e, true
			}
			if target, ok := strings.CutPrefix(name, want+" -> "); ok && e.Type == EntryLink {
				e.Name, e.Target = base, target
				return e, true
			}
		}
	}
	return Entry{}, false
}

// workingDir is the directory PWD reported after a CWD that succeeded, or
// "" if the CWD failed or the PWD reply names no absolute path.
func workingDir(cwdRep, pwdRep *Reply) string {
	if cwdRep.Class() != 2 || pwdRep.Code != StatusPathCreated {
		return ""
	}
	dir, ok := parseQuotedPath(pwdRep.Lines[0])
	if !ok || !strings.HasPrefix(dir, "/") {
		return ""
	}
	return pathpkg.Clean(dir)
}
