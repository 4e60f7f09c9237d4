package fs

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot/statetext"
)

// decodedKey names one decoded view of a unit: its value.txt (gen 0) or
// its value.json as decoded with schema version gen.
type decodedKey struct {
	unit int
	gen  uint64
}

type decodedView struct {
	data []byte
	err  error
}

// decodedCache keeps a snapshot's decoded views, made on first need,
// like its other views: the Snap is one version of the source files, so
// nothing here goes stale except by schema version, which is in the key.
// Errors are always kept (they are small); texts up to maxDecodedCache
// bytes per snapshot, past which they are made again at each open.
type decodedCache struct {
	mu    sync.Mutex
	views map[decodedKey]decodedView
	bytes int
}

const maxDecodedCache = 1 << 20

func (c *decodedCache) get(k decodedKey, build func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	v, ok := c.views[k]
	c.mu.Unlock()
	if ok && (v.err != nil || v.data != nil) {
		return v.data, v.err
	}
	data, err := build()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.views == nil {
		c.views = map[decodedKey]decodedView{}
	}
	if _, ok := c.views[k]; ok {
		return data, err
	}
	if err == nil && c.bytes+len(data) > maxDecodedCache {
		c.views[k] = decodedView{} // known good, made again when asked
		return data, err
	}
	c.bytes += len(data)
	c.views[k] = decodedView{data, err}
	return data, err
}

// known reports what is known of view k without making it: whether it
// was made, and its error.
func (c *decodedCache) known(k decodedKey) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.views[k]
	return ok, v.err
}

// unitValue reads unit i's value bytes from state.bin: from the file the
// index was made from, and at most statetext.MaxValueSize of them.
func (sn *Snap) unitValue(i int) ([]byte, error) {
	idx, err := sn.State()
	if err != nil {
		return nil, err
	}
	u := idx.Units[i]
	if u.ValueLen > statetext.MaxValueSize {
		return nil, fmt.Errorf("%d bytes, more than %d: %w", u.ValueLen, statetext.MaxValueSize, statetext.ErrTooLarge)
	}
	fd, err := sn.store.openBeneath(sn.Name+"/state.bin", unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Ino != sn.File(fileState).st.Ino || st.Size != sn.File(fileState).st.Size {
		return nil, fmt.Errorf("state.bin changed while being read: %w", unix.ESTALE)
	}
	b := make([]byte, u.ValueLen)
	n, err := unix.Pread(fd, b, u.ValueOff)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("state.bin shrank while being read: %w", unix.ESTALE)
	}
	return b, nil
}

// valueText is unit i's value.txt: protoc --decode_raw's text.
func (sn *Snap) valueText(i int) ([]byte, error) {
	return sn.decoded.get(decodedKey{unit: i}, func() ([]byte, error) {
		b, err := sn.unitValue(i)
		if err != nil {
			return nil, err
		}
		return statetext.DecodeRaw(b)
	})
}

// valueJSON is unit i's value.json as decoded with schema version sv.
func (sn *Snap) valueJSON(sv *schemaVersion, i int) ([]byte, error) {
	if sv == nil {
		return nil, statetext.ErrUnknownType
	}
	idx, err := sn.State()
	if err != nil {
		return nil, err
	}
	typeURL := idx.Units[i].TypeURL
	if _, err := sv.s.Lookup(typeURL); err != nil {
		return nil, err // not worth a cache entry
	}
	return sn.decoded.get(decodedKey{unit: i, gen: sv.gen}, func() ([]byte, error) {
		b, err := sn.unitValue(i)
		if err != nil {
			return nil, err
		}
		return sv.s.JSON(typeURL, b)
	})
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
		made, err := sn.decoded.known(decodedKey{unit: i, gen: sv.gen})
		if !made {
			_, err = sn.valueJSON(sv, i)
		}
		if err == nil || errors.Is(err, statetext.ErrUnknownType) {
			continue
		}
		out = append(out, fmt.Sprintf("state unit %q has no value.json: %v", u.Name, err))
	}
	return out
}
