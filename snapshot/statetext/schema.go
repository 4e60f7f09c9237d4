package statetext

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	_ "google.golang.org/protobuf/types/known/durationpb" // for Any
	_ "google.golang.org/protobuf/types/known/emptypb"
	_ "google.golang.org/protobuf/types/known/structpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"
)

// Bounds on a schema directory: OpenVMM writes tens of files of some
// kilobytes each.
const (
	maxSchemaFiles = 4096
	maxSchemaBytes = 64 << 20
)

// decodeDepth bounds the nesting of messages when a value is decoded
// with its type.
const decodeDepth = 100

// ErrUnknownType is returned for a unit whose type the schema lacks.
var ErrUnknownType = errors.New("type not in the schema")

// ErrNoDecode is returned for a value that is not the message its type
// names (or has no JSON form).
var ErrNoDecode = errors.New("does not decode as")

// Schema is a compiled set of .proto files, such as the ones
// `openvmm --write-saved-state-proto DIR` writes.
type Schema struct {
	Dir   string
	Files []string // the .proto files, relative to Dir
	res   linker.Resolver
}

// LoadSchema parses every .proto file in dir (and its subdirectories,
// imports relative to dir; google/protobuf/*.proto are built in). A file
// that does not parse gives the parser's "file:line:column: message",
// the file named by its path.
func LoadSchema(dir string) (*Schema, error) {
	var names []string
	total := int64(0)
	err := filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".proto") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		total += fi.Size()
		if len(names) == maxSchemaFiles || total > maxSchemaBytes {
			return fmt.Errorf("schema %s: more than %d files or %d bytes", dir, maxSchemaFiles, maxSchemaBytes)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("schema %s: no .proto files", dir)
	}
	sort.Strings(names)
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: func(name string) (io.ReadCloser, error) {
				if !iofs.ValidPath(name) {
					return nil, fmt.Errorf("import %q is outside the schema directory", name)
				}
				return os.Open(filepath.Join(dir, filepath.FromSlash(name)))
			},
		}),
	}
	files, err := c.Compile(context.Background(), names...)
	if err != nil {
		var ewp reporter.ErrorWithPos
		if errors.As(err, &ewp) {
			pos := ewp.GetPosition()
			return nil, fmt.Errorf("%s:%d:%d: %v", filepath.Join(dir, pos.Filename), pos.Line, pos.Col, ewp.Unwrap())
		}
		return nil, fmt.Errorf("schema %s: %w", dir, err)
	}
	return &Schema{Dir: dir, Files: names, res: files.AsResolver()}, nil
}

// typeResolver finds the types an Any names: the schema's, then the
// well-known types protobuf-go has built in.
type typeResolver struct{ s linker.Resolver }

func (r typeResolver) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := r.s.FindMessageByName(n); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

func (r typeResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	return r.FindMessageByName(protoreflect.FullName(TypeName(url)))
}

func (r typeResolver) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return r.s.FindExtensionByName(n)
}

func (r typeResolver) FindExtensionByNumber(m protoreflect.FullName, n protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return r.s.FindExtensionByNumber(m, n)
}

// TypeName returns the message name of a type URL: its last segment.
func TypeName(typeURL string) string {
	return typeURL[strings.LastIndexByte(typeURL, '/')+1:]
}

// Lookup reports whether the schema defines the type of typeURL.
func (s *Schema) Lookup(typeURL string) (protoreflect.MessageType, error) {
	name := protoreflect.FullName(TypeName(typeURL))
	if !name.IsValid() {
		return nil, fmt.Errorf("%q: %w", name, ErrUnknownType)
	}
	mt, err := s.res.FindMessageByName(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, ErrUnknownType)
	}
	return mt, nil
}

// Decode decodes value as the message its typeURL names. It fails with
// ErrUnknownType when the schema lacks the type, and otherwise says why
// the bytes are not that message.
func (s *Schema) Decode(typeURL string, value []byte) (proto.Message, error) {
	mt, err := s.Lookup(typeURL)
	if err != nil {
		return nil, err
	}
	if len(value) > MaxValueSize {
		return nil, fmt.Errorf("%d bytes, more than %d: %w", len(value), MaxValueSize, ErrTooLarge)
	}
	m := dynamicpb.NewMessage(mt.Descriptor())
	opts := proto.UnmarshalOptions{Resolver: typeResolver{s.res}, RecursionLimit: decodeDepth}
	if err := opts.Unmarshal(value, m); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrNoDecode, mt.Descriptor().FullName(), err)
	}
	if err := checkAnys(m, typeResolver{s.res}); err != nil {
		return nil, err
	}
	return m, nil
}

// JSON returns the proto3 JSON mapping of value as the type typeURL
// names, with the .proto field names, indented, with a final newline.
func (s *Schema) JSON(typeURL string, value []byte) ([]byte, error) {
	m, err := s.Decode(typeURL, value)
	if err != nil {
		return nil, err
	}
	compact, err := protojson.MarshalOptions{UseProtoNames: true, Resolver: typeResolver{s.res}}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w %s: no JSON form: %v", ErrNoDecode, m.ProtoReflect().Descriptor().FullName(), err)
	}
	return indentJSON(compact)
}

// indentJSON re-indents protojson's output, whose spacing is
// deliberately unstable, into a stable form.
func indentJSON(compact []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	if out.Len() > MaxTextSize {
		return nil, fmt.Errorf("JSON of more than %d bytes: %w", MaxTextSize, ErrTooLarge)
	}
	return out.Bytes(), nil
}

// Value returns the decoded value as JSON for a document that embeds it
// (inspect --state): nil for an unknown type or bytes that do not decode.
func (s *Schema) Value(typeURL string, value []byte) (json.RawMessage, error) {
	if s == nil {
		return nil, ErrUnknownType
	}
	b, err := s.JSON(typeURL, value)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(b), nil
}
