package fs

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// Managing snapshots from the mount: rmdir MNT/<name> deletes a snapshot
// (into the trash, trash.go), mv MNT/<a> MNT/<b> renames it. The kernel
// has checked the caller against the attributes the mount shows, which
// are STORE's (default_permissions): write and search on the root, which
// is STORE, and the sticky bit's ownership rule. The daemon checks again
// what it can against STORE as it is now (the sticky rule; the kernel's
// view of owners may be a moment old) and that the directory it moves is
// the one the kernel looked up.

var (
	_ = (fusefs.NodeRmdirer)((*rootNode)(nil))
	_ = (fusefs.NodeRenamer)((*rootNode)(nil))
)

// Rmdir deletes the snapshot name, although its directory is not empty
// (as ZFS does in .zfs/snapshot). Files already open keep working.
func (r *rootNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if reserved(name) || r.t.opts.ReadOnly {
		return syscall.EROFS
	}
	uid, gid := callerOf(ctx)
	node, want := r.known(name)
	groups := callerGroups(ctx)
	may := r.mayChange(uid, name, want)
	entry, err := r.t.store.Trash(name, func(st *unix.Stat_t) error {
		if err := may(st); err != nil {
			return err
		}
		// What rm -rf would need: its entries are removed from it.
		if !mayWriteDir(st, uid, gid, groups) {
			return fmt.Errorf("snapshot %q (uid %d, mode %#o) may not be written by uid %d: %w", name, st.Uid, st.Mode&0o7777, uid, syscall.EACCES)
		}
		return nil
	})
	if err != nil {
		return toErrno(ctx, "rmdir", err)
	}
	deletes.Add(1)
	if node != nil {
		node.name.set("") // its nodes find nothing now, not a later snapshot of that name
	}
	slog.Info("deleted snapshot", "name", name, "uid", uid, "trash", trashDirName+"/"+entry)
	r.changed()
	return 0
}

// Rename renames the snapshot name to newName within the root, never
// replacing anything. Moving a snapshot into new/ (or below another
// snapshot) is EPERM, not EXDEV, so mv does not fall back to copying it;
// out of the mount the kernel answers EXDEV.
func (r *rootNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if reserved(name) || r.t.opts.ReadOnly {
		return syscall.EROFS
	}
	if flags&^uint32(unix.RENAME_NOREPLACE) != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE, RENAME_WHITEOUT
	}
	if _, ok := newParent.(*rootNode); !ok {
		return syscall.EPERM
	}
	if newName == "new" {
		return syscall.EEXIST // the mount's own new/, which exists
	}
	uid, _ := callerOf(ctx)
	node, want := r.known(name)
	if err := r.t.store.Rename(name, newName, r.mayChange(uid, name, want)); err != nil {
		return toErrno(ctx, "rename", err)
	}
	if node != nil {
		node.name.set(newName) // go-fuse moves the node; the kernel keeps it
	}
	slog.Info("renamed snapshot", "name", name, "to", newName, "uid", uid)
	r.changed()
	return 0
}

// known returns the snapshot directory node the kernel knows as name and
// the inode number it shows, if any.
func (r *rootNode) known(name string) (*snapDirNode, uint64) {
	ch := r.EmbeddedInode().GetChild(name)
	if ch == nil {
		return nil, 0
	}
	d, ok := ch.Operations().(*snapDirNode)
	if !ok || d.name.get() != name {
		return nil, 0
	}
	return d, ch.StableAttr().Ino
}

// mayChange is the last check before STORE/name is moved, on its lstat
// st: it must be the snapshot the kernel looked up (inode want, when
// known) or else a snapshot of the listing, and STORE's sticky bit must
// let uid move it.
func (r *rootNode) mayChange(uid uint32, name string, want uint64) func(st *unix.Stat_t) error {
	return func(st *unix.Stat_t) error {
		gone := fmt.Errorf("snapshot %q is gone: %w", name, syscall.ENOENT)
		if want != 0 {
			if ino(st.Ino, slotDir) != want {
				return gone
			}
		} else if e, err := r.t.store.Entry(name); err != nil || e.Ino != st.Ino {
			return gone
		}
		var store unix.Stat_t
		if err := unix.Fstat(r.t.store.fd, &store); err != nil {
			return err
		}
		if store.Mode&unix.S_ISVTX != 0 && uid != 0 && uid != store.Uid && uid != st.Uid {
			return fmt.Errorf("snapshot %q belongs to uid %d in a sticky STORE: %w", name, st.Uid, syscall.EPERM)
		}
		return nil
	}
}

// changed tells the kernel, once the request is answered, that the root
// listing, its mtime and latest may have changed. (The kernel itself
// dropped or moved the entry the request named.)
func (r *rootNode) changed() {
	go func() {
		root := r.EmbeddedInode()
		r.t.notify.entry(root, "latest")
		root.NotifyContent(0, 0)
	}()
}
