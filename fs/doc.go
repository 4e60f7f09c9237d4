// Package fs serves a store of OpenVMM snapshots as a FUSE tree (see
// docs/tree.md): one directory per snapshot with its files, their
// views and a status, plus latest and new/.
//
// # Nodes
//
// Each kind of entry is one node type in its own file: rootNode (MNT),
// snapDirNode (MNT/<name>), fieldsDirNode (manifest/), stateDirNode
// (state/), unitDirNode (state/<unit>/), viewNode (generated text:
// manifest.json, fields, status, type_url, a unit's value.txt and
// value.json), valueNode (a unit's bytes, a window onto state.bin), backingNode (manifest.bin, state.bin,
// memory.bin), latestNode, and for creating snapshots newDirNode (new/),
// stagingDirNode (new/<name>/), stagedViewDirNode (views written back
// into it: manifest/, state/, state/<unit>/), stagedFileNode and
// stagedStatusNode. Published nodes embed readOnly, which answers every
// change with EROFS.
//
// # Permissions and STORE access
//
// Every entry shows the owner, group and mode of the STORE file or
// directory it is or derives from (attr.go; views: read bits only), and
// the kernel enforces them (default_permissions, always on); SECURITY.md
// says what is promised. Below STORE nothing is resolved by path: a
// snapshot's files are opened with openat2(RESOLVE_BENEATH|
// RESOLVE_NO_SYMLINKS) from STORE's fd, and the staging area only
// through directory fds (beneath.go holds every such helper): .snapfs-staging, then the staging
// directory, then *at calls and O_PATH fds; a node below new/ is bound to
// the STORE inode it was looked up as and finds its place from the tree
// (stagedplace.go). Open files each hold a daemon fd, bounded per user
// (fdquota.go).
//
// Nodes hold names, not data: each operation asks the Store for the
// snapshot as it is now. The Store caches what it decoded per snapshot,
// keyed by the identity of the source files, and reads a file again only
// when it changed.
//
// # Restoring
//
// A read-write open of a published memory.bin gets a private clone
// (clone.go): an O_TMPFILE on STORE's filesystem, filled by FICLONE or a
// sparse copy, handed to the kernel with passthrough. A clone, like a
// staged file, is owned by the user who made it, so quotas charge them;
// the daemon drops CAP_SYS_RESOURCE at mount (caps.go), so the writes
// the kernel makes on its fds stop at the owner's quota, and those writes
// and the daemon's own run with the user's filesystem credentials, so
// root's reserved blocks stay root's (creds.go). --max-staged-bytes-per-user
// bounds each user's staged and clone bytes (stagedbytes.go). The kernel keeps
// one backing file and one page cache per inode, so every lookup of
// memory.bin makes a new node and its entry is never cached
// (rawlookup.go).
//
// # Speed
//
// The data path never reaches the daemon: opening a backing file hands
// the STORE fd to the kernel (FUSE passthrough), so read and mmap run at
// native speed; without passthrough, reads are spliced from the fd.
// Metadata is cached by the kernel as long as it likes: a watcher
// (inotify on STORE, its directories and the staging directory) turns
// every change into a store-cache invalidation and kernel notifications,
// so entries, attributes, view pages and directory listings need no
// timeouts, and directories are opened without a round trip (no-opendir,
// rawdir.go). On a STORE inotify cannot cover (a network or FUSE
// filesystem, detect.go) and for snapshots past the watch budget, a
// poller finds the changes instead (poll.go), once per interval. Two things no notification reports are always asked for:
// memory.bin's attributes and status (a restored VM writes memory.bin
// through mmap; status also depends on other snapshots).
//
// Memory stays bounded on large stores: the root is listed from one read
// of STORE (a directory's lstat and its manifest's created_at, for
// latest), snapshots are read only when looked at, and past
// maxCachedSnapshots the least recently used are dropped from the
// kernel's cache, so go-fuse forgets their nodes (evict.go). A directory
// listed in many READDIR batches is read once per listing (a cursor,
// rawdir.go).
//
// # Notifications
//
// Every kernel notification goes through the notifier (notify.go): an
// entry invalidation is sent only while no request that holds a
// directory lock is in flight (a daemon killed meanwhile would wedge the
// mount), only when the name no longer names what the kernel knows (an
// unhashed directory breaks getcwd() for whoever stands in it), and
// eviction asks the kernel to forget with NOTIFY_PRUNE, which keeps what
// is in use.
//
// # Decoded device state
//
// state/<unit>/value.txt (protoc --decode_raw's text) and value.json
// (the proto3 JSON mapping, with --schema) are views made by
// snapshot/statetext from the unit's bytes, read from state.bin on first
// need and kept, with state.bin's index, in the store's decoded cache
// (decodedcache.go): one byte budget for all snapshots
// (--decoded-cache-bytes), least recently used out first, keyed by the
// source file's identity, so hard links share one copy and a changed
// file is decoded afresh. They exist only when the
// value decodes; a unit the schema knows but cannot decode is a status
// warning. The schema (schema.go) is one immutable compiled version at a
// time: a change in its directory (inotify, or SIGHUP) loads a new one,
// whose generation keys value.json in the caches, and the kernel is told
// to forget every value.json entry and page it holds. A version that
// does not load is logged and the last good one stays.
//
// # Identity
//
// Inode numbers are derived from the STORE inode of a snapshot's
// directory and a slot per entry (ino.go), so they are unique within the
// mount and the same after a remount. Entries added later take new slot
// ranges (value.txt and value.json), so existing numbers never move.
//
// # Creating snapshots
//
// new/<name> is a directory of STORE/.snapfs-staging, on STORE's
// filesystem, so staged data survives a restart and publishing is a
// rename. The stager validates a staging directory on `mv new/X X`, or by
// itself once it is complete, closed and quiet for the commit delay, and
// publishes it with RENAME_NOREPLACE after fsyncing, through a directory
// only the daemon may write (snapshot.PublishAt), so that nothing but the
// validated directory can reach STORE. A stage's lock covers every change
// made through the mount, the validation and the rename; writers are
// counted per staging directory and per inode (a hard link from another
// staging directory counts). Views written back from a backup are
// checked against the staged snapshot's own (viewcheck.go) and removed
// on publishing; a written-back sha256sums never makes mv hash a large
// file under the kernel's rename locks (sumscache.go). A validation that
// a stopped daemon left unfinished (a durable marker, validating.go) is not
// tried again by itself until the staging directory changes.
// Once published, a snapshot gets its digest record in the background,
// taking turns per chunk (digest.go, digestqueue.go); the record and the last
// verification's result are read once per version of the snapshot and
// shown as sha256sums and in status.
//
// # Deleting and renaming
//
// The root implements rmdir and rename of snapshots (rootmanage.go): the
// kernel checks STORE's permissions from the attributes it shows, and the
// daemon checks again that the directory it moves is the one the kernel
// looked up and that a sticky STORE lets the caller move it. A deleted
// snapshot is renamed into STORE/.snapfs-trash (trash.go) and removed in
// the background through directory fds, never following a symlink; the
// trash is emptied again at mount. A snapshot's nodes share its name
// (snapName), so a rename moves what the kernel holds along with it and a
// delete leaves those nodes finding nothing. snapfs prune uses the same
// Store.Trash, with snapshot.Apply as the policy.
//
// # Two sides, one edge
//
// The package has a FUSE side (the nodes, the notifier, changes.go,
// evict.go) and a STORE side (the Store, change detection, staging,
// clones, trash, digests, schema). The STORE side tells the FUSE side of
// changes only through the Viewer interface (events.go), which
// kernelView (changes.go) implements with kernel notifications; it never
// walks the node tree or notifies the kernel itself. The STORE side is
// meant to become a package of its own that imports no go-fuse; until
// then, keep new STORE work free of node types and kernel calls.
//
// # Errors
//
// toErrno (errno.go) is the one place where errors become errnos; an
// unexpected error is logged and becomes EIO.
package fs
