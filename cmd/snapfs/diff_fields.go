package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"

	"github.com/snapfs/snapfs/snapshot"
	"github.com/snapfs/snapfs/snapshot/statetext"
)

// unitFields names, for each unit changed between the snapshot
// directories a and b whose type the schema knows, the fields of its
// value.json that differ (dotted paths; "" for the whole value when it
// decodes on one side only).
func unitFields(a, b string, changed []string, s *statetext.Schema) (map[string][]string, error) {
	ua, err := unitValues(a)
	if err != nil {
		return nil, err
	}
	ub, err := unitValues(b)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, name := range changed {
		x, y := ua[name], ub[name]
		if x == nil || y == nil {
			continue
		}
		va, errA := decodeJSON(s, x)
		vb, errB := decodeJSON(s, y)
		switch {
		case errA != nil && errB != nil:
			continue // a type the schema lacks, or bytes that do not decode
		case errA != nil || errB != nil:
			out[name] = []string{""}
		default:
			var paths []string
			diffJSON("", va, vb, &paths)
			sort.Strings(paths)
			out[name] = paths
		}
	}
	return out, nil
}

// unitValues reads the first unit of each name of dir/state.bin.
func unitValues(dir string) (map[string]*statetext.Unit, error) {
	path := filepath.Join(dir, "state.bin")
	idx, err := snapshot.IndexStateFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]*statetext.Unit{}
	for _, u := range idx.Units {
		if _, ok := out[u.Name]; ok {
			continue // the first of a name, as state/ shows it
		}
		v, err := statetext.ReadValue(f, path, u)
		switch {
		case errors.Is(err, statetext.ErrTooLarge):
			out[u.Name] = nil // no value.json to compare
		case err != nil:
			return nil, err
		default:
			out[u.Name] = &statetext.Unit{Name: u.Name, TypeURL: u.TypeURL, Value: v}
		}
	}
	return out, nil
}

func decodeJSON(s *statetext.Schema, u *statetext.Unit) (any, error) {
	b, err := s.JSON(u.TypeURL, u.Value)
	if err != nil {
		return nil, err
	}
	var v any
	return v, json.Unmarshal(b, &v)
}

// diffJSON appends the paths below at where a and b differ: object keys
// recursively, anything else (arrays, scalars) as a whole.
func diffJSON(at string, a, b any, paths *[]string) {
	ma, okA := a.(map[string]any)
	mb, okB := b.(map[string]any)
	if !okA || !okB {
		if !reflect.DeepEqual(a, b) {
			*paths = append(*paths, at)
		}
		return
	}
	keys := map[string]bool{}
	for k := range ma {
		keys[k] = true
	}
	for k := range mb {
		keys[k] = true
	}
	for k := range keys {
		p := k
		if at != "" {
			p = at + "." + k
		}
		diffJSON(p, ma[k], mb[k], paths)
	}
}
