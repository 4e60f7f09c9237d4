package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	snapfs "github.com/snapfs/snapfs/fs"
)

func init() {
	register("mount", "serve a snapshot store as a filesystem", runMount)
}

// mountArgs are the parsed flags of `snapfs mount`.
type mountArgs struct {
	cfg     snapfs.MountConfig
	daemon  bool
	logFile string
	store   string
	mnt     string
}

func mountFlags(a *mountArgs, stderr io.Writer) *flag.FlagSet {
	h := newCmdHelp("mount", "[flags] [-o OPTIONS] STORE MNT",
		"Serves the snapshots in STORE at MNT until SIGINT/SIGTERM or umount, then\n"+
			"exits 0. A dead mount left at MNT by a killed daemon is detached and\n"+
			"replaced; MNT inside STORE (or the reverse) is refused. After make install,\n"+
			"mount -t snapfs STORE MNT runs it too (mount.snapfs(8)).",
		stderr)
	h.options = true
	fl := h.fl
	fl.BoolVar(&a.cfg.AllowOther, "allow-other", false, "let other users access the mount (with default_permissions)")
	fl.BoolVar(&a.cfg.ReadOnly, "read-only", false, "no new/: snapshots cannot be created")
	fl.BoolVar(&a.cfg.NoPassthrough, "no-passthrough", false, "serve file reads through the daemon instead of FUSE passthrough")
	fl.BoolVar(&a.cfg.Debug, "debug", false, "log every FUSE operation")
	fl.Func("watch", "how changes to STORE are found (`MODE`): auto (from STORE's filesystem), inotify, or poll (a STORE other hosts change)", func(s string) error {
		m, err := snapfs.ParseWatch(s)
		a.cfg.Watch = m
		return err
	})
	fl.BoolFunc("no-watch", "same as --watch=poll", func(string) error { a.cfg.Watch = snapfs.WatchPoll; return nil })
	fl.IntVar(&a.cfg.WatchBudget, "watch-budget", 0, "at most `N` inotify watches on snapshot directories (default 8192, or a quarter of max_user_watches); the rest are polled")
	a.cfg.CommitDelay = 2 * time.Second
	fl.Var(delayFlag{&a.cfg.CommitDelay}, "commit-delay", "publish a complete staged snapshot after it is unchanged for this `duration` (0: only on rename)")
	fl.IntVar(&a.cfg.MaxFdsPerUser, "max-fds-per-user", snapfs.DefaultMaxFdsPerUser, "`N` files one user may hold open in the daemon at once (EMFILE past it)")
	fl.IntVar(&a.cfg.MaxStagingDirsPerUser, "max-staging-dirs-per-user", snapfs.DefaultMaxStagingDirsPerUser, "`N` staging directories one user other than root may have in new/ at once (EDQUOT past it)")
	a.cfg.DecodedCacheBytes = snapfs.DefaultDecodedCacheBytes
	fl.Var(bytesFlag{&a.cfg.DecodedCacheBytes}, "decoded-cache-bytes", "memory for decoded state of all snapshots (state.bin indexes, value.txt, value.json), least recently used dropped first: a `SIZE` such as 256M or 1G")
	fl.Var(bytesFlag{&a.cfg.MaxStagedBytesPerUser}, "max-staged-bytes-per-user", "the most bytes (a `SIZE` such as 20G) one user other than root may hold in new/ and in open restore clones, as allocated on disk (EDQUOT past it; default: no limit). "+
		"With it, staged files and restore clones are served by the daemon (it must see every write to count it), not through FUSE passthrough: slower writes and restores; published snapshots are still read through passthrough")
	fl.StringVar(&a.cfg.Schema, "schema", "", "the directory `DIR` of OpenVMM's saved-state .proto files (openvmm --write-saved-state-proto): adds state/<unit>/value.json; reloaded when it changes or on SIGHUP")
	fl.BoolVar(&a.daemon, "daemon", false, "return once the mount is ready, serving in the background")
	fl.StringVar(&a.logFile, "log", "", "append the log to this `FILE`, made 0600; refused through a symlink, readable by others, or in a directory others may write (default: stderr; discarded with --daemon)")
	fl.Func("o", "mount(8) style `OPTIONS`, comma-separated: the mount options below", func(s string) error {
		return a.applyOptions(s)
	})
	return fl
}

func runMount(args []string, stdout, stderr io.Writer) int {
	var a mountArgs
	fl := mountFlags(&a, stderr)
	pos, code, done := parseCmdArgs(fl, args, stdout)
	if done {
		return code
	}
	if len(pos) != 2 {
		return usageError(fl, "need STORE and MNT")
	}
	a.store, a.mnt = pos[0], pos[1]
	daemonArgs = args
	return a.mount(stderr)
}

