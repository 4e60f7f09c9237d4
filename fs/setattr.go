package fs

import (
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// setattrAt applies a SETATTR's mode, owner and times to rel beneath
// dirfd (size is the caller's: it needs a file, not a path).
func setattrAt(dirfd int, rel string, in *fuse.SetAttrIn) error {
	if mode, ok := in.GetMode(); ok {
		if err := unix.Fchmodat(dirfd, rel, mode&0o7777, 0); err != nil {
			return err
		}
	}
	uid, uok := in.GetUID()
	gid, gok := in.GetGID()
	if uok || gok {
		u, g := -1, -1
		if uok {
			u = int(uid)
		}
		if gok {
			g = int(gid)
		}
		if err := unix.Fchownat(dirfd, rel, u, g, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	atime, aok := in.GetATime()
	mtime, mok := in.GetMTime()
	if aok || mok {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if aok {
			ts[0] = unix.NsecToTimespec(atime.UnixNano())
		}
		if mok {
			ts[1] = unix.NsecToTimespec(mtime.UnixNano())
		}
		if err := unix.UtimesNanoAt(dirfd, rel, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}
