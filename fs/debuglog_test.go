package fs

import (
	"strings"
	"testing"
)

// go-fuse's debug lines (fuse/request.go InputDebug, OutputDebug) lose
// their data and keep their names.
func TestScrubData(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`rx 9: WRITE n5 {Fh 1 off 0 sz 13 L0 RW }"SECRETPA"... 13b p42`,
			`rx 9: WRITE n5 {Fh 1 off 0 sz 13 L0 RW }<data> 13b p42`},
		{`rx 9: WRITE n5 {Fh 1 off 0 sz 6}"SECRET" 6b p42`, `rx 9: WRITE n5 {Fh 1 off 0 sz 6}<data> 6b p42`},
		{`rx 3: SETXATTR n2 {sz 5 f0} "user.x" "value"... 9b p1`, `rx 3: SETXATTR n2 {sz 5 f0} "user.x" <data> 9b p1`},
		{`tx 9:     OK, 13b data "SECRETPA"...`, `tx 9:     OK, 13b data <data>`},
		{`tx 9:     OK, 4b data "\x00\x01\"b"`, `tx 9:     OK, 4b data <data>`},
		{`tx 9:     OK, 13b data (fd 13b data)`, `tx 9:     OK, 13b data (fd 13b data)`},
		{`rx 4: LOOKUP n1 ["x;$(id)#"] 9b p7`, `rx 4: LOOKUP n1 ["x;$(id)#"] 9b p7`},
		{`rx 4: LOOKUP n1 "x;$(id)#"  p7`, `rx 4: LOOKUP n1 "x;$(id)#"  p7`},
		{`rx 5: RENAME n1 "a \"b\"" "12b" p7`, `rx 5: RENAME n1 "a \"b\"" "12b" p7`},
		{`rx 6: CREATE n1 {0100644} "1b" p7`, `rx 6: CREATE n1 {0100644} "1b" p7`},
		{`tx 6:     OK, "target"`, `tx 6:     OK, "target"`},
		{`rx 7: WRITE n5 {Fh 1} 13b in 2 segments p42`, `rx 7: WRITE n5 {Fh 1} 13b in 2 segments p42`},
		{`tx 8:     OK, {A very long struct "SECRETPAYL ...trimmed`, `tx 8:     OK, {A very long struct <cut>`},
	} {
		if got := scrubData(c.in); got != c.want {
			t.Errorf("scrubData(%s)\n = %s\nwant %s", c.in, got, c.want)
		}
		if strings.Contains(scrubData(c.in), "SECRET") {
			t.Errorf("scrubData(%s) keeps data", c.in)
		}
	}
}
