package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"time"
)

// CheckInput is what Check needs, gathered by the caller (the FUSE layer
// caches these), so Check itself does no I/O.
type CheckInput struct {
	ManifestBytes []byte
	ManifestErr   error // reading manifest.bin failed (fs.ErrNotExist if missing)

	State    *StateIndex
	StateErr error // fs.ErrNotExist if missing, else the read or decode error

	MemorySize  int64 // stat of memory.bin
	MemoryMtime time.Time
	MemoryErr   error

	// MemorySharedWith names another snapshot whose memory.bin is the same
	// inode, "" if none.
	MemorySharedWith string

	// DigestProblems are what the last `snapfs verify` found (files that
	// differ from the snapshot's digest record); each is an error until a
	// later verification passes.
	DigestProblems []string

	// Now is the moment of checking: a created_at more than MaxClockSkew
	// after it is an error. Zero means the clock (time.Now).
	Now time.Time
	// NoClock leaves that check out, for a report kept while time passes.
	NoClock bool

	// Perms are the modes and capabilities of the files that exist.
	Perms []FilePerm
}

// mtimeSlack is how much later than created_at memory.bin may be modified
// before we suspect the snapshot was restored and run: OpenVMM stamps
// created_at before it finishes writing.
const mtimeSlack = 2 * time.Second

// Check runs the status checks of docs/tree.md: errors first, in the order
// listed there, then warnings. Error wording follows OpenVMM's where it has
// one.
func Check(in CheckInput) *Report {
	r := &Report{}
	var m *Manifest
	switch {
	case errors.Is(in.ManifestErr, fs.ErrNotExist):
		r.Add(Error, "manifest.bin is missing")
	case errors.As(in.ManifestErr, new(*NamedError)):
		r.Add(Error, in.ManifestErr.Error())
	case in.ManifestErr != nil:
		r.Add(Error, fmt.Sprintf("manifest.bin: %v", in.ManifestErr))
	case len(in.ManifestBytes) > MaxManifestSize:
		// An encoded manifest.json can exceed what OpenVMM reads.
		r.Add(Error, fmt.Sprintf("manifest.bin: %d bytes, larger than %d bytes", len(in.ManifestBytes), MaxManifestSize))
	default:
		var err error
		if m, err = DecodeManifest(in.ManifestBytes); err != nil {
			r.Add(Error, fmt.Sprintf("failed to decode snapshot manifest: %v", err))
		} else {
			r.Manifest = m
			checkManifest(r, m)
			now := in.Now
			if now.IsZero() {
				now = time.Now()
			}
			if err := FutureError("manifest.bin", m.CreatedAt, now); err != nil && !in.NoClock && m.CreatedAt.secondsValid() {
				r.Add(Error, err.Error())
			}
		}
	}

	switch {
	case errors.Is(in.StateErr, fs.ErrNotExist) || (in.StateErr == nil && in.State == nil):
		r.Add(Error, "state.bin is missing")
	case in.StateErr != nil:
		r.Add(Error, fmt.Sprintf("failed to decode saved state from snapshot: %v", in.StateErr))
	default:
		r.State = in.State
		for _, p := range in.State.Problems() {
			r.Add(Error, "state.bin: "+p)
		}
	}

	switch {
	case errors.Is(in.MemoryErr, fs.ErrNotExist):
		r.Add(Error, "memory.bin is missing")
	case in.MemoryErr != nil:
		r.Add(Error, fmt.Sprintf("memory.bin: %v", in.MemoryErr))
	case m != nil && (in.MemorySize < 0 || uint64(in.MemorySize) != m.MemorySizeBytes):
		r.Add(Error, fmt.Sprintf("memory.bin size (%d bytes) doesn't match manifest (%d bytes)", in.MemorySize, m.MemorySizeBytes))
	}

	for _, p := range in.DigestProblems {
		r.Add(Error, p)
	}
	for _, f := range in.Perms {
		if p := permProblem(f); p != "" {
			r.Add(Error, p)
		}
	}

	checkWarnings(r, m, in)
	return r
}

// checkManifest checks the manifest's own fields.
func checkManifest(r *Report, m *Manifest) {
	if m.Version != ManifestVersion {
		r.Add(Error, fmt.Sprintf("snapshot manifest version %d is not supported (expected %d)", m.Version, ManifestVersion))
	}
	if m.Architecture != ArchX86_64 && m.Architecture != ArchAArch64 {
		r.Add(Error, fmt.Sprintf("manifest.bin: architecture %q is not %s or %s", m.Architecture, ArchX86_64, ArchAArch64))
	}
	if m.PageSize < 4096 || bits.OnesCount32(m.PageSize) != 1 {
		r.Add(Error, fmt.Sprintf("manifest.bin: page_size %d is not a power of two >= 4096", m.PageSize))
	}
	if m.VPCount < 1 {
		r.Add(Error, fmt.Sprintf("manifest.bin: vp_count %d is not >= 1", m.VPCount))
	}
	switch {
	case m.MemorySizeBytes == 0:
		r.Add(Error, "manifest.bin: memory_size_bytes 0 is not > 0")
	case m.PageSize != 0 && m.MemorySizeBytes%uint64(m.PageSize) != 0:
		r.Add(Error, fmt.Sprintf("manifest.bin: memory_size_bytes %d is not a multiple of page_size %d", m.MemorySizeBytes, m.PageSize))
	}
	if !m.CreatedAt.nanosValid() {
		r.Add(Error, fmt.Sprintf("manifest.bin: created_at nanos %d is not in [0, 999999999]", m.CreatedAt.Nanos))
	}
	if !m.CreatedAt.secondsValid() {
		r.Add(Error, fmt.Sprintf("manifest.bin: created_at seconds %d is outside years 0001 to 9999", m.CreatedAt.Seconds))
	}
}

// checkWarnings adds the warnings; m may be nil.
func checkWarnings(r *Report, m *Manifest, in CheckInput) {
	if m != nil && m.CreatedAt.IsZero() {
		r.Add(Warning, "manifest.bin: created_at is not set")
	}
	if m != nil && !m.CreatedAt.IsZero() && in.MemoryErr == nil &&
		in.MemoryMtime.After(m.CreatedAt.Time().Add(mtimeSlack)) {
		r.Add(Warning, fmt.Sprintf("memory.bin modified after created_at (mtime %s, created_at %s): the snapshot was probably restored and run",
			in.MemoryMtime.UTC().Format(time.RFC3339Nano), m.CreatedAt.RFC3339()))
	}
	if in.MemorySharedWith != "" && in.MemoryErr == nil {
		r.Add(Warning, fmt.Sprintf("memory.bin is the same file as snapshot %q's memory.bin", in.MemorySharedWith))
	}
}
