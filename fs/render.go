package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
	"github.com/snapfs/snapfs/snapshot/statetext"
)

// errNoView is the answer for a view that cannot be made from the
// snapshot as it is now (e.g. manifest.json of an undecodable manifest).
var errNoView = fmt.Errorf("view not available: %w", iofs.ErrNotExist)

func renderJSON(sn *Snap) ([]byte, *unix.Stat_t, error) {
	if sn.Manifest == nil {
		return nil, nil, errNoView
	}
	return sn.JSON(), &sn.File(fileManifest).st, nil
}

func renderField(i int) renderFunc {
	return func(sn *Snap) ([]byte, *unix.Stat_t, error) {
		if sn.Manifest == nil {
			return nil, nil, errNoView
		}
		text, ok := sn.Manifest.Field(snapshot.ManifestFields[i])
		if !ok {
			return nil, nil, errNoView
		}
		return text, &sn.File(fileManifest).st, nil
	}
}

// renderStatus takes the times of the newest source file: status can
// change whenever any of them does.
func (t *tree) renderStatus(sn *Snap) ([]byte, *unix.Stat_t, error) {
	src := sn.Dir()
	for i := range sourceFiles {
		f := sn.File(i)
		if f.err == nil && timeAfter(&f.st.Mtim, &src.Mtim) {
			src = &f.st
		}
	}
	// Its owner and read bits are the snapshot directory's.
	st := *src
	st.Uid, st.Gid, st.Mode = sn.Dir().Uid, sn.Dir().Gid, sn.Dir().Mode
	warnings := t.unitWarnings(sn)
	if w := sn.stateWarning(); w != "" {
		warnings = append(warnings, w)
	}
	return t.store.Status(sn, warnings...), &st, nil
}

func timeAfter(a, b *unix.Timespec) bool {
	return a.Sec > b.Sec || a.Sec == b.Sec && a.Nsec > b.Nsec
}

// findUnit returns the index of the first unit called name.
func findUnit(sn *Snap, name string) (*snapshot.StateIndex, int, error) {
	idx, err := sn.State()
	if err != nil {
		return nil, 0, errNoView
	}
	if i, ok := idx.Find(name); ok {
		return idx, i, nil
	}
	return nil, 0, errNoView
}

func renderTypeURL(unit string) renderFunc {
	return func(sn *Snap) ([]byte, *unix.Stat_t, error) {
		idx, i, err := findUnit(sn, unit)
		if err != nil {
			return nil, nil, err
		}
		return []byte(idx.Units[i].TypeURL + "\n"), &sn.File(fileState).st, nil
	}
}

// renderValueText is state/<unit>/value.txt.
func renderValueText(unit string) renderFunc {
	return func(sn *Snap) ([]byte, *unix.Stat_t, error) {
		_, i, err := findUnit(sn, unit)
		if err != nil {
			return nil, nil, err
		}
		b, err := sn.valueText(i)
		if err != nil {
			return nil, nil, noView(err)
		}
		return b, &sn.File(fileState).st, nil
	}
}

// renderValueJSON is state/<unit>/value.json, decoded with the schema
// in use at each open.
func (t *tree) renderValueJSON(unit string) renderFunc {
	return func(sn *Snap) ([]byte, *unix.Stat_t, error) {
		_, i, err := findUnit(sn, unit)
		if err != nil {
			return nil, nil, err
		}
		b, err := sn.valueJSON(t.schema.current(), i)
		if err != nil {
			return nil, nil, noView(err)
		}
		return b, &sn.File(fileState).st, nil
	}
}

// noView turns a decoding failure into an absent view; a failure to read
// state.bin stays what it is.
func noView(err error) error {
	if errors.Is(err, statetext.ErrNotMessage) || errors.Is(err, statetext.ErrTooLarge) ||
		errors.Is(err, statetext.ErrUnknownType) || errors.Is(err, statetext.ErrNoDecode) {
		return errNoView
	}
	return err
}
