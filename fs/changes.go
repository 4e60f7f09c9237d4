package fs

import (
	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// kernelView is the mount's Viewer (events.go): it turns what the STORE
// side reports into kernel notifications, all through the notifier.
// Entries are invalidated only where a name no longer names what the
// kernel knows (notify.go); otherwise only contents are dropped.
type kernelView struct{ t *tree }

var _ = (Viewer)((*kernelView)(nil))

// view is the Viewer the STORE side of t reports to.
func (t *tree) view() Viewer { return &kernelView{t} }

func (v *kernelView) Changed(c Changes) {
	t := v.t
	root := t.root.EmbeddedInode()
	if nd := root.GetChild("new"); nd != nil && len(c.Staged) > 0 {
		for _, name := range c.Staged {
			if name != "" && !v.sameStage(nd, name) {
				t.notify.entry(nd, name)
			}
		}
		nd.NotifyContent(0, 0)
	}
	if len(c.Snapshots) == 0 && !c.All {
		if c.Root {
			root.NotifyContent(0, 0) // its attributes
		}
		return
	}
	names := c.Snapshots
	if c.All {
		names = nil
		for name := range root.Children() {
			names = append(names, name)
		}
	}
	for _, name := range names {
		ch := root.GetChild(name)
		if ch != nil {
			dropContent(ch)
			v.refreshSums(ch) // a record made or removed
			v.dropDecoded(ch, "value.txt", "value.json")
		}
		if ch == nil || !v.sameSnapshot(ch, name) {
			t.notify.entry(root, name)
		}
	}
	t.notify.entry(root, "latest")
	root.NotifyContent(0, 0) // the listing and the root's mtime
}

// Published drops the entries of a staging directory that just became a
// snapshot: the new name (a cached negative entry) and the staging name,
// which names nothing now. Apart from the publishing request, once no
// request holds a directory lock.
func (v *kernelView) Published(staged, name string) {
	go func() {
		root := v.t.root.EmbeddedInode()
		v.t.notify.entry(root, name)
		root.NotifyContent(0, 0)
		if nd := root.GetChild("new"); nd != nil {
			v.t.notify.entry(nd, staged)
			nd.NotifyContent(0, 0) // its cached listing
		}
	}()
}

func (v *kernelView) DigestMade(name string) {
	if ch := v.t.root.EmbeddedInode().GetChild(name); ch != nil {
		v.refreshSums(ch)
		ch.NotifyContent(0, 0) // its listing
	}
}

// SchemaChanged makes the kernel forget every value.json it knows, and
// whether it exists: the new schema may decode more or fewer units, or
// differently.
func (v *kernelView) SchemaChanged() {
	go func() {
		for _, snap := range v.t.root.EmbeddedInode().Children() {
			if _, ok := snap.Operations().(*snapDirNode); ok {
				v.dropDecoded(snap, "value.json")
			}
		}
	}()
}

func (v *kernelView) Known() []string {
	var names []string
	for name, ch := range v.t.root.EmbeddedInode().Children() {
		if _, ok := ch.Operations().(*snapDirNode); ok {
			names = append(names, name)
		}
	}
	return names
}

// sameSnapshot reports whether name still names the snapshot directory
// the kernel knows as ch: then its entry stays (a process may stand in
// it) and only its contents are refreshed.
func (v *kernelView) sameSnapshot(ch *fusefs.Inode, name string) bool {
	if _, ok := ch.Operations().(*snapDirNode); !ok {
		return false
	}
	e, err := v.t.store.Entry(name)
	return err == nil && ino(e.Ino, slotDir) == ch.StableAttr().Ino
}

// sameStage is sameSnapshot for a staging directory in new/.
func (v *kernelView) sameStage(nd *fusefs.Inode, name string) bool {
	ch := nd.GetChild(name)
	if ch == nil {
		return false
	}
	d, ok := ch.Operations().(*stagingDirNode)
	if !ok {
		return false
	}
	st, ok := v.t.stage.exists(name)
	return ok && st.Ino == d.ino
}

// refreshSums drops the kernel's entry for sha256sums in the snapshot
// directory ch (a negative one, cached while there was no record), so a
// record made or removed shows.
func (v *kernelView) refreshSums(ch *fusefs.Inode) {
	if _, ok := ch.Operations().(*snapDirNode); ok {
		v.t.notify.entry(ch, sumsName)
	}
}

// dropDecoded makes the kernel forget the entries names (value.txt,
// value.json) of every unit directory of the snapshot node snap that it
// knows, present or absent: whether they exist depends on the bytes and
// the schema, not on a STORE directory a notification would name.
func (v *kernelView) dropDecoded(snap *fusefs.Inode, names ...string) {
	state := snap.GetChild("state")
	if state == nil {
		return
	}
	for _, u := range state.Children() {
		if _, ok := u.Operations().(*unitDirNode); !ok {
			continue
		}
		for _, name := range names {
			if x := u.GetChild(name); x != nil {
				x.NotifyContent(0, 0)
			}
			v.t.notify.entry(u, name)
		}
		u.NotifyContent(0, 0) // its listing
	}
}

// dropContent drops the kernel's cached data and attributes of n and
// everything the daemon knows below it, so a node the kernel keeps (an
// open file, a cwd) is read again too.
func dropContent(n *fusefs.Inode) {
	for _, ch := range n.Children() {
		dropContent(ch)
	}
	n.NotifyContent(0, 0)
}
