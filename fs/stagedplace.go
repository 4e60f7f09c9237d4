package fs

import (
	"os"
	"path"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// place is where a node below new/ is: its staging directory (name and
// STORE inode) and its path relative to it ("" for the staging directory
// itself, "state/pit/value.bin" for a written-back view).
type place struct {
	stage    string
	stageIno uint64
	rel      string
}

// dir and base split rel: the directory holding the entry ("" for the
// staging directory) and the entry's name.
func (p place) dir() string {
	if d := path.Dir(p.rel); d != "." {
		return d
	}
	return ""
}

func (p place) base() string { return path.Base(p.rel) }

// child is the place of the entry name in the directory p.
func (p place) child(name string) place {
	if p.rel == "" {
		return place{p.stage, p.stageIno, name}
	}
	return place{p.stage, p.stageIno, p.rel + "/" + name}
}

// placeOf finds n's place from the tree: names up to the staging
// directory. ok is false for a node no longer in the tree (renamed over,
// removed), whose caller then uses the place it was made with.
func placeOf(n *fusefs.Inode) (place, bool) {
	var names []string
	for cur := n; ; {
		if d, ok := cur.Operations().(*stagingDirNode); ok {
			var rel string
			for i := len(names) - 1; i >= 0; i-- {
				rel = path.Join(rel, names[i])
			}
			return place{d.name(), d.ino, rel}, true
		}
		name, parent := cur.Parent()
		if parent == nil {
			return place{}, false
		}
		names = append(names, name)
		cur = parent
	}
}

// openDirOf opens the directory of the stage that holds p's entry; the
// caller closes it.
func (s *stager) openDirOf(p place) (*os.File, error) {
	d, err := s.openStage(p.stage, p.stageIno)
	if err != nil || p.dir() == "" {
		return d, err
	}
	defer d.Close()
	return openDirAt(int(d.Fd()), p.dir())
}

// changeAt is change for the directory holding p's entry.
func (s *stager) changeAt(p place, fn func(st *stage, dir *os.File) error) error {
	return s.change(p.stage, p.stageIno, func(st *stage, d *os.File) error {
		if p.dir() == "" {
			return fn(st, d)
		}
		sub, err := openDirAt(int(d.Fd()), p.dir())
		if err != nil {
			return err
		}
		defer sub.Close()
		return fn(st, sub)
	})
}
