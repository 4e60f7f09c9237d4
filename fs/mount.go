package fs

import (
	"fmt"
	"log"
	"log/slog"
	"os"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// MountConfig is everything Mount needs beyond the two paths.
type MountConfig struct {
	Options
	AllowOther bool // let other users in; adds default_permissions
	Debug      bool // log every FUSE operation (never file data, debuglog.go)
	NoExec     bool // no program on the mount may be executed (-o noexec)
	// ReloadSchema, when it receives, reads Options.Schema again (SIGHUP).
	ReloadSchema <-chan struct{}
}

// cacheForever is the kernel's timeout while a watcher reports every
// change to STORE as an invalidation.
const cacheForever = time.Hour

// watchMode decides how changes to STORE are found, and why.
func watchMode(fd int, o Options) (mode, why string) {
	switch {
	case o.NoWatch || o.Watch == WatchPoll:
		return WatchPoll, "asked for (--watch=poll)"
	case o.Watch == WatchInotify:
		return WatchInotify, "asked for (--watch=inotify)"
	}
	return detectWatch(fd)
}

// Mount serves STORE at mnt and returns once the mount is ready. The
// caller runs server.Wait and server.Unmount.
func Mount(storeDir, mnt string, cfg MountConfig) (*fuse.Server, error) {
	// Files made for a caller get exactly the mode the kernel sent, which
	// has the caller's umask applied already.
	syscall.Umask(0)
	raiseFdLimit()
	giveUpSysResource()
	var schema *schemaHolder
	if cfg.Schema != "" {
		// A schema that does not parse stops the mount, with the
		// parser's file:line:column.
		var err error
		if schema, err = loadSchemaHolder(cfg.Schema); err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
	}
	store, err := OpenStore(storeDir)
	if err != nil {
		return nil, err
	}
	t := newTree(store, cfg.Options)
	t.schema = schema
	mode, why := watchMode(store.fd, cfg.Options)
	var w *watcher
	if mode == WatchInotify {
		budget := watchBudget(cfg.WatchBudget)
		if w, err = startWatcher(store, t.view(), t.makeStaging(), budget); err != nil {
			mode, why = WatchPoll, "inotify failed ("+err.Error()+")"
		} else {
			why += fmt.Sprintf("; at most %d snapshot directories watched, the rest polled every %v", budget, pollInterval)
		}
	}
	// With either source the kernel caches until told; a polled STORE
	// keeps negative entries for one interval only, as no listing
	// reports a name that is still missing.
	timeout, negative := cacheForever, cacheForever
	if mode == WatchPoll {
		w = startPoller(store, t.view(), t.makeStaging())
		negative = pollInterval
	}
	slog.Info("watching STORE", "mode", mode, "why", why)
	// stop releases what serving needed, once the mount is gone.
	stop := func() {
		if w != nil {
			w.close()
		}
		store.Close()
	}
	opts := &fusefs.Options{
		MountOptions: fuse.MountOptions{
			FsName:       storeDir,
			Name:         "snapfs",
			DirectMount:  os.Geteuid() == 0,
			AllowOther:   cfg.AllowOther,
			MaxReadAhead: 1 << 20,
			MaxWrite:     1 << 20,
			// READDIRPLUS only where it pays: for the first batch and
			// when the reader stats what it lists (ls -l, walks); a plain
			// ls of a large store then needs no lookups.
			// HANDLE_KILLPRIV_V2: staged files carry no privileges to
			// drop (noPriv), so writes need no GETXATTR round trip.
			ExtraCapabilities: fuse.CAP_READDIRPLUS_AUTO | fuse.CAP_HANDLE_KILLPRIV_V2,
			Debug:             cfg.Debug,
			Logger:            log.New(newOpLog(), "", 0),
		},
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &negative,
		RootStableAttr:  &fusefs.StableAttr{Ino: inoRoot},
		Logger:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
	}
	if cfg.ReadOnly {
		// A read-only superblock also spares a GETATTR per directory: on
		// a writable one the kernel drops a directory's cached atime after
		// each readdir.
		opts.MountOptions.DirectMountFlags = syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_RDONLY
		opts.MountOptions.Options = append(opts.MountOptions.Options, "ro")
	}
	// Set-id bits and device files in STORE never take effect, also
	// when root mounts (go-fuse passes these as mount flags).
	opts.MountOptions.Options = append(opts.MountOptions.Options, "nosuid", "nodev")
	if cfg.NoExec {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "noexec")
	}
	// The kernel enforces STORE's owners and modes, which every entry
	// shows (attr.go): also for the mounting user, and for everyone with
	// --allow-other.
	opts.MountOptions.Options = append(opts.MountOptions.Options, "default_permissions")
	// The first listing of the root needs latest, which reads every
	// manifest: start on it while the kernel and go-fuse shake hands.
	go store.Latest()
	// callerThreads: the kernel's writes to staged files and clones are
	// the caller's (creds.go).
	nodes := &callerThreads{fusefs.NewNodeFS(t.root, opts)}
	raw := &tracked{&storeStatfs{&uncachedMemory{&zeroOpendir{RawFileSystem: nodes, on: w != nil}}}, t.notify}
	server, err := fuse.NewServer(raw, mnt, &opts.MountOptions)
	if err != nil {
		stop()
		return nil, fmt.Errorf("mounting %s at %s: %w", storeDir, mnt, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		server.Unmount()
		stop()
		return nil, fmt.Errorf("mounting %s at %s: %w", storeDir, mnt, err)
	}
	done := make(chan struct{})
	if !cfg.ReadOnly {
		t.resume()
		go store.emptyLoop(done) // what a killed daemon left in the trash, too
	}
	go func() { server.Wait(); close(done); stop() }()
	go t.evictLoop(done)
	if schema != nil {
		schema.changed = t.view().SchemaChanged
		go schema.run(!cfg.NoWatch && cfg.Watch != WatchPoll, done)
		if cfg.ReloadSchema != nil {
			go func() {
				for {
					select {
					case <-done:
						return
					case <-cfg.ReloadSchema:
						schema.request()
					}
				}
			}()
		}
	}
	// The kernel's protocol version is learned only here (snapfs version
	// points to this line).
	ks := server.KernelSettings()
	passthrough := !cfg.NoPassthrough && ks.Flags64()&fuse.CAP_PASSTHROUGH != 0
	slog.Info("mounted", "store", storeDir, "mnt", mnt,
		"passthrough", passthrough, "staged_passthrough", passthrough && t.passthroughWrites(),
		"fuse_protocol", fmt.Sprintf("%d.%d", ks.Major, ks.Minor))
	return server, nil
}

// raiseFdLimit lifts the soft limit on open files to the hard one: each
// open backing file holds a daemon fd (bounded per user, fdquota.go).
func raiseFdLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			slog.Warn("cannot raise the open file limit", "err", err)
		}
	}
}
