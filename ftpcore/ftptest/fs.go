package ftptest

import (
	"path"
	"slices"
	"strings"
	"time"
)

// node is a file or directory in the in-memory tree. The tree is a flat map
// from cleaned absolute path to node, which keeps rename and listing simple at
// the sizes tests use.
type node struct {
	dir  bool
	data []byte
	mod  time.Time
}

// cleanPath makes p absolute (relative to "/") and cleans it.
func cleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return path.Clean(p)
}

// PutFile stores data as the file p, creating missing parent directories.
// A directory at p is replaced along with everything under it. The server
// keeps its own copy of data.
func (s *Server) PutFile(p string, data []byte, mod time.Time) {
	p = cleanPath(p)
	if p == "/" {
		panic("ftptest: PutFile on /")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeTreeLocked(p)
	s.mkdirAllLocked(path.Dir(p), time.Now())
	s.files[p] = &node{data: slices.Clone(data), mod: mod}
}

// File returns a copy of the contents of file p, and false if p is not a
// file.
func (s *Server) File(p string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.files[cleanPath(p)]
	if n == nil || n.dir {
		return nil, false
	}
	return slices.Clone(n.data), true
}

// Mkdir creates directory p and any missing parents. A file in the way is
// replaced.
func (s *Server) Mkdir(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mkdirAllLocked(cleanPath(p), time.Now())
}

// Exists reports whether p is a file or a directory.
func (s *Server) Exists(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[cleanPath(p)] != nil
}

// List returns the names of the entries in directory dir, sorted, or nil if
// dir is not a directory.
func (s *Server) List(dir string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir = cleanPath(dir)
	if n := s.files[dir]; n == nil || !n.dir {
		return nil
	}
	return s.childrenLocked(dir)
}

func (s *Server) mkdirAllLocked(p string, mod time.Time) {
	if n := s.files[p]; n != nil && n.dir {
		return
	}
	if p != "/" {
		s.mkdirAllLocked(path.Dir(p), mod)
	}
	s.files[p] = &node{dir: true, mod: mod.UTC().Truncate(time.Second)}
}

func (s *Server) childrenLocked(dir string) []string {
	var names []string
	for p := range s.files {
		if p != "/" && path.Dir(p) == dir {
			names = append(names, path.Base(p))
		}
	}
	slices.Sort(names)
	return names
}

func (s *Server) removeTreeLocked(p string) {
	n := s.files[p]
	if n == nil {
		return // every entry has its parents: nothing is under p
	}
	delete(s.files, p)
	if !n.dir {
		return
	}
	prefix := p + "/"
	for k := range s.files {
		if k == p || strings.HasPrefix(k, prefix) {
			delete(s.files, k)
		}
	}
}

func (s *Server) isDir(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.files[p]
	return n != nil && n.dir
}

// stat returns a copy of the node at p, without the data, so that callers
// can use it without holding the lock.
func (s *Server) stat(p string) (node, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.files[p]
	if n == nil {
		return node{}, false
	}
	return node{dir: n.dir, data: n.data[:len(n.data):len(n.data)], mod: n.mod}, true
}

// rename moves src (and, for a directory, its subtree) to dst and reports
// whether it did. A file may replace a file; nothing may replace a directory,
// and a directory may not replace anything or move into itself.
func (s *Server) rename(src, dst string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, dn := s.files[src], s.files[dst]
	parent := s.files[path.Dir(dst)]
	switch {
	case src == "/" || dst == "/" || sn == nil:
		return false
	case parent == nil || !parent.dir:
		return false
	case dn != nil && (dn.dir || sn.dir) && src != dst:
		return false
	case sn.dir && strings.HasPrefix(dst, src+"/"):
		return false
	case src == dst:
		return true
	}
	moved := make(map[string]*node)
	prefix := src + "/"
	for k, n := range s.files {
		if k == src || strings.HasPrefix(k, prefix) {
			moved[dst+k[len(src):]] = n
			delete(s.files, k)
		}
	}
	for k, n := range moved {
		s.files[k] = n
	}
	return true
}
