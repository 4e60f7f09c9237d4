package fs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot/statetext"
)

// unitValue reads unit i's value bytes from state.bin: from the file the
// index was made from, and at most statetext.MaxValueSize of them.
func (sn *Snap) unitValue(i int) ([]byte, error) {
	idx, err := sn.State()
	if err != nil {
		return nil, err
	}
	name := sn.Name + "/state.bin"
	fd, err := sn.store.openBeneath(name, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if idOf(&st) != idOf(&sn.File(fileState).st) {
		return nil, fmt.Errorf("state.bin changed while being read: %w", unix.ESTALE)
	}
	return statetext.ReadValue(f, name, idx.Units[i])
}

// viewKey is the decoded cache's key of a view of unit i.
func (sn *Snap) viewKey(kind decodedKind, i int, gen uint64) decodedKey {
	return decodedKey{file: idOf(&sn.File(fileState).st), kind: kind, unit: i, gen: gen}
}

// view returns a decoded view of unit i, made by decode from the unit's
// value bytes on first need and kept in the store's decoded cache: an
// answer from the bytes is kept (the data, or the error, which is small),
// a failure to read them is not.
func (sn *Snap) view(k decodedKey, decode func([]byte) ([]byte, error)) ([]byte, error) {
	e := sn.store.decoded.get(k, func() decoded {
		b, err := sn.unitValue(k.unit)
		if err != nil {
			return decoded{err: err, bytes: errBytes(err), keep: errors.Is(err, statetext.ErrTooLarge)}
		}
		data, err := decode(b)
		return decoded{val: data, err: err, bytes: int64(cap(data)) + errBytes(err), keep: true}
	})
	data, _ := e.val.([]byte)
	return data, e.err
}

// valueText is unit i's value.txt: protoc --decode_raw's text.
func (sn *Snap) valueText(i int) ([]byte, error) {
	return sn.view(sn.viewKey(kindText, i, 0), statetext.DecodeRaw)
}

// valueJSON is unit i's value.json as decoded with schema version sv.
func (sn *Snap) valueJSON(sv *schemaVersion, i int) ([]byte, error) {
	typeURL, err := sn.knownType(sv, i)
	if err != nil {
		return nil, err
	}
	return sn.view(sn.viewKey(kindJSON, i, sv.gen), func(b []byte) ([]byte, error) { return sv.s.JSON(typeURL, b) })
}

// knownType is unit i's type URL if schema version sv knows it.
func (sn *Snap) knownType(sv *schemaVersion, i int) (string, error) {
	if sv == nil {
		return "", statetext.ErrUnknownType
	}
	idx, err := sn.State()
	if err != nil {
		return "", err
	}
	typeURL := idx.Units[i].TypeURL
	if _, err := sv.s.Lookup(typeURL); err != nil {
		return "", err // not worth a cache entry
	}
	return typeURL, nil
}

// jsonVerdict is the error of unit i's value.json, as status needs it:
// from value.json when it is cached, else decoded and kept apart as only
// the error, so a status of many units does not fill the cache with
// texts nobody asked for.
func (sn *Snap) jsonVerdict(sv *schemaVersion, i int) error {
	if e := sn.store.decoded.peek(sn.viewKey(kindJSON, i, sv.gen)); e != nil {
		return e.err
	}
	typeURL, err := sn.knownType(sv, i)
	if err != nil {
		return err
	}
	k := sn.viewKey(kindVerdict, i, sv.gen)
	return sn.store.decoded.get(k, func() decoded {
		b, err := sn.unitValue(i)
		if err == nil {
			_, err = sv.s.JSON(typeURL, b)
		} else if !errors.Is(err, statetext.ErrTooLarge) {
			return decoded{err: err} // not the unit's answer: not kept
		}
		return decoded{err: err, bytes: errBytes(err), keep: true}
	}).err
}

// unitWarnings are the status lines for units whose value the schema
// cannot decode: the unit is named, and why.
func (t *tree) unitWarnings(sn *Snap) []string {
	sv := t.schema.current()
	if sv == nil {
		return nil
	}
	idx, err := sn.State()
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for i, u := range idx.Units {
		if u.Name == "" || seen[u.Name] {
			continue // no directory: status reports these already
		}
		seen[u.Name] = true
		err := sn.jsonVerdict(sv, i)
		if err == nil || errors.Is(err, statetext.ErrUnknownType) {
			continue
		}
		out = append(out, fmt.Sprintf("state unit %q has no value.json: %v", u.Name, err))
	}
	return out
}
