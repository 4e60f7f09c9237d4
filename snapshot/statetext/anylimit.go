package statetext

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Bounds on google.protobuf.Any values inside a value. protojson decodes
// an Any's bytes anew at each level, so nested Anys cost the value's size
// once per level (a 1 MiB unit of nested Anys took a minute of CPU).
const (
	// MaxAnyDepth bounds how deep Anys nest in one value.
	MaxAnyDepth = 16
	// MaxAnyBytes bounds the bytes of all Anys decoded for one value.
	MaxAnyBytes = 4 * MaxValueSize
)

const anyName = "google.protobuf.Any"

// checkAnys walks m and every Any it holds, decoding each Any's bytes as
// the type it names, and refuses the value (ErrTooLarge) when the Anys
// nest deeper than MaxAnyDepth or hold more than MaxAnyBytes in all,
// before protojson pays for them.
func checkAnys(m protoreflect.Message, r typeResolver) error {
	budget := MaxAnyBytes
	return walkAnys(m, r, 0, &budget)
}

func walkAnys(m protoreflect.Message, r typeResolver, depth int, budget *int) error {
	if m.Descriptor().FullName() == anyName {
		return walkAny(m, r, depth, budget)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				err = walkAnys(mv.Message(), r, depth, budget)
				return err == nil
			})
		case fd.Message() == nil:
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = walkAnys(l.Get(i).Message(), r, depth, budget)
			}
		default:
			err = walkAnys(v.Message(), r, depth, budget)
		}
		return err == nil
	})
	return err
}

// walkAny decodes the Any m as protojson will and walks what it holds.
func walkAny(m protoreflect.Message, r typeResolver, depth int, budget *int) error {
	fields := m.Descriptor().Fields()
	url, val := fields.ByNumber(1), fields.ByNumber(2)
	if url == nil || val == nil {
		return nil
	}
	b := m.Get(val).Bytes()
	if depth+1 > MaxAnyDepth {
		return fmt.Errorf("google.protobuf.Any nested more than %d deep: %w", MaxAnyDepth, ErrTooLarge)
	}
	if *budget -= len(b); *budget < 0 {
		return fmt.Errorf("google.protobuf.Any values of more than %d bytes in all: %w", MaxAnyBytes, ErrTooLarge)
	}
	mt, err := r.FindMessageByURL(m.Get(url).String())
	if err != nil {
		return nil // protojson says why
	}
	inner := dynamicpb.NewMessage(mt.Descriptor())
	opts := proto.UnmarshalOptions{Resolver: r, RecursionLimit: decodeDepth}
	if err := opts.Unmarshal(b, inner); err != nil {
		return nil // protojson says why
	}
	return walkAnys(inner, r, depth+1, budget)
}
