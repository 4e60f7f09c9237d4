package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// daemon is a mounted snapfs's life until it exits: the signals it
// answers (SIGHUP never ends it, SIGUSR2 toggles debug lines,
// SIGTERM/SIGINT unmount), each logged with what it did.
type daemon struct {
	mnt    string
	log    *logFile        // --log FILE, which SIGHUP reopens; nil otherwise
	level  *slog.LevelVar  // the handler's level, which SIGUSR2 changes
	base   slog.Level      // the level asked for (--log-level, --debug)
	reload chan<- struct{} // --schema's reload; nil without --schema
}

// serve waits until the mount ends, by umount from outside or by
// SIGTERM/SIGINT, and returns the exit code.
func (d *daemon) serve(server *fuse.Server, stop, hup, usr2 <-chan os.Signal) int {
	done := make(chan struct{})
	go func() { server.Wait(); close(done) }()
	for {
		select {
		case <-done:
			slog.Info("unmounted", "mnt", d.mnt, "cause", "umount from outside (umount(8), fusermount -u, or a lazy unmount)")
			return d.exit(0, "unmounted from outside")
		case sig := <-stop:
			return d.stop(server, sig)
		case <-hup:
			d.hangup()
		case <-usr2:
			d.toggleDebug()
		}
	}
}

// stop unmounts after SIGTERM or SIGINT; with files still open, the
// mount is detached and the kernel finishes once the last one closes.
func (d *daemon) stop(server *fuse.Server, sig os.Signal) int {
	slog.Info("unmounting", "signal", sig.String(), "mnt", d.mnt)
	if err := server.Unmount(); err != nil {
		slog.Info("mount busy, detaching", "err", err)
		if err := unix.Unmount(d.mnt, unix.MNT_DETACH); err != nil {
			err = fmt.Errorf("unmount %s: %w", d.mnt, err)
			slog.Error("cannot unmount", "mnt", d.mnt, "err", err)
			return d.exit(1, err.Error())
		}
		slog.Info("unmounted", "mnt", d.mnt, "cause", sig.String()+", detached while files were open")
	} else {
		slog.Info("unmounted", "mnt", d.mnt, "cause", sig.String())
	}
	return d.exit(0, sig.String())
}

// hangup answers SIGHUP: the log is reopened (logrotate moved it) and
// the schema reloaded; the mount goes on.
func (d *daemon) hangup() {
	var did []string
	if d.log != nil {
		// The last line of the old file says where the log went.
		slog.Info("SIGHUP: reopening the log", "log", d.log.path)
		if err := d.log.reopen(); err != nil {
			slog.Error("SIGHUP: cannot reopen the log, still writing the old file", "log", d.log.path, "err", err)
		} else {
			did = append(did, "reopened the log")
		}
	}
	if d.reload != nil {
		select {
		case d.reload <- struct{}{}:
		default: // a reload is pending already
		}
		did = append(did, "reloading the schema")
	}
	if len(did) == 0 {
		did = append(did, "nothing to do (no --log, no --schema); the mount goes on")
	}
	slog.Info("SIGHUP", "did", strings.Join(did, ", "))
}

// toggleDebug answers SIGUSR2: debug lines on, or back to the level
// asked for (info when that was debug). FUSE request tracing is --debug.
func (d *daemon) toggleDebug() {
	to := slog.LevelDebug
	if d.level.Level() == slog.LevelDebug {
		to = max(d.base, slog.LevelInfo)
	}
	d.level.Set(to)
	slog.Log(context.Background(), max(to, slog.LevelInfo), "SIGUSR2: log level changed", "level", to.String())
}

// exit logs the daemon's last line and returns code.
func (d *daemon) exit(code int, cause string) int {
	slog.Info("exiting", "code", code, "cause", cause)
	return code
}
