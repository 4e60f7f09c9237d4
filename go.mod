module github.com/snapfs/snapfs

go 1.26.8

require (
	github.com/bufbuild/protocompile v0.14.1
	github.com/hanwen/go-fuse/v2 v2.12.1
	golang.org/x/sys v0.50.0
	google.golang.org/protobuf v1.36.12
)

require golang.org/x/sync v0.10.0 // indirect
