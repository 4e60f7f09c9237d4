package snapshot

import (
	"fmt"
	"time"
)

// MaxClockSkew is how far after the moment of checking a created_at may
// lie: time comes from the clock, not from the user. A snapshot dated
// later would stay the newest for good (latest, prune's keep rules), so
// it is refused on publishing and a status error in STORE. Five minutes
// allows for a guest or another host whose clock runs a little ahead.
const MaxClockSkew = 5 * time.Minute

// Future reports whether created lies more than MaxClockSkew after now.
func Future(created Timestamp, now time.Time) bool {
	return created.Time().After(now.Add(MaxClockSkew))
}

// FutureError is the error for the created_at of file (manifest.bin or
// manifest.json) when it lies in the future, or nil.
func FutureError(file string, created Timestamp, now time.Time) error {
	if !Future(created, now) {
		return nil
	}
	return fmt.Errorf("%s: created_at %s is later than the allowed maximum %s (now plus %v): "+
		"a snapshot cannot be taken in the future; set created_at to when it was taken, or leave it out to get the moment of publishing",
		file, created.RFC3339(), now.Add(MaxClockSkew).UTC().Format(time.RFC3339), MaxClockSkew)
}
