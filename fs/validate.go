package fs

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// maxManifestJSON bounds what is read of a staged manifest.json: its
// encoding must fit OpenVMM's limit on manifest.bin, and JSON adds at
// most the keys, quotes and digits of created_at to a string field.
const maxManifestJSON = snapshot.MaxManifestSize + 64<<10

// validateStaged runs every error check of status on the staging
// directory dir, plus its own: only regular files, no stray ones, and a
// manifest.json that parses and agrees with manifest.bin when both are
// given. It returns the exact manifest.bin to publish (manifest.json
// encoded as OpenVMM would, a missing created_at set to now). Everything
// is read through dir's fd, following nothing.
func validateStaged(dir *os.File, now time.Time) ([]byte, *snapshot.Report) {
	var extra []string
	for _, n := range stagedNames(dir) {
		st, err := statEntry(dir, n)
		switch {
		case err != nil:
			extra = append(extra, err.Error())
		case st.Mode&unix.S_IFMT == unix.S_IFDIR && viewDirs[n]:
			// written-back views: checked below
		case kindError(n, st.Mode) != nil:
			extra = append(extra, kindError(n, st.Mode).Error()+" (never followed)")
		case !stagedFiles[n]:
			extra = append(extra, fmt.Sprintf("unexpected file %q in the staging directory (only manifest.bin or manifest.json, state.bin and memory.bin belong there)", n))
		}
	}
	in := snapshot.CheckInput{Now: now}
	in.ManifestBytes, in.ManifestErr = stagedManifest(dir, now)
	in.State, in.StateErr = indexStaged(dir)
	switch st, err := statEntry(dir, "memory.bin"); {
	case err != nil && errors.Is(err, unix.ENOENT):
		in.MemoryErr = iofs.ErrNotExist
	case err != nil:
		in.MemoryErr = err
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		in.MemoryErr = fmt.Errorf("is not a regular file (mode %#o)", st.Mode&unix.S_IFMT)
	default:
		in.MemorySize, in.MemoryMtime = st.Size, time.Unix(st.Mtim.Unix())
	}
	r := snapshot.Check(in)
	for _, e := range extra {
		r.Add(snapshot.Error, e)
	}
	if r.Valid() {
		for _, e := range checkViews(dir, in.ManifestBytes, in.State) {
			r.Add(snapshot.Error, e)
		}
	}
	return in.ManifestBytes, r
}

// readEntry reads the regular file name of dir, refusing more than limit
// bytes without reading them.
func readEntry(dir *os.File, name string, limit int64) ([]byte, error) {
	fd, err := openEntry(dir, name, unix.O_RDONLY, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil, iofs.ErrNotExist
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EPERM):
		return nil, &snapshot.NamedError{Err: err} // kindError names the file
	case err != nil:
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// indexStaged indexes the staged state.bin.
func indexStaged(dir *os.File) (*snapshot.StateIndex, error) {
	fd, err := openEntry(dir, "state.bin", unix.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, iofs.ErrNotExist
		}
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "state.bin")
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return snapshot.IndexState(f, fi.Size())
}

// named marks an error whose text names its file already.
func named(format string, a ...any) error {
	return &snapshot.NamedError{Err: fmt.Errorf(format, a...)}
}

// stagedManifest returns the manifest.bin a staging directory stands for.
func stagedManifest(dir *os.File, now time.Time) ([]byte, error) {
	bin, binErr := readEntry(dir, "manifest.bin", snapshot.MaxManifestSize)
	js, jsErr := readEntry(dir, "manifest.json", maxManifestJSON)
	if errors.Is(jsErr, iofs.ErrNotExist) {
		return bin, binErr
	}
	if jsErr != nil {
		return nil, named("manifest.json: %w", jsErr)
	}
	m, hasTime, err := snapshot.ParseManifestJSON(js)
	if err != nil {
		return nil, &snapshot.NamedError{Err: err} // it names manifest.json
	}
	if hasTime {
		if err := snapshot.FutureError("manifest.json", m.CreatedAt, now); err != nil {
			return nil, &snapshot.NamedError{Err: err}
		}
	}
	if errors.Is(binErr, iofs.ErrNotExist) {
		if !hasTime {
			m.CreatedAt = snapshot.Timestamp{Seconds: now.Unix(), Nanos: int32(now.Nanosecond())}
		}
		b := m.Encode()
		if len(b) > snapshot.MaxManifestSize {
			return nil, named("manifest.json encodes to a manifest.bin of %d bytes, larger than %d bytes", len(b), snapshot.MaxManifestSize)
		}
		return b, nil
	}
	if binErr != nil {
		return nil, binErr
	}
	b, err := snapshot.DecodeManifest(bin)
	if err != nil {
		return nil, named("failed to decode manifest.bin given with manifest.json: %w", err)
	}
	if !hasTime {
		m.CreatedAt = b.CreatedAt
	}
	if field, ok := disagree(m, b); ok {
		return nil, named("manifest.json and manifest.bin disagree on %s: %q vs %q",
			field, text(m, field), text(b, field))
	}
	return bin, nil
}

// disagree names the first field where a and b differ.
func disagree(a, b *snapshot.Manifest) (string, bool) {
	for _, f := range snapshot.ManifestFields {
		if text(a, f) != text(b, f) {
			return f, true
		}
	}
	return "", false
}

func text(m *snapshot.Manifest, field string) string {
	t, _ := m.Field(field)
	if n := len(t); n > 0 && t[n-1] == '\n' {
		t = t[:n-1]
	}
	return string(t)
}
