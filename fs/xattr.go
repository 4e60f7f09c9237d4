package fs

import (
	"context"
	"os"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// Extended attributes of staged files go to the STORE file, so cp -p,
// tar --xattrs and rsync -X keep what they copy in. They are reached
// through an O_PATH fd of the file this node is, never by name.
var (
	_ = (fusefs.NodeGetxattrer)((*stagedFileNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*stagedFileNode)(nil))
	_ = (fusefs.NodeListxattrer)((*stagedFileNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*stagedFileNode)(nil))
)

// withFd runs fn on an O_PATH fd of the file.
func (f *stagedFileNode) withFd(fn func(fd int) error) error {
	fd, err := f.openPath()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn(fd)
}

// changeFd runs fn on an O_PATH fd of the file while nothing else
// changes its directory.
func (f *stagedFileNode) changeFd(fn func(fd int) error) error {
	return f.change(func(_ *stage, dir *os.File, name string) error {
		fd, done, err := f.pathFd(dir, name)
		if err != nil {
			return err
		}
		defer done()
		return fn(fd)
	})
}

// pathFd opens an O_PATH fd of the file, name in dir, for a change,
// refusing a file of a published snapshot (seal.go); another daemon
// cannot publish it until done is called (crosslock.go), which also
// closes the fd.
func (f *stagedFileNode) pathFd(dir *os.File, name string) (fd int, done func(), err error) {
	fd, err = openEntry(dir, name, unix.O_PATH, f.ino)
	if err != nil {
		return -1, nil, err
	}
	unlock := func() {}
	err = f.t.stage.frozen(fd, name)
	if err == nil {
		unlock, err = f.t.stage.guard(f.where(), dir, name, fd, false)
	}
	if err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, func() { unlock(); unix.Close(fd) }, nil
}

func (f *stagedFileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	var n int
	err := f.withFd(func(fd int) (err error) {
		n, err = unix.Getxattr(procPath(fd), attr, dest)
		return err
	})
	return uint32(n), toErrno(ctx, "getxattr", err)
}

func (f *stagedFileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	var n int
	err := f.withFd(func(fd int) (err error) {
		n, err = unix.Listxattr(procPath(fd), dest)
		return err
	})
	return uint32(n), toErrno(ctx, "listxattr", err)
}

func (f *stagedFileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if attr == "security.capability" {
		return syscall.EPERM // never anything to remove on write (noPriv)
	}
	return toErrno(ctx, "setxattr", f.changeFd(func(fd int) error {
		return unix.Setxattr(procPath(fd), attr, data, int(flags))
	}))
}

func (f *stagedFileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return toErrno(ctx, "removexattr", f.changeFd(func(fd int) error {
		return unix.Removexattr(procPath(fd), attr)
	}))
}
