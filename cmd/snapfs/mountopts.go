package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	snapfs "github.com/snapfs/snapfs/fs"
)

// applyOptions reads a mount(8) -o list. Generic options that mean
// nothing to snapfs (defaults, rw, nofail, x-..., _netdev) are accepted;
// nosuid and nodev are always on, so suid and dev are refused.
func (a *mountArgs) applyOptions(list string) error {
	for _, o := range strings.Split(list, ",") {
		key, val, _ := strings.Cut(o, "=")
		switch key {
		case "", "defaults", "rw", "auto", "noauto", "user", "nouser", "users", "nofail", "_netdev",
			"nosuid", "nodev", "async", "sync", "atime", "noatime", "relatime":
		case "suid", "dev":
			return fmt.Errorf("option %s: snapfs always mounts nosuid,nodev (set-id bits and device files in STORE never take effect); remove it", key)
		case "noexec":
			a.cfg.NoExec = true
		case "exec":
			a.cfg.NoExec = false
		case "allow_other":
			a.cfg.AllowOther = true
		case "ro", "read_only":
			a.cfg.ReadOnly = true
		case "no_passthrough":
			a.cfg.NoPassthrough = true
		case "debug":
			a.cfg.Debug = true
		case "no_watch":
			a.cfg.Watch = snapfs.WatchPoll
		case "watch":
			m, err := snapfs.ParseWatch(val)
			if err != nil {
				return fmt.Errorf("option watch=%q: want auto, inotify or poll", val)
			}
			a.cfg.Watch = m
		case "watch_budget":
			if err := positiveOption(key, val, &a.cfg.WatchBudget); err != nil {
				return err
			}
		case "commit_delay":
			d, err := parseDelay(val)
			if err != nil {
				return fmt.Errorf("option commit_delay=%q: %v", val, err)
			}
			a.cfg.CommitDelay = d
		case "max_fds_per_user":
			if err := positiveOption(key, val, &a.cfg.MaxFdsPerUser); err != nil {
				return err
			}
		case "max_staging_dirs_per_user":
			if err := positiveOption(key, val, &a.cfg.MaxStagingDirsPerUser); err != nil {
				return err
			}
		case "decoded_cache_bytes":
			n, err := parseBytes(val)
			if err != nil {
				return fmt.Errorf("option decoded_cache_bytes=%q: %v", val, err)
			}
			a.cfg.DecodedCacheBytes = n
		case "log":
			a.logFile = val
		case "schema":
			if val == "" {
				return fmt.Errorf("option schema needs a directory: schema=DIR")
			}
			a.cfg.Schema = val
		default:
			if strings.HasPrefix(key, "x-") || strings.HasPrefix(key, "comment=") {
				continue
			}
			return fmt.Errorf("unknown mount option %q", o)
		}
	}
	return nil
}

// positiveOption reads key=val, a count above zero, into n.
func positiveOption(key, val string, n *int) error {
	v, err := strconv.Atoi(val)
	if err != nil || v <= 0 {
		return fmt.Errorf("option %s=%q: not a positive number", key, val)
	}
	*n = v
	return nil
}

// parseDelay reads the value of a duration option: Go's syntax with a
// unit, never negative. The error says what is wrong and what to write;
// the caller names the option and the value.
func parseDelay(val string) (time.Duration, error) {
	const example = "use a duration such as 2s or 500ms"
	d, err := time.ParseDuration(val)
	if err != nil {
		return 0, fmt.Errorf("not a duration: %s", example)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative: %s (0 turns it off)", example)
	}
	return d, nil
}

// delayFlag is a duration flag read by parseDelay; the flag package
// names the flag and the value in its error.
type delayFlag struct{ d *time.Duration }

func (f delayFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f delayFlag) Set(s string) error {
	d, err := parseDelay(s)
	if err == nil {
		*f.d = d
	}
	return err
}

// parseBytes reads a memory budget: a size (parseSize), above zero.
func parseBytes(val string) (int64, error) {
	n, err := parseSize(val)
	if err != nil {
		return 0, err
	}
	if n == 0 || n > math.MaxInt64 {
		return 0, fmt.Errorf("want a size above zero such as 256M or 1G")
	}
	return int64(n), nil
}

// bytesFlag is a size flag read by parseBytes.
type bytesFlag struct{ n *int64 }

func (f bytesFlag) String() string {
	if f.n == nil {
		return ""
	}
	s := sizeFlag{uint64(*f.n)}
	return s.String()
}

func (f bytesFlag) Set(s string) error {
	n, err := parseBytes(s)
	if err == nil {
		*f.n = n
	}
	return err
}
