package fs

import (
	"errors"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot/digest"
)

// Digest records (snapshot/digest): a snapshot published through new/ gets
// one in the background, in its STORE directory; `snapfs digest` makes
// them for the others and `snapfs verify` stores its result beside them.
// The tree shows the record as MNT/<name>/sha256sums, and a failed
// verification as a status error. Both files are read once per version
// of the snapshot: they are renamed into its directory, which changes the
// directory's ctime and so the snapshot's cache key (the record keeps the
// directory's mtime, so the snapshot does not look modified).

// sumsName is the sha256sums view of a snapshot with a record.
const sumsName = "sha256sums"

// snapDigest is what a snapshot's record and last verification say.
type snapDigest struct {
	hdr      digest.Header
	st       unix.Stat_t // the record's
	ok       bool        // a usable record exists
	problems []string    // the last verification's failures
}

// digestInfo reads the snapshot's record header and verification result
// on first need.
func (sn *Snap) digestInfo() *snapDigest {
	sn.digestOnce.Do(func() {
		d := &snapDigest{}
		sn.digest = d
		fd, err := sn.store.openBeneath(sn.Name, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return
		}
		defer unix.Close(fd)
		hdr, st, err := digest.ReadHeader(fd)
		switch {
		case err == nil:
			d.hdr, d.st, d.ok = hdr, *st, true
		case !errors.Is(err, digest.ErrNoRecord):
			slog.Warn("unusable digest record", "snapshot", sn.Name, "err", err)
		}
		res, err := digest.ReadResult(fd)
		if err != nil {
			d.problems = []string{"the last verification's result is unreadable: " + err.Error()}
		} else if res != nil {
			d.problems = res.Problems()
		}
	})
	return sn.digest
}

// renderSums is the sha256sums view: absent without a record. It takes
// the owner, group and read bits of memory.bin and the record's times.
func renderSums(sn *Snap) ([]byte, *unix.Stat_t, error) {
	d := sn.digestInfo()
	mem := sn.File(fileMemory)
	if !d.ok || mem.err != nil {
		return nil, nil, errNoView
	}
	st := d.st
	st.Uid, st.Gid, st.Mode = mem.st.Uid, mem.st.Gid, mem.st.Mode
	return d.hdr.Sums(), &st, nil
}

// background makes the calling thread wait for everything else: the idle
// I/O class and the lowest CPU priority, so a background digest never
// slows a publish, a restore or a reader.
func background() {
	tid := unix.Gettid()
	const ioprioClassIdle, ioprioWhoProcess = 3, 1
	unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), ioprioClassIdle<<13)
	unix.Setpriority(unix.PRIO_PROCESS, tid, 19)
}

// digestWorkers is how many chunks a background digest hashes at once
// (and all of them together: they take turns, digestqueue.go): it must
// not take the machine from the VMs and readers it serves.
const digestWorkers = 1

// digestOne makes the record of STORE/name unless it has one.
func (t *tree) digestOne(name string) {
	fd, err := t.store.openBeneath(name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		slog.Warn("digest record not made", "snapshot", name, "err", err)
		return
	}
	dir := os.NewFile(uintptr(fd), name)
	defer dir.Close()
	start := time.Now()
	made, err := digest.MakeRecord(dir, false, &digest.Options{Workers: digestWorkers, Thread: background, Turn: &t.digests.turn})
	if err != nil {
		slog.Warn("digest record not made", "snapshot", name, "err", err)
		return
	}
	if !made {
		return
	}
	slog.Info("digest record made", "snapshot", name, "took", time.Since(start).Round(time.Millisecond))
	t.store.invalidate(name)
	t.view().DigestMade(name)
}
