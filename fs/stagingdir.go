package fs

import (
	"context"
	"fmt"
	"os"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// stagingDirNode is MNT/new/<name>/: the staging directory's regular
// files as they are in STORE, plus a read-only status view. Its name is
// taken from the tree each time, so a rename within new/ needs no
// bookkeeping; its STORE inode binds it to the directory it was looked up
// as, so a directory swapped in under that name is not it.
type stagingDirNode struct {
	fusefs.Inode
	t       *tree
	created string // the name at lookup, before the node is in the tree
	ino     uint64 // STORE inode of the directory
}

var (
	_ = (fusefs.NodeGetattrer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeSetattrer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeLookuper)((*stagingDirNode)(nil))
	_ = (fusefs.NodeReaddirer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeCreater)((*stagingDirNode)(nil))
	_ = (fusefs.NodeUnlinker)((*stagingDirNode)(nil))
	_ = (fusefs.NodeRenamer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeMkdirer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeRmdirer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeMknoder)((*stagingDirNode)(nil))
	_ = (fusefs.NodeSymlinker)((*stagingDirNode)(nil))
	_ = (fusefs.NodeLinker)((*stagingDirNode)(nil))
)

// statusName is the read-only view in every staging directory.
const statusName = "status"

func (d *stagingDirNode) name() string {
	if name, p := d.Parent(); p != nil {
		return name
	}
	return d.created
}

// open opens the staging directory this node is.
func (d *stagingDirNode) open() (*os.File, error) { return d.t.stage.openStage(d.name(), d.ino) }

// change runs fn on the directory while nothing else changes it.
func (d *stagingDirNode) change(fn func(st *stage, dir *os.File) error) error {
	return d.t.stage.change(d.name(), d.ino, fn)
}

func (d *stagingDirNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	return stagedDirAttr(ctx, d.open, out)
}

// stagedDirAttr fills out from the directory below new/ that open opens:
// its own owner, mode and times.
func stagedDirAttr(ctx context.Context, open func() (*os.File, error), out *fuse.Attr) syscall.Errno {
	dir, err := open()
	if err != nil {
		return toErrno(ctx, "getattr", err)
	}
	defer dir.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return toErrno(ctx, "getattr", err)
	}
	setDir(out, ino(st.Ino, slotStaged), &st)
	return 0
}

func (d *stagingDirNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.SetTimeout(volatile)
	return d.attr(ctx, &out.Attr)
}

func (d *stagingDirNode) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, ok := in.GetSize(); ok {
		return syscall.EISDIR
	}
	err := d.change(func(_ *stage, dir *os.File) error { return setattrFd(int(dir.Fd()), in) })
	if err != nil {
		return toErrno(ctx, "setattr", err)
	}
	out.SetTimeout(volatile)
	return d.attr(ctx, &out.Attr)
}

func (d *stagingDirNode) where() place { return place{d.name(), d.ino, ""} }

func (d *stagingDirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	volatileEntry(out)
	dir, err := d.open()
	if err != nil {
		return nil, toErrno(ctx, "lookup", err)
	}
	defer dir.Close()
	if name == statusName {
		if !d.showsStatus(ctx) {
			return nil, syscall.ENOENT
		}
		return d.statusNode(ctx, dir, out)
	}
	return d.t.stagedLookup(ctx, d.EmbeddedInode(), d.where(), dir, name, out)
}

func (d *stagingDirNode) statusNode(ctx context.Context, dir *os.File, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return nil, toErrno(ctx, "lookup", err)
	}
	id := fusefs.StableAttr{Mode: unix.S_IFREG, Ino: ino(st.Ino, slotStagedStatus)}
	return lookupChild(ctx, d.EmbeddedInode(), &stagedStatusNode{t: d.t, created: d.name(), dirIno: d.ino}, id, out)
}

// showsStatus reports whether the status view is there for the caller.
// Tools that put a backup back create every file they restore, status
// included: tar and bsdtar unlink it first when it exists, GNU cp and mv
// create every file of a directory they made themselves with O_EXCL. So,
// until a tool writes status back (which is then dropped: sinkHandle),
// status is absent after an unlink, and for the cp or mv that made the
// staging directory (stager.mkdir).
func (d *stagingDirNode) showsStatus(ctx context.Context) bool {
	st := d.t.stage.get(d.name())
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.statusGone {
		return false
	}
	return st.wroteBack || st.maker == 0 || st.maker != callerPid(ctx)
}

// statusWritten records an unlink (gone) or a write-back of status.
func (d *stagingDirNode) statusWritten(gone bool) {
	st := d.t.stage.get(d.name())
	st.mu.Lock()
	st.statusGone = gone
	st.wroteBack = st.wroteBack || !gone
	st.mu.Unlock()
}

func (d *stagingDirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	dir, err := d.open()
	if err != nil {
		return nil, toErrno(ctx, "readdir", err)
	}
	defer dir.Close()
	var self unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &self); err != nil {
		return nil, toErrno(ctx, "readdir", err)
	}
	var ents []fuse.DirEntry
	if d.showsStatus(ctx) {
		ents = append(ents, fuse.DirEntry{Name: statusName, Mode: unix.S_IFREG, Ino: ino(self.Ino, slotStagedStatus)})
	}
	ents = append(ents, stagedEntries(d.where(), dir)...)
	return fusefs.NewListDirStream(ents), 0
}

