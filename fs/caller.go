package fs

import (
	"context"
	"fmt"
	"os"

	"github.com/hanwen/go-fuse/v2/fuse"
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
