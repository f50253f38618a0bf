package api

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/ftpgw/ftpgw/ftpcore"
)

// LinkPolicy says which symbolic links on the FTP server the gateway
// follows. An FTP server follows every link it meets (RETR, CWD, STOR,
// LIST): a link inside the root to "/etc" would serve /etc/passwd from a
// server that does not chroot its users. The policy is applied to every
// method and to every segment of the path, before anything else is done
// with it.
type LinkPolicy int

const (
	// LinksInside, the zero value and the default, follows a link only
	// where it leads to a place inside the root: a directory whose real
	// path (PWD after CWD there) lies under the root's, or a file whose
	// directory does and which is no link, or a link whose target does in
	// turn (at most maxLinkHops links in a chain). Anything else is 404.
	// It costs one write of a few more commands beside the stat of every
	// request, and no round trip of its own on pure-ftpd (whose MLST marks
	// links); on servers whose MLST does not (vsftpd, proftpd) the STAT
	// that tells a link goes out in the same write.
	LinksInside LinkPolicy = iota
	// LinksFollow follows every link, as the FTP server does: what the
	// FTP account can read, the gateway serves. It costs nothing.
	LinksFollow
	// LinksRefuse follows no link: a path with a symbolic link in any
	// segment below the root is 404, and listings leave links out.
	LinksRefuse
)

// maxLinkHops is the longest chain of links LinksInside follows to a file.
// Each link costs a round trip; Linux itself gives up after 40.
const maxLinkHops = 8

var linkPolicyNames = [...]string{LinksInside: "inside", LinksFollow: "follow", LinksRefuse: "refuse"}

// String returns the policy's name, as ParseLinkPolicy reads it.
func (p LinkPolicy) String() string {
	if p >= 0 && int(p) < len(linkPolicyNames) {
		return linkPolicyNames[p]
	}
	return fmt.Sprintf("LinkPolicy(%d)", int(p))
}

// ParseLinkPolicy reads a policy's name: "inside", "follow" or "refuse".
func ParseLinkPolicy(s string) (LinkPolicy, error) {
	for p, name := range linkPolicyNames {
		if s == name {
			return LinkPolicy(p), nil
		}
	}
	return 0, fmt.Errorf("unknown link policy %q: inside, follow or refuse", s)
}

// located is what the link policy found out about a path.
type located struct {
	entry ftpcore.Entry // as Stat describes it, a link followed
	// link says the path's last segment is itself a symbolic link that
	// the policy follows. Only LinksInside looks; LinksFollow does not.
	link bool
}

// stat describes full as c.Stat does, under the link policy: a path the
// policy does not follow is a 404 problem. dirHint says the client asked
// for a directory: its STAT, which lists the directory, is not sent.
func (s *Server) stat(ctx context.Context, c *ftpcore.Conn, full string, dirHint bool) (ftpcore.Entry, error) {
	l, err := s.locate(ctx, c, full, dirHint)
	return l.entry, err
}

// locate is stat that also tells whether the path is itself a link.
//
// Nothing is cached: every request learns anew, in one write, where the
// root and the path are, so that a link swapped between two requests is
// judged as it is at the second. A link swapped between the check and the
// transfer that follows it on the same session is not seen: FTP has no
// command that opens a file without following links, so the check narrows
// that window to a round trip but cannot close it.
//
// The commands of that one write see the path one after another, and a
// PUT or DELETE of it by another client may come in between: the stat
// finds a file that STAT no longer lists, or CWD a directory that is gone.
// Such a view refuses the path as if a link led out; a refusal is
// therefore looked at again, up to locateTries times, before it stands.
func (s *Server) locate(ctx context.Context, c *ftpcore.Conn, full string, dirHint bool) (located, error) {
	return s.locateWith(ctx, &looker{c: c}, full, dirHint)
}

// locateWith is locate whose looks at the path are lk's.
func (s *Server) locateWith(ctx context.Context, lk *looker, full string, dirHint bool) (located, error) {
	for try := 1; ; try++ {
		l, err := s.locateOnce(ctx, lk, full, dirHint)
		if !errors.Is(err, errLinkRefused) || try == locateTries || !lk.c.Usable() {
			return l, err
		}
	}
}

