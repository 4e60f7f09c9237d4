package fs

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// stagedStatusNode is new/<name>/status: what is missing, how much has
// arrived, and what the last validation found.
type stagedStatusNode struct {
	fusefs.Inode
	readOnly
	t       *tree
	created string // the staging name at lookup, before the node is in the tree
}

var (
	_ = (fusefs.NodeGetattrer)((*stagedStatusNode)(nil))
	_ = (fusefs.NodeOpener)((*stagedStatusNode)(nil))
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
	name := n.stage()
	st, ok := n.t.stage.exists(name)
	if !ok {
		return syscall.ENOENT
	}
	setView(out, n.StableAttr().Ino, len(n.t.stage.status(name)), &st)
	return 0
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
		return nil, 0, syscall.EACCES
	}
	h := &viewHandle{data: n.t.stage.status(n.stage())}
	if errno := n.attr(ctx, &h.attr); errno != 0 {
		return nil, 0, errno
	}
	h.attr.Size = uint64(len(h.data))
	return h, fuse.FOPEN_DIRECT_IO, 0
}

// status renders the staging status view.
func (s *stager) status(name string) []byte {
	var b strings.Builder
	var files int
	var bytes int64
	for _, n := range stagedNames(s.path(name)) {
		if fi, err := os.Lstat(s.path(name) + "/" + n); err == nil && fi.Mode().IsRegular() {
			files++
			bytes += fi.Size()
		}
	}
	st := s.get(name)
	st.mu.Lock()
	writers, last := st.writers, st.last
	st.mu.Unlock()
	missing := s.missing(name)
	if len(missing) > 0 {
		fmt.Fprintf(&b, "missing: %s\n", strings.Join(missing, ", "))
	}
	fmt.Fprintf(&b, "received: %d bytes in %d files\n", bytes, files)
	if writers > 0 {
		fmt.Fprintf(&b, "open for writing: %d\n", writers)
	}
	if last != "" {
		b.WriteString("last validation failed:\n")
		b.WriteString(last)
	} else if len(missing) == 0 {
		if s.t.opts.CommitDelay > 0 {
			fmt.Fprintf(&b, "complete: publishes after %v without changes, or now with mv new/%s %s\n", s.t.opts.CommitDelay, name, name)
		} else {
			fmt.Fprintf(&b, "complete: publish with mv new/%s %s\n", name, name)
		}
	}
	return []byte(b.String())
}
