package fs

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Who asked: the process, user and group of a request.

// callerOf is the user and group of the request in ctx (the daemon's own
// when there is none).
func callerOf(ctx context.Context) (uid, gid uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return uint32(os.Geteuid()), uint32(os.Getegid())
}

// callerPid is the process of the request in ctx (0 when there is none).
func callerPid(ctx context.Context) uint32 {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Pid
	}
	return 0
}

// copier returns pid when it is GNU cp or mv (which create every file of
// a directory they made with O_EXCL: see stagingDirNode.showsStatus), else 0.
func copier(pid uint32) uint32 {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err == nil && (string(comm) == "cp\n" || string(comm) == "mv\n") {
		return pid
	}
	return 0
}

// callerGroups are the supplementary groups of the request's process,
// from /proc (none when it is gone or there is no request).
func callerGroups(ctx context.Context) []uint32 {
	pid := callerPid(ctx)
	if pid == 0 {
		return nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Groups:"); ok {
			var out []uint32
			for _, f := range strings.Fields(rest) {
				if g, err := strconv.ParseUint(f, 10, 32); err == nil {
					out = append(out, uint32(g))
				}
			}
			return out
		}
	}
	return nil
}

// mayWriteDir reports whether uid (group gid, supplementary groups) may
// write and search the directory st, as the kernel would decide.
func mayWriteDir(st *unix.Stat_t, uid, gid uint32, groups []uint32) bool {
	if uid == 0 {
		return true
	}
	need := uint32(0o3) // write and search, for others
	switch {
	case uid == st.Uid:
		need <<= 6
	case gid == st.Gid || slices.Contains(groups, st.Gid):
		need <<= 3
	}
	return st.Mode&need == need
}
