package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The absolute figures: how soon a mount of 10,000 snapshots answers, and
// how much memory the daemon holds once all of it has been looked at.

// benchMountReady times process start to the first ReadDir of MNT that
// returns entries, over a fresh daemon each round; seconds.
func benchMountReady(b *testing.B, env *benchEnv) benchMeasured {
	store := env.manyStore(b, env.manySnaps())
	mnt := b.TempDir()
	s, _ := benchRounds(env.rounds, func() float64 {
		d, ready := benchStartDaemon(b, store, mnt)
		d.stop()
		return ready.Seconds()
	}, nil)
	return benchMeasured{snapfs: s}
}

// benchRSS mounts 10,000 snapshots, walks the whole tree with lstat and
// reads every regular file but memory.bin, then reads the daemon's VmRSS
// (the figure) and VmHWM (its peak, a note); MiB, fresh daemon each round.
func benchRSS(b *testing.B, env *benchEnv) benchMeasured {
	store := env.manyStore(b, env.manySnaps())
	mnt := b.TempDir()
	var hwm, walks []float64
	var entries int
	s, _ := benchRounds(env.rounds, func() float64 {
		d, _ := benchStartDaemon(b, store, mnt)
		defer d.stop()
		var el time.Duration
		entries, el = benchLstatWalk(b, mnt, func(p string) {
			if filepath.Base(p) == "memory.bin" {
				return
			}
			if _, err := os.ReadFile(p); err != nil {
				b.Fatal(err)
			}
		})
		rss, peak := benchProcMem(b, d.cmd.Process.Pid)
		hwm = append(hwm, peak)
		walks = append(walks, el.Seconds())
		return rss
	}, nil)
	return benchMeasured{snapfs: s, notes: map[string]any{
		"entries": entries, "vmhwm_mib": hwm[1:], "walk_s": walks[1:]}}
}

// benchStartDaemon starts `snapfs mount flags store mnt` and waits for the
// first ReadDir of mnt (an empty directory until mounted) that returns
// entries; it returns the daemon and the time from start to then.
func benchStartDaemon(b *testing.B, store, mnt string, flags ...string) (*daemon, time.Duration) {
	d := &daemon{t: b, Store: store, Mnt: mnt, log: &syncBuffer{}, done: make(chan struct{})}
	args := append(append([]string{"mount"}, flags...), store, mnt)
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	start := time.Now()
	if err := d.cmd.Start(); err != nil {
		b.Fatalf("starting snapfs mount: %v", err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	b.Cleanup(d.stop)
	for {
		if ents, err := os.ReadDir(mnt); err == nil && len(ents) > 0 {
			return d, time.Since(start)
		}
		select {
		case <-d.done:
			b.Fatalf("snapfs mount exited before the mount was ready: %v\n%s", d.err, d.log)
		default:
		}
		if time.Since(start) > 60*time.Second {
			d.kill()
			b.Fatalf("mount at %s not ready after 60s\n%s", mnt, d.log)
		}
		time.Sleep(time.Millisecond)
	}
}

// benchProcMem reads VmRSS and VmHWM of pid, in MiB.
func benchProcMem(b *testing.B, pid int) (rss, hwm float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		if err != nil {
			b.Fatalf("/proc/%d/status: %q: %v", pid, sc.Text(), err)
		}
		if key == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	if rss == 0 {
		b.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, hwm
}
