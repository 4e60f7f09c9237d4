package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// latestNode is MNT/latest, a symlink to the newest valid snapshot. Its
// target is computed on each read, so it follows STORE.
type latestNode struct {
	fusefs.Inode
	readOnly
	t *tree
}

var (
	_ = (fusefs.NodeReadlinker)((*latestNode)(nil))
	_ = (fusefs.NodeGetattrer)((*latestNode)(nil))
)

func (l *latestNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	name, ok := l.t.store.Latest()
	if !ok {
		return syscall.ENOENT
	}
	sn, err := l.t.store.Snapshot(name)
	if err != nil {
		return toErrno(ctx, "getattr", err)
	}
	setView(out, inoLatest, len(name), sn.Dir())
	out.Mode = modeSymlink
	return 0
}

func (l *latestNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return l.attr(ctx, &out.Attr)
}

func (l *latestNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	name, ok := l.t.store.Latest()
	if !ok {
		return nil, syscall.ENOENT
	}
	return []byte(name), 0
}