// looker takes the looks of locate at a path. With spec set it starts
// the RETR spec describes in the same write as each look
// (ftpcore.LocateRetr), and keeps the last look's transfer, if the server
// started it, in tr: any other use of the session first drops it.
type looker struct {
	c    *ftpcore.Conn
	spec *retrSpec
	tr   *ftpcore.Transfer
}

// retrSpec is the part of a file a GET is expected to send, known before
// the file is looked at: from offset, length bytes (-1: to the end).
type retrSpec struct{ offset, length int64 }

// look is c.Locate, or with spec LocateRetr.
func (lk *looker) look(ctx context.Context, path string, lstat bool, dirs ...string) (ftpcore.Location, error) {
	if err := lk.drop(); err != nil {
		return ftpcore.Location{}, err
	}
	if lk.spec == nil || !lstat {
		return lk.c.Locate(ctx, path, lstat, dirs...)
	}
	loc, tr, err := lk.c.LocateRetr(ctx, path, dirs, lk.spec.offset, lk.spec.length)
	lk.tr = tr
	return loc, err
}

// take hands over the transfer the last look started if it is of length
// bytes at offset, capped at length; otherwise it drops it and returns
// nil. An error is the drop's that left the session unusable.
func (lk *looker) take(offset, length int64) (*ftpcore.Transfer, error) {
	tr := lk.tr
	if tr != nil && lk.spec.offset == offset && (lk.spec.length < 0 || lk.spec.length >= length) && tr.Limit(length) == nil {
		lk.tr = nil
		return tr, nil
	}
	return nil, lk.drop()
}

// drop aborts the transfer the last look started, if any: the session is
// free again, or unusable, and then the error says why. An early end
// that kept the session is no error here.
func (lk *looker) drop() error {
	if lk.tr == nil {
		return nil
	}
	err := lk.tr.Discard()
	lk.tr = nil
	if lk.c.Usable() {
		return nil
	}
	return err
}

// locateTries bounds the looks locate takes at a path it refuses.
const locateTries = 3

// locateOnce is one look of locate's.
func (s *Server) locateOnce(ctx context.Context, lk *looker, full string, dirHint bool) (located, error) {
	c := lk.c
	if s.cfg.Links == LinksFollow {
		if lk.spec != nil && !dirHint {
			loc, err := lk.look(ctx, full, true)
			return located{entry: loc.Entry}, err
		}
		e, err := c.Stat(ctx, full)
		return located{entry: e}, err
	}
	root := s.ftpPath(c, "/")
	parent := path.Dir(full)
	var dirs []string
	if full != root && parent != root {
		dirs = []string{root}
	}
	loc, err := lk.look(ctx, full, !dirHint, dirs...)
	var realRoot string
	switch {
	case full == root:
		realRoot = loc.Real
	case parent == root:
		realRoot = loc.Parent
	case len(loc.Dirs) > 0:
		realRoot = loc.Dirs[0]
	}
	if realRoot == "" {
		// The root cannot be entered (or the session failed): nothing
		// under it can be told apart from the outside.
		if err != nil {
			return located{}, err
		}
		return located{}, s.linkRefused()
	}
	rel := strings.TrimPrefix(full, root)
	if full == root {
		rel = "/"
	}
	if loc.Real != "" {
		// A directory: PWD resolved every link on the way.
		if !s.staysInside(loc.Real, realRoot, rel) {
			return located{}, s.linkRefused()
		}
		link := full != root && loc.Parent != "" && loc.Real != path.Join(loc.Parent, path.Base(full))
		return located{entry: loc.Entry, link: link}, err
	}
	if full == root {
		return located{entry: loc.Entry}, err // the operator's choice, whatever it is
	}
	if err == nil && loc.Entry.Type == ftpcore.EntryDir {
		// A directory the server would not enter: where it is cannot be
		// told.
		return located{}, s.linkRefused()
	}
	if loc.Parent == "" {
		// Its directory is missing or cannot be entered: a missing path
		// stays Stat's error; one that exists cannot be placed.
		if err != nil {
			return located{}, err
		}
		return located{}, s.linkRefused()
	}
	if !s.staysInside(loc.Parent, realRoot, path.Dir(rel)) {
		return located{}, s.linkRefused()
	}
	if err != nil {
		// Missing, in a directory inside the root: a PUT may create it
		// there. A dangling link is replaced by a PUT (RNTO), not
		// written through: the gateway never STORs to the name itself.
		return located{}, err
	}
	if dirHint {
		// A file asked for as a directory: STAT was not sent. Ask again,
		// now that it is known to be no directory.
		return s.locateWith(ctx, lk, full, false)
	}
	if !loc.SelfKnown {
		if code := ftpcore.ReplyCode(loc.SelfErr); code == ftpcore.StatusBadCommand || code == ftpcore.StatusNotImplemented {
			// A server without STAT of a path: no file could be served.
			return located{}, linksUnsupported(loc.SelfErr)
		}
		// The server gave no line for it: whether it is a link cannot be
		// told, so it is not served.
		return located{}, s.linkRefused()
	}
	if loc.Self.Type != ftpcore.EntryLink {
		return located{entry: loc.Entry}, nil
	}
	if s.cfg.Links == LinksRefuse {
		return located{}, s.linkRefused()
	}
	// Following the link takes the session: no transfer may be under way.
	if err := lk.drop(); err != nil {
		return located{}, err
	}
	ok, err := s.linkTargetInside(ctx, c, loc.Parent, loc.Self.Target, realRoot)
	if err != nil {
		return located{}, err
	}
	if !ok {
		return located{}, s.linkRefused()
	}
	return located{entry: loc.Entry, link: true}, nil
}

