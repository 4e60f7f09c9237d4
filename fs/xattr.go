package fs

import (
	"context"
	"path/filepath"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// Extended attributes of staged files go to the STORE file, so cp -p,
// tar --xattrs and rsync -X keep what they copy in.
var (
	_ = (fusefs.NodeGetxattrer)((*stagedFileNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*stagedFileNode)(nil))
	_ = (fusefs.NodeListxattrer)((*stagedFileNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*stagedFileNode)(nil))
)

func (f *stagedFileNode) path() string {
	_, rel := f.where()
	return filepath.Join(f.t.store.Dir, rel)
}

func (f *stagedFileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	n, err := unix.Lgetxattr(f.path(), attr, dest)
	return uint32(n), toErrno(ctx, "getxattr", err)
}

func (f *stagedFileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return toErrno(ctx, "setxattr", unix.Lsetxattr(f.path(), attr, data, int(flags)))
}

func (f *stagedFileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	n, err := unix.Llistxattr(f.path(), dest)
	return uint32(n), toErrno(ctx, "listxattr", err)
}

func (f *stagedFileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return toErrno(ctx, "removexattr", unix.Lremovexattr(f.path(), attr))
}
