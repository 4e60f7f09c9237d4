package fs

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// How changes to STORE are found (watch.go): inotify reports what this
// host's kernel does to a local filesystem, but nothing another host, or
// a FUSE daemon's other clients, do to a shared one. So at mount time
// snapfs looks at what STORE is on and, on a network or FUSE filesystem,
// polls instead (poll.go).

// Watch modes (Options.Watch).
const (
	WatchAuto    = "auto"    // decide from STORE's filesystem
	WatchInotify = "inotify" // inotify, within a budget of watches
	WatchPoll    = "poll"    // one listing per interval
)

// ParseWatch checks a --watch value.
func ParseWatch(s string) (string, error) {
	switch s {
	case WatchAuto, WatchInotify, WatchPoll:
		return s, nil
	}
	return "", fmt.Errorf("watch mode %q: want auto, inotify or poll", s)
}

// sharedMagic are statfs f_type values of filesystems whose changes need
// not come from this host's kernel.
var sharedMagic = map[int64]string{
	0x6969:     "nfs",
	0x517b:     "smb",
	0xff534d42: "cifs",
	0xfe534d42: "smb2",
	0x00c36400: "ceph",
	0x65735546: "fuse",
	0x0bd00bd0: "lustre",
	0x5346414f: "afs",
	0x6b414653: "kafs",
	0x01021997: "9p",
	0x01161970: "gfs2",
	0x7461636f: "ocfs2",
	0x47504653: "gpfs",
	0x20030528: "orangefs",
	0x19830326: "beegfs",
	0x564c:     "ncp",
	0x73757245: "coda",
}

// sharedTypes are mountinfo filesystem types (or their prefixes, ending
// in ".") of the same kind, for what f_type does not tell apart.
var sharedTypes = []string{"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "fuse.", "fuseblk",
	"fuse", "lustre", "afs", "9p", "virtiofs", "gfs2", "ocfs2", "gpfs", "beegfs", "orangefs", "pvfs2", "coda"}

// detectWatch decides how changes to the directory fd shows: the mode
// (WatchInotify or WatchPoll) and why, for the mount log.
func detectWatch(fd int) (mode, why string) {
	fstype, source := mountOf(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return WatchPoll, "statfs failed (" + err.Error() + "): polling is right everywhere"
	}
	kind, shared := sharedMagic[int64(st.Type)]
	if !shared {
		for _, t := range sharedTypes {
			if fstype == t || strings.HasSuffix(t, ".") && strings.HasPrefix(fstype, t) {
				kind, shared = fstype, true
				break
			}
		}
	}
	desc := fmt.Sprintf("f_type %#x", st.Type)
	if fstype != "" {
		desc += ", mount type " + fstype
		if source != "" {
			desc += " from " + source
		}
	}
	if shared {
		return WatchPoll, fmt.Sprintf("STORE is on a network or FUSE filesystem (%s; %s): inotify misses other hosts' changes", kind, desc)
	}
	return WatchInotify, fmt.Sprintf("STORE is on a local filesystem (%s): inotify sees every change", desc)
}

// mountOf finds the mount holding the fd in /proc/self/mountinfo by its
// mount id: its filesystem type and source ("" if not found).
func mountOf(fd int) (fstype, source string) {
	var stx unix.Statx_t
	if unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx) != nil ||
		stx.Mask&unix.STATX_MNT_ID == 0 {
		return "", ""
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root point options [optional...] - type source super
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		if id, err := strconv.ParseUint(fields[0], 10, 64); err != nil || id != stx.Mnt_id {
			continue
		}
		for i, f := range fields {
			if f == "-" && i+2 < len(fields) {
				return fields[i+1], fields[i+2]
			}
		}
	}
	return "", ""
}