// linkTargetInside follows the link in dir whose target is target, link
// after link, and reports whether it ends inside realRoot: in a directory
// there, or at a file (or nothing: a dangling link) whose directory is
// there.
func (s *Server) linkTargetInside(ctx context.Context, c *ftpcore.Conn, dir, target, realRoot string) (bool, error) {
	for range maxLinkHops {
		if target == "" {
			return false, nil // a link whose target the server did not name
		}
		if !path.IsAbs(target) {
			target = path.Join(dir, target)
		}
		loc, err := c.Locate(ctx, path.Clean(target), true)
		if err != nil && (ftpcore.ReplyCode(err) == 0 || !c.Usable()) {
			return false, err // not the server's answer about the path
		}
		switch {
		case loc.Real != "":
			return within(loc.Real, realRoot), nil
		case loc.Parent == "" || !within(loc.Parent, realRoot):
			return false, nil
		case err != nil:
			return true, nil // dangling, where it would be inside
		case !loc.SelfKnown:
			return false, nil
		case loc.Self.Type != ftpcore.EntryLink:
			return true, nil
		}
		dir, target = loc.Parent, loc.Self.Target
	}
	return false, nil
}

// staysInside reports whether real, where the server put the path rel
// (or its directory) under the root, is allowed by the policy: inside
// realRoot for LinksInside, exactly where rel says for LinksRefuse (no
// segment was a link).
func (s *Server) staysInside(real, realRoot, rel string) bool {
	if s.cfg.Links == LinksRefuse {
		return real == path.Join(realRoot, rel)
	}
	return within(real, realRoot)
}

// within reports whether the clean absolute path p is dir or lies under it.
func within(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// linkRefused is the 404 of a path the link policy does not follow.
func (s *Server) linkRefused() error {
	detail := "no such file or directory: the path leads out of the root through a symbolic link"
	if s.cfg.Links == LinksRefuse {
		detail = "no such file or directory: the path goes through a symbolic link, and this gateway follows none"
	}
	return linkRefusal(detail)
}

// listedLink adjusts a listing's entry e, a symbolic link, to the policy
// and reports whether it is listed at all. Where the link leads would take
// a round trip per link to tell, so under LinksInside every link is listed
// as a link without the size and time (its own, not the file's, and the
// target's may be of a file outside the root) and without the target
// (which may name places outside the root); a GET of it decides.
// LinksRefuse leaves links out: no request could follow one. Under
// LinksFollow the listing asks for the target's size and time
// (refineListing).
func (s *Server) listedLink(e *ftpcore.Entry) bool {
	switch s.cfg.Links {
	case LinksFollow:
		return true
	case LinksRefuse:
		return false
	}
	e.Size, e.Target, e.ModTime = -1, "", time.Time{}
	return true
}
