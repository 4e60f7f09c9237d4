package fs

import (
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Modes of the tree: published content is read-only for everyone.
const (
	modeDir     = unix.S_IFDIR | 0o555
	modeFile    = unix.S_IFREG | 0o444
	modeSymlink = unix.S_IFLNK | 0o777
)

// setTimes copies a STORE file's times into out.
func setTimes(out *fuse.Attr, st *unix.Stat_t) {
	out.Atime, out.Atimensec = uint64(st.Atim.Sec), uint32(st.Atim.Nsec)
	out.Mtime, out.Mtimensec = uint64(st.Mtim.Sec), uint32(st.Mtim.Nsec)
	out.Ctime, out.Ctimensec = uint64(st.Ctim.Sec), uint32(st.Ctim.Nsec)
}

// setView fills out for a generated file of size bytes made from src.
func setView(out *fuse.Attr, ino uint64, size int, src *unix.Stat_t) {
	out.Ino = ino
	out.Mode = modeFile
	out.Nlink = 1
	out.Size = uint64(size)
	out.Blocks = (uint64(size) + 511) / 512
	out.Blksize = 4096
	setTimes(out, src)
}

// setDir fills out for a directory whose times come from src.
func setDir(out *fuse.Attr, ino uint64, mode uint32, src *unix.Stat_t) {
	out.Ino = ino
	out.Mode = mode
	out.Nlink = 2
	out.Size = 4096
	out.Blocks = 8
	out.Blksize = 4096
	setTimes(out, src)
}

// setBacking fills out from a STORE file served as itself: size, blocks
// and times as in STORE, so backup tools see its holes and changes.
func setBacking(out *fuse.Attr, ino uint64, mode uint32, st *unix.Stat_t) {
	out.Ino = ino
	out.Mode = mode
	out.Nlink = 1
	out.Size = uint64(st.Size)
	out.Blocks = uint64(st.Blocks)
	out.Blksize = uint32(st.Blksize)
	setTimes(out, st)
}
