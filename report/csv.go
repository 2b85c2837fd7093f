package report

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// csvHeader names the columns of the CSV report, in order. The first cell
// is "folder": a file starting with "ID" is taken for SYLK by Excel.
var csvHeader = []string{
	"folder", "target", "path", "offset", "index", "key", "message_id",
	"date", "date_source", "size", "subject", "flags",
	"plan", "outcome", "decision", "reason",
	"uid_validity", "uid", "verified", "warnings",
}

// WriteCSV writes one row per message, in source order, after a header row
// (csvHeader): where the message came from (folder, path, byte offset and
// index as separate columns), what it is (key, Message-ID, date in RFC 3339
// or empty when unknown, size, subject, flags separated by spaces), what was
// decided and done (plan, outcome, decision: the outcome where there is one,
// else the plan; reason), where it went (target, UIDVALIDITY and UID when
// the server said), what verify found, and the warnings joined with "; ".
//
// The file is UTF-8 without a byte order mark, RFC 4180 (CRLF line ends,
// quoting by encoding/csv). Spreadsheets run a cell that starts with =, +,
// -, @, a tab or a carriage return as a formula, so such a text cell (a
// subject "=SUM(A1)", a folder "-old") is written with a leading apostrophe
// ("'=SUM(A1)"), which spreadsheets show but do not evaluate. Numbers are
// written as they are.
func WriteCSV(w io.Writer, rep *Report) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	row := make([]string, len(csvHeader))
	for i := range rep.Messages {
		m := &rep.Messages[i]
		date := ""
		if !m.Date.IsZero() {
			date = m.Date.Format(time.RFC3339)
		}
		row = append(row[:0],
			csvText(m.Folder),
			csvText(m.Target),
			csvText(m.Path),
			strconv.FormatInt(m.Offset, 10),
			strconv.Itoa(m.Index),
			csvText(m.Key),
			csvText(m.MessageID),
			date,
			csvText(m.DateSource),
			strconv.FormatInt(m.Size, 10),
			csvText(m.Subject),
			csvText(strings.Join(m.Flags, " ")),
			m.Plan,
			m.Outcome,
			m.Decision(),
			csvText(m.Reason),
			csvUint(m.UIDValidity),
			csvUint(m.UID),
			m.Verified,
			csvText(strings.Join(m.Warnings, "; ")),
		)
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvText neutralises a text cell a spreadsheet would run as a formula.
func csvText(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// csvUint writes a UID or UIDVALIDITY, empty when the server gave none.
func csvUint(n uint32) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(n), 10)
}
