package statetext

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/snapshot"
)

// failingReader fails every read, as a disk error would.
type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("input/output error") }

func TestReadValue(t *testing.T) {
	file := bytes.NewReader([]byte("headVALUEtail"))
	b, err := ReadValue(file, "vm/state.bin", snapshot.Unit{Name: "pit", ValueOff: 4, ValueLen: 5})
	if err != nil || string(b) != "VALUE" {
		t.Fatalf("ReadValue = %q, %v; want VALUE", b, err)
	}
	// The last bytes of the file: some readers say io.EOF with them.
	if b, err := ReadValue(file, "vm/state.bin", snapshot.Unit{Name: "pit", ValueOff: 9, ValueLen: 4}); err != nil || string(b) != "tail" {
		t.Errorf("ReadValue at the end = %q, %v; want tail", b, err)
	}
	for _, c := range []struct {
		name string
		r    io.ReaderAt
		u    snapshot.Unit
		want string
		is   error
	}{
		{"too large", file, snapshot.Unit{Name: "big", ValueOff: 4, ValueLen: MaxValueSize + 1},
			`vm/state.bin: unit "big": value of 1048577 bytes at offset 4: more than 1048576`, ErrTooLarge},
		{"short file", file, snapshot.Unit{Name: "pit", ValueOff: 9, ValueLen: 10},
			`vm/state.bin: unit "pit": value of 10 bytes at offset 9: only 4 bytes there`, ErrChanged},
		{"past the end", file, snapshot.Unit{Name: "pit", ValueOff: 100, ValueLen: 1},
			`vm/state.bin: unit "pit": value of 1 bytes at offset 100: only 0 bytes there`, ErrChanged},
		{"read error", failingReader{}, snapshot.Unit{Name: "pit", ValueOff: 4, ValueLen: 5},
			`vm/state.bin: unit "pit": value of 5 bytes at offset 4: input/output error`, nil},
		{"negative", file, snapshot.Unit{Name: "pit", ValueOff: 4, ValueLen: -1},
			`vm/state.bin: unit "pit": value of -1 bytes at offset 4: not a place in a file`, nil},
	} {
		b, err := ReadValue(c.r, "vm/state.bin", c.u)
		if err == nil || b != nil || !strings.HasPrefix(err.Error(), c.want) || c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: ReadValue = %q, %v; want an error starting %q (is %v)", c.name, b, err, c.want, c.is)
		}
	}
}
