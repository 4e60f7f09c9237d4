package statetext

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Unit is one saved-state unit, as `snapfs inspect --state` prints it.
type Unit struct {
	Name    string
	TypeURL string
	Value   []byte
	Err     error // reading the value failed (ReadValue's error, naming the unit); the value is null
}

// UnitJSON is one unit's entry of StateJSON: {"type_url": ..., "value":
// <the decoded value or null>}. err says why value is null when the
// schema knows the type but the bytes do not decode (nil for a unit of
// a type the schema lacks, or without a schema).
func UnitJSON(u Unit, s *Schema) (doc []byte, err error) {
	var value json.RawMessage = []byte("null")
	switch {
	case u.Err != nil:
		err = u.Err
	case s != nil:
		b, jerr := s.JSON(u.TypeURL, u.Value)
		if jerr == nil {
			value = b
		} else if !errors.Is(jerr, ErrUnknownType) {
			err = jerr
		}
	}
	var compact bytes.Buffer
	if cerr := json.Compact(&compact, value); cerr != nil {
		return nil, cerr
	}
	out, merr := json.Marshal(struct {
		TypeURL string          `json:"type_url"`
		Value   json.RawMessage `json:"value"`
	}{u.TypeURL, compact.Bytes()})
	if merr != nil {
		return nil, merr
	}
	ind, ierr := indentJSON(out)
	if ierr != nil {
		return nil, ierr
	}
	return ind, err
}

// StateJSON is all units as one JSON object keyed by unit name, in the
// order of state.bin; of units sharing a name the first is kept (as
// state/ shows it). problems names each unit whose value did not decode.
func StateJSON(units []Unit, s *Schema) (doc []byte, problems []string) {
	var b bytes.Buffer
	b.WriteByte('{')
	seen := map[string]bool{}
	for _, u := range units {
		if seen[u.Name] {
			problems = append(problems, fmt.Sprintf("unit %q: repeats an earlier name; left out", u.Name))
			continue
		}
		seen[u.Name] = true
		one, err := UnitJSON(u, s)
		switch {
		case u.Err != nil:
			problems = append(problems, u.Err.Error()) // ReadValue's name the unit
		case err != nil:
			problems = append(problems, fmt.Sprintf("unit %q: %v", u.Name, err))
		}
		if one == nil {
			one = []byte("null")
		}
		if len(seen) > 1 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(u.Name)
		b.Write(name)
		b.WriteByte(':')
		b.Write(one)
	}
	b.WriteByte('}')
	var compact bytes.Buffer
	if err := json.Compact(&compact, b.Bytes()); err != nil {
		return nil, append(problems, err.Error())
	}
	doc, err := indentJSON(compact.Bytes())
	if err != nil {
		return nil, append(problems, err.Error())
	}
	return doc, problems
}
