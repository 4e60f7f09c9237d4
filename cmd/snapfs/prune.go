package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	snapfs "github.com/snapfs/snapfs/fs"
	"github.com/snapfs/snapfs/snapshot"
)

func init() {
	register("prune", "delete the snapshots a retention policy does not keep", runPrune)
}

// countFlag is a --keep-* count: a number, or "unlimited" (-1).
type countFlag struct{ n int }

func (c *countFlag) String() string {
	if c.n < 0 {
		return "unlimited"
	}
	return strconv.Itoa(c.n)
}

func (c *countFlag) Set(s string) error {
	if s == "unlimited" {
		c.n = -1
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a count (0, 1, 2, ... or unlimited)", s)
	}
	c.n = n
	return nil
}

// withinFlag is --keep-within.
type withinFlag struct{ w snapshot.Within }

func (f *withinFlag) String() string { return f.w.String() }

func (f *withinFlag) Set(s string) (err error) {
	f.w, err = snapshot.ParseWithin(s)
	return err
}

// pruneItem is one snapshot in prune's report.
type pruneItem struct {
	Name      string   `json:"name"`
	Owner     uint32   `json:"owner"` // uid of the snapshot directory
	CreatedAt string   `json:"created_at,omitempty"`
	Reasons   []string `json:"reasons,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// pruneReport is prune's --json output.
type pruneReport struct {
	Policy  string      `json:"policy"`
	DryRun  bool        `json:"dry_run"`
	Keep    []pruneItem `json:"keep"`
	Remove  []pruneItem `json:"remove"`
	Skipped []pruneItem `json:"skipped"`
	Failed  int         `json:"failed"`
}

func runPrune(args []string, stdout, stderr io.Writer) int {
	fl := newCmdFlags("prune", "[--keep-last N] [--keep-within DURATION] [--keep-daily N] [--keep-weekly N] [--dry-run] [--json] STORE",
		"Deletes the snapshots of STORE that the policy does not keep, with restic's\n"+
			"semantics (`restic forget`): by created_at, newest first; a snapshot is kept when\n"+
			"any option keeps it. The policy applies to each owner's snapshots (the uid of\n"+
			"the snapshot directory) on its own, so no owner's snapshots push out another's.\n"+
			"A snapshot whose created_at is more than 5 minutes after now counts for no\n"+
			"option and is never removed: it is reported as skipped. --keep-daily and --keep-weekly count local days and ISO\n"+
			"weeks that have a snapshot; --keep-within counts back from the newest snapshot\n"+
			"(DURATION like 30d, 12h, 2m or 1y6m: y years, m months, d days, h hours).\n"+
			"Without any --keep option nothing is removed. Only valid snapshots are\n"+
			"considered; staging directories, the trash and anything else are never touched.\n"+
			"A removal is atomic (a rename into STORE/.snapfs-trash, then emptied), as with\n"+
			"rmdir on a mount. Exit status: 0 done, 1 a removal failed (what was removed\n"+
			"stays removed), 2 usage.",
		stderr)
	var last, daily, weekly countFlag
	var within withinFlag
	fl.Var(&last, "keep-last", "keep the `N` newest snapshots (or unlimited)")
	fl.Var(&daily, "keep-daily", "keep the newest snapshot of each of the last `N` days that have one")
	fl.Var(&weekly, "keep-weekly", "keep the newest snapshot of each of the last `N` weeks that have one")
	fl.Var(&within, "keep-within", "keep every snapshot within `DURATION` of the newest (e.g. 30d, 1y6m)")
	dry := fl.Bool("dry-run", false, "print what would be removed; change nothing")
	asJSON := fl.Bool("json", false, "print the report as JSON")
	pos, code, done := parseCmdArgs(fl, args, stdout)
	if done {
		return code
	}
	if len(pos) != 1 {
		return usageError(fl, "need exactly one STORE directory, got %d arguments", len(pos))
	}
	p := snapshot.Keep{Last: last.n, Daily: daily.n, Weekly: weekly.n, Within: within.w}
	store, err := snapfs.OpenStore(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "snapfs prune: %v\n", err)
		return 1
	}
	defer store.Close()
	rep, err := prune(store, p, *dry, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "snapfs prune: %s: %v\n", pos[0], err)
		return 1
	}
	if p.Empty() {
		fmt.Fprintf(stderr, "snapfs prune: no --keep option given: nothing is removed\n")
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printPrune(stdout, rep)
	}
	if rep.Failed > 0 {
		return 1
	}
	return 0
}

// prune applies p to the valid snapshots of store and, unless dry, moves
// those it does not keep into the trash, then empties the trash.
func prune(store *snapfs.Store, p snapshot.Keep, dry bool, now time.Time) (*pruneReport, error) {
	list, err := store.List()
	if err != nil {
		return nil, err
	}
	rep := &pruneReport{Policy: p.String(), DryRun: dry, Keep: []pruneItem{}, Remove: []pruneItem{}, Skipped: []pruneItem{}}
	inos := map[string]uint64{}
	owners := map[string]uint32{}
	var dated []snapshot.Dated
	for _, e := range list {
		// One dated in the future is invalid too; Apply says why it is
		// neither kept nor removed.
		future := e.Decoded && snapshot.Future(e.Created, now)
		sn, err := store.Snapshot(e.Name)
		if !future && (err != nil || !e.Decoded || !sn.Report().Valid()) {
			rep.Skipped = append(rep.Skipped, pruneItem{Name: e.Name, Owner: e.Dir.Uid, Reasons: []string{"not a valid snapshot"}})
			continue
		}
		inos[e.Name], owners[e.Name] = e.Ino, e.Dir.Uid
		dated = append(dated, snapshot.Dated{Name: e.Name, Created: e.Created.Time(), Group: pruneGroup(&e)})
	}
	removed := false
	for _, d := range snapshot.Apply(dated, p, now, time.Local) {
		it := pruneItem{Name: d.Name, Owner: owners[d.Name], CreatedAt: d.Created.In(time.Local).Format(time.RFC3339), Reasons: d.Reasons}
		if d.Ignored != "" {
			it.Reasons = []string{d.Ignored}
			rep.Skipped = append(rep.Skipped, it)
			slog.Warn("snapshot dated in the future: not kept or removed by the policy", "name", d.Name, "created_at", it.CreatedAt)
			continue
		}
		if d.Keep {
			rep.Keep = append(rep.Keep, it)
			continue
		}
		if !dry {
			want := inos[d.Name]
			_, err := store.Trash(d.Name, func(st *unix.Stat_t) error {
				if st.Ino != want {
					return fmt.Errorf("%q changed since it was listed: %w", d.Name, os.ErrNotExist)
				}
				return nil
			})
			if err != nil {
				it.Error = err.Error()
				rep.Failed++
			} else {
				removed = true
				slog.Info("deleted snapshot", "name", d.Name, "uid", os.Getuid(), "by", "prune")
			}
		}
		rep.Remove = append(rep.Remove, it)
	}
	if removed {
		if err := store.EmptyTrash(); err != nil {
			// The snapshots are gone from STORE; only their space waits
			// for the next prune or mount to empty the trash.
			slog.Warn("emptying the trash failed", "err", err)
		}
	}
	return rep, nil
}

// pruneGroup is the group a snapshot's keep rules count in: its owner
// (the uid of its directory), so no owner's snapshots push out
// another's.
func pruneGroup(e *snapfs.Entry) string { return "uid " + strconv.FormatUint(uint64(e.Dir.Uid), 10) }

func printPrune(w io.Writer, rep *pruneReport) {
	fmt.Fprintf(w, "policy: %s\n", rep.Policy)
	for _, it := range rep.Keep {
		fmt.Fprintf(w, "keep    %s  %s  (%s)\n", it.CreatedAt, it.Name, strings.Join(it.Reasons, ", "))
	}
	verb := "remove "
	if rep.DryRun {
		verb = "would remove"
	}
	for _, it := range rep.Remove {
		if it.Error != "" {
			fmt.Fprintf(w, "FAILED  %s  %s: %s\n", it.CreatedAt, it.Name, it.Error)
			continue
		}
		fmt.Fprintf(w, "%s  %s  %s\n", verb, it.CreatedAt, it.Name)
	}
	for _, it := range rep.Skipped {
		fmt.Fprintf(w, "skip    %s (%s)\n", it.Name, strings.Join(it.Reasons, ", "))
	}
	fmt.Fprintf(w, "%d kept, %d %s, %d skipped", len(rep.Keep), len(rep.Remove)-rep.Failed, map[bool]string{true: "to remove", false: "removed"}[rep.DryRun], len(rep.Skipped))
	if rep.Failed > 0 {
		fmt.Fprintf(w, ", %d failed", rep.Failed)
	}
	if rep.DryRun {
		fmt.Fprintf(w, " (dry run: nothing changed)")
	}
	fmt.Fprintln(w)
}
