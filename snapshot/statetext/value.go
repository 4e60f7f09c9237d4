package statetext

import (
	"errors"
	"fmt"
	"io"

	"github.com/snapfs/snapfs/snapshot"
)

// ErrChanged is returned for a value that its file no longer holds
// whole: the file is shorter than its index says, so it changed since.
var ErrChanged = errors.New("the file changed since it was indexed")

// ReadValue reads unit u's value bytes from r, the state.bin that u was
// indexed from (file names it in errors). A value over MaxValueSize is
// refused (ErrTooLarge) before anything is allocated: the size is the
// file's to choose. Every error names the file, the unit and the value's
// size and offset.
func ReadValue(r io.ReaderAt, file string, u snapshot.Unit) ([]byte, error) {
	what := fmt.Sprintf("%s: unit %q: value of %d bytes at offset %d", file, u.Name, u.ValueLen, u.ValueOff)
	switch {
	case u.ValueLen < 0 || u.ValueOff < 0:
		return nil, fmt.Errorf("%s: not a place in a file (a damaged index)", what)
	case u.ValueLen > MaxValueSize:
		return nil, fmt.Errorf("%s: more than %d: %w", what, MaxValueSize, ErrTooLarge)
	}
	b := make([]byte, u.ValueLen)
	n, err := r.ReadAt(b, u.ValueOff)
	switch {
	case n == len(b):
		return b, nil // io.ReaderAt may say io.EOF with the last byte
	case err == nil || errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%s: only %d bytes there: %w", what, n, ErrChanged)
	}
	return nil, fmt.Errorf("%s: %w", what, err)
}
