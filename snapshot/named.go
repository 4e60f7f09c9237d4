package snapshot

// NamedError is an error whose text already names the file it is about
// (e.g. "manifest.json: ..."): Check shows it as it is, so a message
// names each file once.
type NamedError struct{ Err error }

func (e *NamedError) Error() string { return e.Err.Error() }
func (e *NamedError) Unwrap() error { return e.Err }