// Create makes a file owned by the caller. A status written back from a
// backup is accepted and discarded: status is the daemon's.
func (d *stagingDirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	if name == statusName {
		d.statusWritten(false)
		dir, err := d.open()
		if err != nil {
			return nil, nil, 0, toErrno(ctx, "create", err)
		}
		defer dir.Close()
		volatileEntry(out)
		ch, errno := d.statusNode(ctx, dir, out)
		if errno != 0 {
			return nil, nil, 0, errno
		}
		return ch, sinkHandle{}, fuse.FOPEN_DIRECT_IO, 0
	}
	h, err := d.t.stagedCreate(ctx, d.where(), name, flags, mode)
	if err != nil {
		return nil, nil, 0, toErrno(ctx, "create", err)
	}
	ch, errno := d.Lookup(ctx, name, out)
	if errno != 0 {
		h.Release(ctx)
		return nil, nil, 0, errno
	}
	if errno := handOut(ctx, h); errno != 0 {
		return nil, nil, 0, errno
	}
	return ch, h, 0, 0
}

// Unlink removes a staged file; status, the daemon's, stays, but the
// unlink succeeds, so rm -rf empties a staging directory.
func (d *stagingDirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if name == statusName {
		d.statusWritten(true)
		return 0
	}
	return toErrno(ctx, "unlink", d.t.stagedRemove(d.where(), name, 0))
}

// Rmdir removes an empty view directory (manifest/, state/).
func (d *stagingDirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if !viewDirs[name] {
		return syscall.ENOENT
	}
	return toErrno(ctx, "rmdir", d.t.stagedRemove(d.where(), name, unix.AT_REMOVEDIR))
}

// Rename within the staging directory; a file renamed over status (rsync
// writing status back) is discarded.
func (d *stagingDirNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	to, ok := placeOfDir(newParent)
	if !ok {
		return syscall.EXDEV
	}
	if name == statusName {
		return syscall.EPERM
	}
	if newName == statusName && to == d.where() {
		return toErrno(ctx, "rename", d.t.stagedRemove(d.where(), name, 0))
	}
	return toErrno(ctx, "rename", d.t.stagedRename(d.where(), name, to, newName, flags))
}

// Mkdir makes a view directory written back from a backup (manifest/,
// state/); a snapshot holds no other directories.
func (d *stagingDirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if name == statusName {
		return nil, syscall.EEXIST
	}
	uid, gid := callerOf(ctx)
	if err := d.t.stagedMkdir(d.where(), name, mode, uid, gid); err != nil {
		return nil, toErrno(ctx, "mkdir", err)
	}
	return d.Lookup(ctx, name, out)
}

func (d *stagingDirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (d *stagingDirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Link hard-links a staged file into this staging directory: OpenVMM
// saves by linking its memory backing file, which may live in another
// staging directory, into the snapshot's. Both directories' locks are
// held (in name order), and the link is made from the file's O_PATH fd,
// so it is the very file the node is.
func (d *stagingDirNode) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	src, ok := target.(*stagedFileNode)
	if !ok {
		return nil, syscall.EPERM
	}
	if name == statusName {
		return nil, syscall.EEXIST
	}
	sp := src.where()
	if sp.dir() != "" {
		return nil, syscall.EPERM // only snapshot files are linked
	}
	srcStage, srcName := sp.stage, sp.base()
	link := func(dir *os.File) error {
		sdir, err := d.t.stage.openStage(srcStage, sp.stageIno)
		if err != nil {
			return err
		}
		defer sdir.Close()
		fd, err := openEntry(sdir, srcName, unix.O_PATH, src.ino)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := d.t.stage.frozen(fd, srcName); err != nil {
			return err
		}
		// Not while another daemon publishes the file (crosslock.go).
		unlock, err := d.t.stage.guard(sp, sdir, srcName, fd, false)
		if err != nil {
			return err
		}
		defer unlock()
		err = unix.Linkat(fd, "", int(dir.Fd()), name, unix.AT_EMPTY_PATH)
		if err == unix.ENOENT || err == unix.EPERM {
			// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (a daemon not run
			// by root): link the name, and check it is still the file.
			if err = unix.Linkat(int(sdir.Fd()), srcName, int(dir.Fd()), name, 0); err == nil {
				if st, serr := statEntry(dir, name); serr != nil || st.Ino != src.ino {
					unix.Unlinkat(int(dir.Fd()), name, 0)
					err = fmt.Errorf("%q was replaced: %w", srcName, syscall.ENOENT)
				}
			}
		}
		return err
	}
	var err error
	if srcStage == d.name() {
		err = d.change(func(_ *stage, dir *os.File) error { return link(dir) })
	} else {
		err = d.t.stage.changeTwo(d.name(), d.ino, srcStage, func(dir *os.File) error { return link(dir) })
	}
	if err != nil {
		return nil, toErrno(ctx, "link", err)
	}
	return d.Lookup(ctx, name, out)
}
