# snapfs: `make run` for a demo, `make test` for every test.
GO      ?= go
BIN     := bin/snapfs
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
COMMIT  := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
PREFIX  ?= /usr/local
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
STORE   ?= demo-store
MNT     ?= mnt
FUZZTIME ?= 20s
SOAK    ?= 10m

# Debian packages, installed only when missing: the demo needs FUSE alone;
# the tests also run real clients against the mount, and GlusterFS, and
# check the man pages (man-db, groff-base).
DEMO_PKGS := fuse3
TEST_PKGS := $(DEMO_PKGS) rsync tar xfsprogs restic borgbackup libarchive-tools acl attr stress-ng fio protobuf-compiler glusterfs-server glusterfs-client man-db groff-base

.PHONY: all build deps deps-demo test run fuzz bench soak install uninstall docs clean

all: build

build:
	@# No cgo: the daemon drops CAP_SYS_RESOURCE on every thread
	@# (syscall.AllThreadsSyscall, which cgo disables).
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/snapfs

# A package counts only when installed (a removed one keeps its
# configuration, and dpkg -s still knows it). fuse3 is named in every
# install: borgbackup wants "fuse", which apt would otherwise satisfy with
# FUSE 2, removing fuse3 (fusermount3).
deps: PKGS = $(TEST_PKGS)
deps-demo: PKGS = $(DEMO_PKGS)
deps deps-demo:
	@missing=""; for p in $(PKGS); do \
		[ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 $$missing; \
	fi

test: deps build
	$(GO) vet ./...
	SNAPFS_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 30m ./...

# The demo's snapshots get digest records, so each shows sha256sums.
run: deps-demo build
	@if [ ! -d $(STORE) ]; then ./$(BIN) sample --count 3 --memory-size 64MiB $(STORE) && \
		./$(BIN) digest $(STORE)/*; fi
	@mkdir -p $(MNT)
	@echo "snapfs: serving $(STORE) at $(MNT); try in another shell:"
	@echo "  ls -l $(MNT)  cat $(MNT)/latest/manifest.json  grep . $(MNT)/*/status"
	@echo "  cd $(MNT)/latest && sha256sum -c sha256sums"
	@echo "Ctrl-C unmounts."
	./$(BIN) mount $(STORE) $(MNT)

fuzz:
	$(GO) test ./snapshot -run '^$$' -fuzz '^FuzzDecodeManifest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./snapshot -run '^$$' -fuzz '^FuzzIndexState$$' -fuzztime $(FUZZTIME)
	$(GO) test ./snapshot -run '^$$' -fuzz '^FuzzParseManifestJSON$$' -fuzztime $(FUZZTIME)
	$(GO) test ./snapshot/digest -run '^$$' -fuzz '^FuzzParseRecord$$' -fuzztime $(FUZZTIME)
	$(GO) test ./snapshot/statetext -run '^$$' -fuzz '^FuzzDecodeRaw$$' -fuzztime $(FUZZTIME)

bench: deps build
	@# bindfs (the --no-passthrough baseline) needs "fuse", which fuse3 provides:
	@# naming fuse3 too keeps apt from swapping it for fuse 2.
	@command -v bindfs >/dev/null 2>&1 || { echo "installing: bindfs"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bindfs fuse3; }
	SNAPFS_BIN=$(CURDIR)/$(BIN) $(GO) test ./integration -run '^$$' -bench . -benchtime 1x -timeout 60m

# Readers, creators, STORE changes and SIGKILLs against one mount for
# $(SOAK) (SOAK=60s for a quick run); prints the daemon's RSS, threads, fds.
soak: deps build
	SNAPFS_BIN=$(CURDIR)/$(BIN) SNAPFS_SOAK=$(SOAK) $(GO) test ./integration -run '^TestSoak$$' -count=1 -v -timeout 0

# mount(8) runs /sbin/mount.snapfs (and mount.fuse.snapfs for -t fuse.snapfs);
# both are the snapfs binary, which acts as the helper under those names.
# The man pages and the completion are made from the help (make docs).
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/snapfs
	mkdir -p $(DESTDIR)/sbin
	ln -sf $(PREFIX)/bin/snapfs $(DESTDIR)/sbin/mount.snapfs
	ln -sf $(PREFIX)/bin/snapfs $(DESTDIR)/sbin/mount.fuse.snapfs
	install -D -m 0644 docs/man/snapfs.8 $(DESTDIR)$(MANDIR)/man8/snapfs.8
	install -D -m 0644 docs/man/mount.snapfs.8 $(DESTDIR)$(MANDIR)/man8/mount.snapfs.8
	ln -sf mount.snapfs.8 $(DESTDIR)$(MANDIR)/man8/mount.fuse.snapfs.8
	install -D -m 0644 contrib/bash-completion/snapfs $(DESTDIR)$(BASHCOMPDIR)/snapfs

# Removes what install put down, and the directories it made that only
# those files were in (never bin/, sbin/ or man/ themselves).
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/snapfs $(DESTDIR)/sbin/mount.snapfs $(DESTDIR)/sbin/mount.fuse.snapfs
	rm -f $(DESTDIR)$(MANDIR)/man8/snapfs.8 $(DESTDIR)$(MANDIR)/man8/mount.snapfs.8 $(DESTDIR)$(MANDIR)/man8/mount.fuse.snapfs.8
	rm -f $(DESTDIR)$(BASHCOMPDIR)/snapfs
	@for d in $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(PREFIX)/share/bash-completion; do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d; done

# Remakes docs/man/*.8 and contrib/bash-completion/snapfs from the help.
docs:
	$(GO) test ./cmd/snapfs -run '^TestDocsUpToDate$$' -count=1 -update-docs

clean:
	rm -rf bin
