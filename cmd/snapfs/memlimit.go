package main

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// daemonMemoryLimit is the Go runtime's soft memory limit for the daemon
// while what it holds is small.
const daemonMemoryLimit = 56 << 20

// keepMemoryLimit holds the daemon's heap near what its caches need: the
// soft limit is daemonMemoryLimit, or half again the live heap when the
// kernel keeps more looked up than that (a state/ of 65,536 units): a
// fixed limit below the live heap would make the collector run without
// pause.
func keepMemoryLimit() {
	debug.SetMemoryLimit(daemonMemoryLimit)
	go func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for range time.Tick(250 * time.Millisecond) {
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return
			}
			live := int64(sample[0].Value.Uint64())
			debug.SetMemoryLimit(max(daemonMemoryLimit, live+live/2))
		}
	}()
}
