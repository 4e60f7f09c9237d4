package statetext

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"testing"
)

// protocDecodeRaw runs protoc --decode_raw on b; ok is false when protoc
// rejects the bytes.
func protocDecodeRaw(t testing.TB, b []byte) (out []byte, ok bool) {
	t.Helper()
	cmd := exec.Command("protoc", "--decode_raw")
	cmd.Stdin = bytes.NewReader(b)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("protoc: %v", err)
	}
	return stdout.Bytes(), true
}

// needProtoc skips without protoc, or fails when CI=true.
func needProtoc(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("protoc"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("protoc not installed (apt-get install protobuf-compiler)")
		}
		t.Skip("protoc not installed (apt-get install protobuf-compiler)")
	}
}

// checkAgainstProtoc compares DecodeRaw with protoc on b.
func checkAgainstProtoc(t testing.TB, b []byte) {
	t.Helper()
	want, ok := protocDecodeRaw(t, b)
	got, err := DecodeRaw(b)
	switch {
	case !ok && err == nil:
		t.Fatalf("%x: protoc rejects, DecodeRaw gives\n%s", b, got)
	case ok && err != nil:
		t.Fatalf("%x: protoc gives\n%s\nDecodeRaw: %v", b, want, err)
	case ok && !bytes.Equal(got, want):
		t.Fatalf("%x: protoc gives\n%q\nDecodeRaw gives\n%q", b, want, got)
	}
}

// randMessage makes a random message of nested fields, with odd
// encodings now and then.
func randMessage(r *rand.Rand, depth int) []byte {
	var b []byte
	n := r.Intn(5)
	for i := 0; i < n; i++ {
		num := uint64(r.Intn(20) + 1)
		if r.Intn(10) == 0 {
			num = uint64(r.Int63n(1 << 29))
		}
		typ := uint64(r.Intn(6))
		if r.Intn(30) == 0 {
			typ = uint64(6 + r.Intn(2))
		}
		b = appendVarint(r, b, num<<3|typ)
		switch typ {
		case 0:
			v := uint64(r.Intn(300))
			if r.Intn(3) == 0 {
				v = r.Uint64()
			}
			b = appendVarint(r, b, v)
		case 1:
			for j := 0; j < 8; j++ {
				b = append(b, byte(r.Intn(256)))
			}
		case 5:
			for j := 0; j < 4; j++ {
				b = append(b, byte(r.Intn(256)))
			}
		case 2:
			var v []byte
			switch {
			case depth > 0 && r.Intn(2) == 0:
				v = randMessage(r, depth-1)
			default:
				v = make([]byte, r.Intn(8))
				for j := range v {
					v[j] = byte(r.Intn(256))
					if r.Intn(2) == 0 {
						s := "ab\n\t\"'\\ \x00\x7f"
						v[j] = s[r.Intn(len(s))]
					}
				}
			}
			b = appendVarint(r, b, uint64(len(v)))
			b = append(b, v...)
		case 3:
			if depth > 0 {
				b = append(b, randMessage(r, depth-1)...)
			}
			end := num
			if r.Intn(10) == 0 {
				end++
			}
			b = appendVarint(r, b, end<<3|4)
		}
	}
	return b
}

// appendVarint appends v, sometimes overlong.
func appendVarint(r *rand.Rand, b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	if r.Intn(15) == 0 {
		for k := r.Intn(9); k > 0; k-- {
			b = append(b, byte(v)|0x80)
			v = 0
		}
	}
	return append(b, byte(v))
}

func mutate(r *rand.Rand, b []byte) []byte {
	b = append([]byte(nil), b...)
	for k := r.Intn(3); k > 0 && len(b) > 0; k-- {
		switch r.Intn(4) {
		case 0:
			b[r.Intn(len(b))] ^= byte(1 << r.Intn(8))
		case 1:
			b = b[:r.Intn(len(b))]
		case 2:
			i := r.Intn(len(b) + 1)
			b = append(b[:i], append([]byte{byte(r.Intn(256))}, b[i:]...)...)
		case 3:
			b[r.Intn(len(b))] = byte(r.Intn(256))
		}
	}
	return b
}

// TestDecodeRawRandom compares DecodeRaw with protoc on random messages
// and their mutations (STATETEXT_RANDOM sets how many; default 200).
func TestDecodeRawRandom(t *testing.T) {
	needProtoc(t)
	n := 200
	if s := os.Getenv("STATETEXT_RANDOM"); s != "" {
		n = atoi(s)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < n; i++ {
		b := randMessage(r, 1+r.Intn(4))
		if r.Intn(2) == 0 {
			b = mutate(r, b)
		}
		checkAgainstProtoc(t, b)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
