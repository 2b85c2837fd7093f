package report

import (
	"errors"
	"io"
)

// STUB: the CSV, Markdown and HTML writers are being written.

// WriteCSV writes one row per message.
func WriteCSV(w io.Writer, rep *Report) error { return errors.New("csv report: not implemented") }

// WriteMarkdown writes a summary for a ticket.
func WriteMarkdown(w io.Writer, rep *Report) error {
	return errors.New("markdown report: not implemented")
}

// WriteHTML writes one self-contained HTML page.
func WriteHTML(w io.Writer, rep *Report) error { return errors.New("html report: not implemented") }
