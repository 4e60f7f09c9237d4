package fs

import (
	"context"
	"fmt"
	"strings"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// stagedStatusNode is new/<name>/status: what is missing, how much has
// arrived, and what the last validation found.
type stagedStatusNode struct {
	fusefs.Inode
	readOnly
	t       *tree
	created string // the staging name at lookup, before the node is in the tree
	dirIno  uint64 // STORE inode of the staging directory
}

var (
	_ = (fusefs.NodeGetattrer)((*stagedStatusNode)(nil))
	_ = (fusefs.NodeOpener)((*stagedStatusNode)(nil))
	_ = (fusefs.NodeSetattrer)((*stagedStatusNode)(nil))
	_ = (fusefs.NodeWriter)((*stagedStatusNode)(nil))
	_ = (fusefs.NodeSetxattrer)((*stagedStatusNode)(nil))
	_ = (fusefs.NodeRemovexattrer)((*stagedStatusNode)(nil))
)

func (n *stagedStatusNode) stage() string {
	if _, dir := n.Parent(); dir != nil {
		if name, p := dir.Parent(); p != nil {
			return name
		}
	}
	return n.created
}

func (n *stagedStatusNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	data, st, err := n.t.stage.status(n.stage(), n.dirIno)
	if err != nil {
		return toErrno(ctx, "getattr", err)
	}
	setView(out, n.StableAttr().Ino, len(data), &st)
	out.Mode |= st.Mode & 0o200 // its owner may write one back (sinkHandle)
	return 0
}

// Setattr accepts and ignores what a tool restoring a backup sets on the
// status it wrote back (times, mode).
func (n *stagedStatusNode) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	out.SetTimeout(volatile)
	return n.attr(ctx, &out.Attr)
}

// Write takes what a sinkHandle is given (readOnly would refuse it first).
func (n *stagedStatusNode) Write(ctx context.Context, f fusefs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	return uint32(len(data)), 0
}

// Setxattr and Removexattr accept and ignore what a tool restoring a
// backup sets on status (cp -a's ACL): there is nothing of status to keep.
func (n *stagedStatusNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return 0
}

func (n *stagedStatusNode) Removexattr(ctx context.Context, attr string) syscall.Errno { return 0 }

// sinkHandle is a status written back into a staging directory: status
// is the daemon's, so what is written is accepted and dropped.
type sinkHandle struct{}

var (
	_ = (fusefs.FileWriter)(sinkHandle{})
	_ = (fusefs.FileReader)(sinkHandle{})
)

func (sinkHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return uint32(len(data)), 0
}

func (sinkHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultData(nil), 0
}

func (n *stagedStatusNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.SetTimeout(volatile)
	if h, ok := f.(*viewHandle); ok {
		out.Attr = h.attr
		return 0
	}
	return n.attr(ctx, &out.Attr)
}

func (n *stagedStatusNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if wantsWrite(flags) {
		return sinkHandle{}, fuse.FOPEN_DIRECT_IO, 0 // a status from a backup: see sinkHandle
	}
	data, st, err := n.t.stage.status(n.stage(), n.dirIno)
	if err != nil {
		return nil, 0, toErrno(ctx, "open", err)
	}
	h := &viewHandle{data: data}
	setView(&h.attr, n.StableAttr().Ino, len(data), &st)
	return h, fuse.FOPEN_DIRECT_IO, 0
}

// status renders the staging status view of name, and stats its
// directory (whose owner and read bits the view takes).
func (s *stager) status(name string, ino uint64) ([]byte, unix.Stat_t, error) {
	var self unix.Stat_t
	dir, err := s.openStage(name, ino)
	if err != nil {
		return nil, self, err
	}
	defer dir.Close()
	if err := unix.Fstat(int(dir.Fd()), &self); err != nil {
		return nil, self, err
	}
	var b strings.Builder
	var files int
	var bytes int64
	var refused []string
	for _, n := range stagedNames(dir) {
		st, err := statEntry(dir, n)
		if err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && viewDirs[n] {
			continue // written-back views
		}
		if err := kindError(n, st.Mode); err != nil {
			refused = append(refused, err.Error())
			continue
		}
		files++
		bytes += st.Size
	}
	st := s.get(name)
	st.mu.Lock()
	writers, last := st.writers, st.last
	started, stopped := s.interrupted(dir) // under the lock: not a validation running now
	st.mu.Unlock()
	missing := missingFiles(dir)
	if len(missing) > 0 {
		fmt.Fprintf(&b, "missing: %s\n", strings.Join(missing, ", "))
	}
	fmt.Fprintf(&b, "received: %d bytes in %d files\n", bytes, files)
	for _, r := range refused {
		fmt.Fprintf(&b, "error: %s; it is never followed: remove it\n", r)
	}
	if writers > 0 {
		fmt.Fprintf(&b, "open for writing: %d\n", writers)
	} else if s.busy(dir) {
		b.WriteString("open for writing: through a hard link in another staging directory\n")
	}
	if stopped {
		b.WriteString(interruptedLine(started))
	} else if last != "" {
		b.WriteString("last validation failed:\n")
		b.WriteString(last)
	} else if len(missing) == 0 && len(refused) == 0 {
		if s.t.opts.CommitDelay > 0 {
			fmt.Fprintf(&b, "complete: publishes after %v without changes, or now with mv new/%s %s\n", s.t.opts.CommitDelay, name, name)
		} else {
			fmt.Fprintf(&b, "complete: publish with mv new/%s %s\n", name, name)
		}
	}
	return []byte(b.String()), self, nil
}
