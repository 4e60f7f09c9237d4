// Package statetext turns OpenVMM saved-state unit values (protobuf
// messages) into text.
//
// DecodeRaw needs no schema: it prints a value byte for byte as
// `protoc --decode_raw` (protoc 3.21, Debian's protobuf-compiler) does,
// and rejects the bytes protoc rejects. Schema reads the .proto files
// that `openvmm --write-saved-state-proto DIR` writes, with a real .proto
// compiler (github.com/bufbuild/protocompile), and decodes a value as the
// message its type URL names into the proto3 JSON mapping with .proto
// field names (protobuf-go's dynamicpb and protojson). ReadValue reads a
// unit's value bytes from state.bin, at the place snapshot's index gives:
// the one reader of values for the daemon and the commands.
//
// Both are bounded: values larger than MaxValueSize and texts larger
// than MaxTextSize are refused (ErrTooLarge), groups nest at most 100
// deep and typed messages at most 100 deep, google.protobuf.Any values
// nest at most MaxAnyDepth deep and hold at most MaxAnyBytes in all (each
// level counted: protojson decodes them anew), so a hostile state.bin costs
// bounded memory and time.
package statetext
