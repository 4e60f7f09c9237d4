package statetext

import (
	"bytes"
	"errors"
	"math/rand"
	"os/exec"
	"testing"
)

// FuzzDecodeRaw checks DecodeRaw against protoc --decode_raw, the oracle,
// on the seeds, the recorded corpus in testdata/fuzz/FuzzDecodeRaw and
// whatever the fuzzer makes; without protoc it checks only that
// DecodeRaw neither panics nor breaks its caps.
func FuzzDecodeRaw(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.value(f))
	}
	for _, b := range edgeCases() {
		f.Add(b)
	}
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 20; i++ {
		f.Add(randMessage(r, 3))
	}
	_, err := exec.LookPath("protoc")
	haveProtoc := err == nil
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeRaw(b)
		if err != nil && !errors.Is(err, ErrNotMessage) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%x: unexpected error %v", b, err)
		}
		if len(got) > MaxTextSize {
			t.Fatalf("%x: %d bytes of text", b, len(got))
		}
		if again, err2 := DecodeRaw(b); !bytes.Equal(again, got) || (err == nil) != (err2 == nil) {
			t.Fatalf("%x: not deterministic", b)
		}
		if haveProtoc && len(b) <= MaxValueSize {
			checkAgainstProtoc(t, b)
		}
	})
}
