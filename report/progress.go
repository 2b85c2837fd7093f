package report

// Progress receives the progress of long phases (scanning, fetching what
// the server has, uploading). Logic reports through it; only the command
// layer decides how to show it (bars on a terminal, log lines otherwise).
// Implementations must be safe for concurrent use.
type Progress interface {
	// Start begins a phase; total and totalBytes are 0 when unknown.
	Start(phase string, total int, totalBytes int64)
	// Add records n more messages and bytes done in the current phase.
	Add(n int, bytes int64)
	// Logf records one line of information.
	Logf(format string, args ...any)
	// Finish ends the current phase.
	Finish()
}

// NoProgress discards all progress.
var NoProgress Progress = noProgress{}

type noProgress struct{}

func (noProgress) Start(string, int, int64) {}
func (noProgress) Add(int, int64)           {}
func (noProgress) Logf(string, ...any)      {}
func (noProgress) Finish()                  {}
