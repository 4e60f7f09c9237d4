package fs

// The one edge from the STORE side up to the FUSE side. The STORE side
// (change detection, staging, digests, the schema) finds out that what the
// mount shows changed; it tells whoever shows the store through a Viewer,
// and never touches a node or the kernel itself. The FUSE side's Viewer
// (changes.go) turns the reports into kernel notifications. `grep Viewer`
// finds every place the two meet.

// Changes is one round of changes the STORE side found.
type Changes struct {
	Snapshots []string // STORE/<name> changed, or what the name names
	Staged    []string // new/<name> changed; "" is new/ itself
	All       bool     // events were lost: anything may have changed
	Root      bool     // STORE's own owner or mode changed
}

// Viewer is whoever shows the store (the FUSE tree). Changed and
// DigestMade are called from the STORE side's own goroutines; Published
// from the request that published, so a Viewer never notifies the kernel
// synchronously from inside it (a request holds the kernel's directory
// locks that a notification would wait for).
type Viewer interface {
	Changed(Changes)
	// Published: the staging directory staged is now the snapshot name.
	Published(staged, name string)
	// DigestMade: STORE/name has a digest record now.
	DigestMade(name string)
	// SchemaChanged: value.json may decode differently everywhere.
	SchemaChanged()
	// Known lists the snapshots the viewer holds (the kernel caches), so
	// the poller stats those that no watch covers.
	Known() []string
}
