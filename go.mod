module github.com/snapfs/snapfs

go 1.26.8

require (
	github.com/hanwen/go-fuse/v2 v2.12.1
	golang.org/x/sys v0.50.0
	google.golang.org/protobuf v1.36.12
)
