package snapshot

import "time"

// Timestamp is google.protobuf.Timestamp as OpenVMM's mesh encodes it.
// Nanos is kept as read (not normalised) so encoding reproduces the input;
// Check reports values outside the valid range.
type Timestamp struct {
	Seconds int64
	Nanos   int32
}

// Valid range of a google.protobuf.Timestamp: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z. Outside it RFC 3339 cannot express the
// value, so manifest.json could not round-trip.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// IsZero reports whether t is the zero Timestamp (absent on the wire).
func (t Timestamp) IsZero() bool { return t.Seconds == 0 && t.Nanos == 0 }

// Time returns t in UTC.
func (t Timestamp) Time() time.Time { return time.Unix(t.Seconds, int64(t.Nanos)).UTC() }

// RFC3339 renders t like time.RFC3339Nano in UTC; the zero Timestamp is
// "1970-01-01T00:00:00Z".
func (t Timestamp) RFC3339() string { return t.Time().Format(time.RFC3339Nano) }

// timestampOf converts a time.Time to a Timestamp.
func timestampOf(tm time.Time) Timestamp {
	return Timestamp{Seconds: tm.Unix(), Nanos: int32(tm.Nanosecond())}
}

// nanosValid reports whether Nanos is in [0, 1e9).
func (t Timestamp) nanosValid() bool { return t.Nanos >= 0 && t.Nanos < 1e9 }

// secondsValid reports whether Seconds is within years 0001..9999.
func (t Timestamp) secondsValid() bool {
	return t.Seconds >= minTimestampSeconds && t.Seconds <= maxTimestampSeconds
}
