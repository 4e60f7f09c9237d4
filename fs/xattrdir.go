package fs

import (
	"context"
	"os"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// Extended attributes (ACLs among them) of staging directories and of
// written-back view directories go to the STORE directory, like those of
// staged files (xattr.go): cp -a, tar --xattrs --acls and rsync -AX keep
// what they copy in. They are reached through the directory's fd.
var (
	_ = (fusefs.NodeGetxattrer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeListxattrer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeGetxattrer)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeListxattrer)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*stagedViewDirNode)(nil))
)

// dirXattrs are the xattr calls of a staged directory that open gives.
type dirXattrs struct {
	open   func() (*os.File, error)
	change func(fn func(dir *os.File) error) error
}

func (x dirXattrs) get(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	d, err := x.open()
	if err != nil {
		return 0, toErrno(ctx, "getxattr", err)
	}
	defer d.Close()
	n, err := unix.Getxattr(procPath(int(d.Fd())), attr, dest)
	return uint32(n), toErrno(ctx, "getxattr", err)
}

func (x dirXattrs) list(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	d, err := x.open()
	if err != nil {
		return 0, toErrno(ctx, "listxattr", err)
	}
	defer d.Close()
	n, err := unix.Listxattr(procPath(int(d.Fd())), dest)
	return uint32(n), toErrno(ctx, "listxattr", err)
}

func (x dirXattrs) set(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return toErrno(ctx, "setxattr", x.change(func(d *os.File) error {
		return unix.Setxattr(procPath(int(d.Fd())), attr, data, int(flags))
	}))
}

func (x dirXattrs) remove(ctx context.Context, attr string) syscall.Errno {
	return toErrno(ctx, "removexattr", x.change(func(d *os.File) error {
		return unix.Removexattr(procPath(int(d.Fd())), attr)
	}))
}

func (d *stagingDirNode) xattrs() dirXattrs {
	return dirXattrs{d.open, func(fn func(*os.File) error) error {
		return d.change(func(_ *stage, dir *os.File) error { return fn(dir) })
	}}
}

func (d *stagingDirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return d.xattrs().get(ctx, attr, dest)
}

func (d *stagingDirNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return d.xattrs().list(ctx, dest)
}

func (d *stagingDirNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return d.xattrs().set(ctx, attr, data, flags)
}

func (d *stagingDirNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return d.xattrs().remove(ctx, attr)
}

func (d *stagedViewDirNode) xattrs() dirXattrs {
	return dirXattrs{d.open, func(fn func(*os.File) error) error {
		p := d.where()
		return d.t.stage.changeAt(p, func(_ *stage, parent *os.File) error {
			dir, err := d.open()
			if err != nil {
				return err
			}
			defer dir.Close()
			return fn(dir)
		})
	}}
}

func (d *stagedViewDirNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return d.xattrs().get(ctx, attr, dest)
}

func (d *stagedViewDirNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return d.xattrs().list(ctx, dest)
}

func (d *stagedViewDirNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return d.xattrs().set(ctx, attr, data, flags)
}

func (d *stagedViewDirNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return d.xattrs().remove(ctx, attr)
}
