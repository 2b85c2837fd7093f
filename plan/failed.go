package plan

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/report"
)

// WriteFailed writes every message of rep that could not be uploaded (its
// plan or its outcome is "failed") to an mboxrd file at path, so that it
// can be looked at, fixed and migrated again: each message as it was read
// (LF line endings, ">From " quoting), after a From_ line with its
// delivery date; its flags as Status/X-Status fields when the message
// holds none of its own. It refuses to write over a source. It returns how
// many messages it wrote.
func WriteFailed(path string, rep *report.Report, opts importers.Options) (int, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, err
	}
	for _, s := range rep.Sources {
		sp, _ := filepath.Abs(s.Path)
		if abs == sp || strings.HasPrefix(abs, sp+string(filepath.Separator)) {
			return 0, fmt.Errorf("--failed-out %s is inside the source %s: archive2imap never writes there", path, s.Path)
		}
	}
	formats := make(map[string]importers.Format)
	for _, f := range rep.Folders {
		formats[f.Source] = importers.Format(f.Format)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	n := 0
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Decision() != report.DecisionFailed {
			continue
		}
		msg, err := importers.ReadMessage(formats[m.Folder], importers.Location{Path: m.Path, Offset: m.Offset, Length: m.Length, Index: m.Index}, opts)
		if err != nil {
			f.Close()
			return n, fmt.Errorf("--failed-out: %w", err)
		}
		writeMboxrd(w, msg.Data, m)
		n++
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return n, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return n, err
	}
	return n, f.Close()
}

// writeMboxrd writes one message in mboxrd form: From_ line, the message
// with LF line endings and every ">*From " line quoted once more, an empty
// line.
func writeMboxrd(w *bufio.Writer, data []byte, m *report.Message) {
	date := m.Date
	if date.IsZero() {
		fmt.Fprintf(w, "From archive2imap Thu Jan  1 00:00:00 1970\n")
	} else {
		// The zone after the year (as Dovecot writes it) keeps the instant.
		fmt.Fprintf(w, "From archive2imap %s\n", date.Format("Mon Jan _2 15:04:05 2006 -0700"))
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	endsNL := bytes.HasSuffix(data, []byte("\n"))
	header, _ := importers.SplitHeader(data)
	if st := flagFields(m.Flags); st != "" && !hasStatusField(header) {
		w.WriteString(st)
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
			w.WriteByte('>')
		}
		w.Write(line)
	}
	if !endsNL {
		w.WriteByte('\n')
	}
	w.WriteByte('\n')
}

func hasStatusField(header []byte) bool {
	for _, l := range bytes.Split(header, []byte("\n")) {
		lower := bytes.ToLower(l)
		if bytes.HasPrefix(lower, []byte("status:")) || bytes.HasPrefix(lower, []byte("x-status:")) || bytes.HasPrefix(lower, []byte("x-mozilla-status:")) {
			return true
		}
	}
	return false
}

// flagFields are the mutt/c-client Status and X-Status fields of flags.
func flagFields(flags []string) string {
	var st, xst string
	for _, f := range flags {
		switch f {
		case importers.FlagSeen:
			st += "R"
		case importers.FlagAnswered:
			xst += "A"
		case importers.FlagFlagged:
			xst += "F"
		case importers.FlagDraft:
			xst += "T"
		}
	}
	out := ""
	if st != "" {
		out += "Status: " + st + "O\n"
	}
	if xst != "" {
		out += "X-Status: " + xst + "\n"
	}
	return out
}
