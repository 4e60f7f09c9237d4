package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// readOnly is embedded in every node of a published snapshot (and the
// root): each call that would change something fails with EROFS, instead
// of go-fuse's default ENOTSUP/ENOSYS, and changes nothing.
type readOnly struct{}

var (
	_ = (fusefs.NodeSetattrer)((*readOnly)(nil))
	_ = (fusefs.NodeCreater)((*readOnly)(nil))
	_ = (fusefs.NodeMkdirer)((*readOnly)(nil))
	_ = (fusefs.NodeMknoder)((*readOnly)(nil))
	_ = (fusefs.NodeLinker)((*readOnly)(nil))
	_ = (fusefs.NodeSymlinker)((*readOnly)(nil))
	_ = (fusefs.NodeUnlinker)((*readOnly)(nil))
	_ = (fusefs.NodeRmdirer)((*readOnly)(nil))
	_ = (fusefs.NodeRenamer)((*readOnly)(nil))
	_ = (fusefs.NodeSetxattrer)((*readOnly)(nil))
	_ = (fusefs.NodeRemovexattrer)((*readOnly)(nil))
	_ = (fusefs.NodeAllocater)((*readOnly)(nil))
	_ = (fusefs.NodeWriter)((*readOnly)(nil))
)

func (readOnly) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (readOnly) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

func (readOnly) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

func (readOnly) Rmdir(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

func (readOnly) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}

func (readOnly) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.EROFS
}

func (readOnly) Removexattr(ctx context.Context, attr string) syscall.Errno { return syscall.EROFS }

func (readOnly) Allocate(ctx context.Context, f fusefs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	return syscall.EROFS
}

func (readOnly) Write(ctx context.Context, f fusefs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	return 0, syscall.EROFS
}

// wantsWrite reports whether open flags ask for any kind of change.
func wantsWrite(flags uint32) bool {
	return flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0
}