func (a *mountArgs) mount(stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "snapfs mount: %v\n", err)
		return 1
	}
	store, mnt, err := checkPaths(a.store, a.mnt)
	if err != nil {
		return fail(err)
	}
	if a.cfg.Schema != "" {
		if a.cfg.Schema, err = filepath.Abs(a.cfg.Schema); err != nil {
			return fail(err)
		}
	}
	var lf *logFile
	var logOut io.Writer = stderr
	if a.logFile != "" {
		// Opened (and checked) before --daemon starts the child too, so
		// a refused log file is reported where the admin sees it.
		if lf, err = newLogFile(a.logFile); err != nil {
			reportReady(err)
			return fail(err)
		}
		defer lf.Close()
		logOut = lf
	} else if os.Getenv(readyEnv) != "" {
		logOut = io.Discard
	}
	if a.daemon && os.Getenv(readyEnv) == "" {
		return startDaemon(stderr)
	}
	d := &daemon{mnt: mnt, log: lf, level: new(slog.LevelVar), base: slog.LevelInfo}
	if a.cfg.Debug {
		d.base = slog.LevelDebug
	}
	d.level.Set(d.base)
	slog.SetDefault(slog.New(newLogHandler(logOut, d.level)))
	// From here on a failure is logged too, with the exit.
	fail = func(err error) int {
		fmt.Fprintf(stderr, "snapfs mount: %v\n", err)
		if logOut != stderr {
			slog.Error("cannot mount", "err", err)
		}
		return d.exit(1, err.Error())
	}
	slog.Info("starting", a.startAttrs(store, mnt)...)

	if os.Getenv("GOMEMLIMIT") == "" {
		// A daemon that lives for months: collect before growing past
		// what its caches need (a soft limit, not a cap).
		keepMemoryLimit()
	}
	if os.Geteuid() != 0 {
		if _, err := findFusermount(); err != nil {
			return fail(err)
		}
	}
	// Catch signals before mounting: a SIGTERM while go-fuse is still
	// probing its own mount must wait for a clean unmount, not exit under
	// a request this process would have to answer itself. Each has its
	// own channel, so that many SIGHUPs never crowd out a SIGTERM.
	stop, hup, usr2 := make(chan os.Signal, 1), make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	signal.Notify(hup, syscall.SIGHUP)
	signal.Notify(usr2, syscall.SIGUSR2)
	if a.cfg.Schema != "" {
		reload := make(chan struct{}, 1)
		a.cfg.ReloadSchema = reload
		d.reload = reload
	}
	server, err := snapfs.Mount(store, mnt, a.cfg)
	if err != nil {
		reportReady(err)
		return fail(err)
	}
	reportReady(nil)
	return d.serve(server, stop, hup, usr2)
}

// startAttrs are the effective configuration and what the kernel offers,
// for the "starting" log line.
func (a *mountArgs) startAttrs(store, mnt string) []any {
	k := probeKernel()
	c := a.cfg
	watch := c.Watch
	if watch == "" {
		watch = snapfs.WatchAuto
	}
	return []any{"version", version, "pid", os.Getpid(), "uid", os.Geteuid(), "store", store, "mnt", mnt,
		"allow_other", c.AllowOther, "read_only", c.ReadOnly, "noexec", c.NoExec,
		"no_passthrough", c.NoPassthrough, "debug", c.Debug, "watch", watch, "watch_budget", c.WatchBudget,
		"commit_delay", c.CommitDelay, "max_fds_per_user", c.MaxFdsPerUser,
		"max_staging_dirs_per_user", c.MaxStagingDirsPerUser, "decoded_cache_bytes", c.DecodedCacheBytes,
		"max_staged_bytes_per_user", c.MaxStagedBytesPerUser, "schema", c.Schema, "log", a.logFile,
		"kernel", k.release, "kernel_passthrough", k.passthrough()}
}

// checkPaths makes both paths absolute and real, replaces a dead mount
// left at MNT, and refuses a MNT inside STORE or a STORE inside MNT.
func checkPaths(store, mnt string) (string, string, error) {
	// The old mount is looked at through mountinfo and a bounded statfs
	// (never answered from the kernel's caches), before anything else
	// touches MNT.
	if abs, err := filepath.Abs(mnt); err == nil {
		if err := clearOldMount(filepath.Clean(abs)); err != nil {
			return "", "", err
		}
	}
	real := func(p, what string) (string, error) {
		abs, err := filepath.Abs(p)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", what, p, errors.Unwrap(err))
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return "", err
		}
		if !fi.IsDir() {
			return "", fmt.Errorf("%s %s is not a directory", what, p)
		}
		return abs, nil
	}
	s, err := real(store, "STORE")
	if err != nil {
		return "", "", err
	}
	m, err := real(mnt, "MNT")
	if err != nil {
		return "", "", err
	}
	within := func(a, b string) bool { return a == b || strings.HasPrefix(a, b+"/") || b == "/" }
	if within(m, s) {
		return "", "", fmt.Errorf("MNT %s is inside STORE %s", m, s)
	}
	if within(s, m) {
		return "", "", fmt.Errorf("STORE %s is inside MNT %s", s, m)
	}
	return s, m, nil
}

func findFusermount() (string, error) {
	for _, name := range []string{"fusermount3", "fusermount"} {
		if p, err := execLookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("not root and no fusermount3 found: install the fuse3 package (apt-get install fuse3) or run as root")
}
