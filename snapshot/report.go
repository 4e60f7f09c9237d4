package snapshot

import "bytes"

// Severity of a Finding.
type Severity int

const (
	// Error makes a snapshot invalid: OpenVMM would refuse it, or snapfs
	// cannot show it faithfully.
	Error Severity = iota
	// Warning is worth knowing but does not make a snapshot invalid.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Finding is one line of the status view.
type Finding struct {
	Severity Severity
	Msg      string
}

func (f Finding) String() string { return f.Severity.String() + ": " + f.Msg }

// Report is the result of Check: the findings and what could be decoded.
type Report struct {
	Findings []Finding
	Manifest *Manifest   // nil if manifest.bin is missing or undecodable
	State    *StateIndex // nil if state.bin is missing or undecodable
}

// Valid reports whether there is no Error finding.
func (r *Report) Valid() bool {
	for _, f := range r.Findings {
		if f.Severity == Error {
			return false
		}
	}
	return true
}

// Text is the status view: "ok\n" alone when there are no findings, else
// one "error: ..." or "warning: ..." line per finding.
func (r *Report) Text() []byte {
	if len(r.Findings) == 0 {
		return []byte("ok\n")
	}
	var b bytes.Buffer
	for _, f := range r.Findings {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Add appends a finding; callers such as the CLI add their own.
func (r *Report) Add(s Severity, msg string) {
	r.Findings = append(r.Findings, Finding{s, msg})
}
