package snapshot

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
)

// Unit is one saved-state unit of state.bin. The value is not copied: it is
// ValueLen bytes at ValueOff in state.bin, so an index of a large state.bin
// costs little memory.
type Unit struct {
	Name     string
	TypeURL  string
	ValueOff int64 // offset of the Any.value bytes within state.bin
	ValueLen int64
}

// StateIndex lists the units of a state.bin in save order.
type StateIndex struct {
	Units []Unit

	byNameOnce sync.Once
	byName     map[string]int // first unit of each name
}

// Find returns the index of the first unit called name, in constant
// time: a walk of a state/ of 65,536 units looks each one up.
func (x *StateIndex) Find(name string) (int, bool) {
	x.byNameOnce.Do(func() {
		x.byName = make(map[string]int, len(x.Units))
		for i := len(x.Units) - 1; i >= 0; i-- {
			x.byName[x.Units[i].Name] = i
		}
	})
	i, ok := x.byName[name]
	return i, ok
}

// Problems returns what OpenVMM would refuse on restore although the file
// decodes: empty unit names ("unit name is empty (unit #3)", counting from
// 1) and names used more than once (`duplicate unit name "pit"`, once per
// name). It is empty when all names are fine.
func (x *StateIndex) Problems() []string {
	var out []string
	more := 0
	add := func(p string) {
		if len(out) < maxProblems {
			out = append(out, p)
		} else {
			more++
		}
	}
	count := map[string]int{}
	for i, u := range x.Units {
		if u.Name == "" {
			add(fmt.Sprintf("unit name is empty (unit #%d)", i+1))
			continue
		}
		count[u.Name]++
		if count[u.Name] == 2 {
			add(fmt.Sprintf("duplicate unit name %q", u.Name))
		}
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("%d more unit name problems", more))
	}
	return out
}

// maxProblems bounds the lines Problems returns: a hostile state.bin of a
// million empty units must not make a status view of a million lines.
const maxProblems = 16

// StateUnit is a unit to encode with EncodeState.
type StateUnit struct {
	Name, TypeURL string
	Value         []byte
}

// EncodeState builds a state.bin (SavedState) as mesh would: every unit is
// written, even an empty one; inside a unit, empty fields are left out.
func EncodeState(units []StateUnit) []byte {
	var b []byte
	for _, u := range units {
		var anyMsg []byte
		anyMsg = appendStringField(anyMsg, 1, u.TypeURL)
		if len(u.Value) > 0 {
			anyMsg = protowire.AppendTag(anyMsg, 2, protowire.BytesType)
			anyMsg = protowire.AppendBytes(anyMsg, u.Value)
		}
		var unit []byte
		unit = appendStringField(unit, 1, u.Name)
		if len(anyMsg) > 0 {
			unit = protowire.AppendTag(unit, 2, protowire.BytesType)
			unit = protowire.AppendBytes(unit, anyMsg)
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, unit)
	}
	return b
}
