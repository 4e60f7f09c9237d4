package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/snapfs/snapfs/snapshot"
)

// validateStaged runs every error check of status on a staging directory,
// plus its own: no stray files, and a manifest.json that parses and
// agrees with manifest.bin when both are given. It returns the exact
// manifest.bin to publish (manifest.json encoded as OpenVMM would, a
// missing created_at set to now).
func validateStaged(dir string, now time.Time) ([]byte, *snapshot.Report) {
	var extra []string
	for _, n := range stagedNames(dir) {
		if !stagedFiles[n] {
			extra = append(extra, fmt.Sprintf("unexpected file %q in the staging directory (only manifest.bin or manifest.json, state.bin and memory.bin belong there)", n))
		}
	}
	var in snapshot.CheckInput
	in.ManifestBytes, in.ManifestErr = stagedManifest(dir, now)
	in.State, in.StateErr = snapshot.IndexStateFile(filepath.Join(dir, "state.bin"))
	switch fi, err := os.Lstat(filepath.Join(dir, "memory.bin")); {
	case err != nil:
		in.MemoryErr = err
	case !fi.Mode().IsRegular():
		in.MemoryErr = fmt.Errorf("is not a regular file (%v)", fi.Mode().Type())
	default:
		in.MemorySize, in.MemoryMtime = fi.Size(), fi.ModTime()
	}
	r := snapshot.Check(in)
	for _, e := range extra {
		r.Add(snapshot.Error, e)
	}
	return in.ManifestBytes, r
}

// stagedManifest returns the manifest.bin a staging directory stands for.
func stagedManifest(dir string, now time.Time) ([]byte, error) {
	bin, binErr := snapshot.ReadManifestFile(filepath.Join(dir, "manifest.bin"))
	js, jsErr := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(jsErr, iofs.ErrNotExist) {
		return bin, binErr
	}
	if jsErr != nil {
		return nil, fmt.Errorf("manifest.json: %w", jsErr)
	}
	m, hasTime, err := snapshot.ParseManifestJSON(js)
	if err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if errors.Is(binErr, iofs.ErrNotExist) {
		if !hasTime {
			m.CreatedAt = snapshot.Timestamp{Seconds: now.Unix(), Nanos: int32(now.Nanosecond())}
		}
		return m.Encode(), nil
	}
	if binErr != nil {
		return nil, binErr
	}
	b, err := snapshot.DecodeManifest(bin)
	if err != nil {
		return nil, fmt.Errorf("failed to decode manifest.bin given with manifest.json: %w", err)
	}
	if !hasTime {
		m.CreatedAt = b.CreatedAt
	}
	if field, ok := disagree(m, b); ok {
		return nil, fmt.Errorf("manifest.json and manifest.bin disagree on %s: %q vs %q",
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
