package fs

import (
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Permissions are STORE's (see SECURITY.md): every entry shows the owner,
// group and mode of the STORE file or directory it is, or derives from,
// and the kernel (default_permissions) enforces them. A generated entry
// never has more than the read (and, for directories, search) bits of its
// source, so the mount never grants a user more than STORE does.
const (
	viewPerm    = 0o444 // a view: read bits of its source
	virtDirPerm = 0o555 // a generated directory: read and search bits of its snapshot
	modeSymlink = unix.S_IFLNK | 0o777
)

// setTimes copies a STORE file's times into out.
func setTimes(out *fuse.Attr, st *unix.Stat_t) {
	out.Atime, out.Atimensec = uint64(st.Atim.Sec), uint32(st.Atim.Nsec)
	out.Mtime, out.Mtimensec = uint64(st.Mtim.Sec), uint32(st.Mtim.Nsec)
	out.Ctime, out.Ctimensec = uint64(st.Ctim.Sec), uint32(st.Ctim.Nsec)
}

// setPerm gives out the owner, group and the permission bits of st that
// mask lets through.
func setPerm(out *fuse.Attr, st *unix.Stat_t, mask uint32) {
	out.Mode = out.Mode&unix.S_IFMT | st.Mode&mask
	out.Uid, out.Gid = st.Uid, st.Gid
}

// setView fills out for a generated file of size bytes made from src: its
// times, owner and read bits.
func setView(out *fuse.Attr, ino uint64, size int, src *unix.Stat_t) {
	out.Ino = ino
	out.Mode = unix.S_IFREG
	setPerm(out, src, viewPerm)
	out.Nlink = 1
	out.Size = uint64(size)
	out.Blocks = (uint64(size) + 511) / 512
	out.Blksize = 4096
	setTimes(out, src)
}

// setDir fills out for a STORE directory (STORE, a snapshot, the staging
// area) with its own owner, mode and times.
func setDir(out *fuse.Attr, ino uint64, st *unix.Stat_t) {
	out.Ino = ino
	out.Mode = unix.S_IFDIR
	setPerm(out, st, 0o7777)
	out.Nlink = 2
	out.Size = 4096
	out.Blocks = 8
	out.Blksize = 4096
	setTimes(out, st)
}

// setVirtDir fills out for a generated directory of the snapshot whose
// STORE directory is dir: its owner and read/search bits, and the times
// of the file it is made from.
func setVirtDir(out *fuse.Attr, ino uint64, dir, times *unix.Stat_t) {
	setDir(out, ino, times)
	setPerm(out, dir, virtDirPerm)
}

// setBacking fills out from a STORE file served as itself: owner, mode,
// size, blocks and times as in STORE, so backup tools see its holes and
// changes.
func setBacking(out *fuse.Attr, ino uint64, st *unix.Stat_t) {
	out.Ino = ino
	out.Mode = st.Mode
	out.Uid, out.Gid = st.Uid, st.Gid
	out.Nlink = 1
	out.Size = uint64(st.Size)
	out.Blocks = uint64(st.Blocks)
	out.Blksize = uint32(st.Blksize)
	setTimes(out, st)
}
