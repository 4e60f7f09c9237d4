package snapshot

import "testing"

// The wording of the permission findings, which docs/format.md quotes.
func TestPermProblemWording(t *testing.T) {
	for _, c := range []struct {
		f    FilePerm
		want string
	}{
		{FilePerm{"memory.bin", 0o100666, false}, "memory.bin: mode 0666 lets group or others write it: remove it (chmod go-w,ug-s memory.bin)"},
		{FilePerm{"state.bin", 0o104644, false}, "state.bin: mode 04644 lets it run with set-id bits: remove it (chmod go-w,ug-s state.bin)"},
		{FilePerm{"state.bin", 0o102664, false}, "state.bin: mode 02664 lets group or others write it and has set-id bits: remove it (chmod go-w,ug-s state.bin)"},
		{FilePerm{"manifest.bin", 0o100644, true}, "manifest.bin: has file capabilities (security.capability): remove them (setcap -r manifest.bin)"},
		{FilePerm{"manifest.bin", 0o100644, false}, ""},
	} {
		if got := permProblem(c.f); got != c.want {
			t.Errorf("%+v: %q, want %q", c.f, got, c.want)
		}
	}
}
