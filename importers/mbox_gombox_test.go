package importers

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	gombox "github.com/emersion/go-mbox"

	"github.com/archive2imap/archive2imap/internal/corpora"
)

// TestMboxAgainstGoMbox is a differential test against
// github.com/emersion/go-mbox v1.0.4: on the files both readers should read
// the same, both must find the same messages with the same bytes.
//
// go-mbox splits at every line starting with "From ", unquotes exactly one
// level of ">From " and nothing deeper, knows neither Content-Length, MMDF
// nor a BOM. Files are left out where one of those makes the readers
// differ by design:
//
//   - thunderbird mbox_unquoted, mimekit unmunged.mbox.txt, fixture
//     unquoted-from.mbox: unquoted body From lines, which are not separators
//     here (go-mbox finds 3, 0 and 6 messages); unmunged.mbox.txt and fixture
//     bom.mbox also start with a BOM, which go-mbox rejects;
//   - perceval mbox_complex.mbox (">>>From "), fixture mboxrd.mbox (">>From "):
//     go-mbox leaves the deeper quoting;
//   - fixture mboxcl2.mbox: the Content-Length keeps a dated From line in the
//     body (go-mbox finds 3 messages);
//   - ietf mailbox_mmdf, neomutt fig.mbox, fixture mmdf.mmdf: MMDF.
//
// Two go-mbox v1.0.4 behaviours are modelled instead of excluding every
// file they touch (pipermail, Thunderbird and IETF files end messages with
// two empty lines):
//
//   - it drops an empty line only when the line right after it starts with
//     "From " (or the file ends), and after an empty line it writes the
//     next line without looking further; so of a run of n empty lines
//     ending a message it keeps n when n is even and n-1 when n is odd,
//     where this reader always keeps n-1 (the one separator line the writer
//     added is dropped, the rest is content);
//   - it ends every line with CRLF, even a last line that had no newline
//     in the file.
//
// goMboxWant applies both to the bytes this reader returned, from the raw
// file bytes at the message's location; any other difference fails.
func TestMboxAgainstGoMbox(t *testing.T) {
	files := []string{
		"testdata/mbox/mboxo.mbox",
		"testdata/mbox/mboxcl.mbox", // the Content-Length and go-mbox agree here
		"testdata/mbox/crlf.mbox",
		"testdata/mbox/eudora.mbox",
		"testdata/mbox/leading-blank.mbox",
		"testdata/mbox/empty.mbox",
		"testdata/mbox/truncated.mbox",
		"testdata/mbox/wrong-cl.mbox",
		"testdata/mbox/cl-past-eof.mbox",
		"testdata/mbox/headerless.mbox",
		"testdata/mbox/mozilla.mbox",
		"testdata/mbox/status.mbox",
		"testdata/mbox/no-message-id.mbox",
	}
	if dir := corporaDirIfAny(t); dir != "" {
		for _, f := range []string{
			"thunderbird/mailnews/test/data/mbox_mboxrd",
			"thunderbird/mailnews/test/data/mbox_modern",
			"thunderbird/mailnews/test/data/bugmail-1",
			"thunderbird/mailnews/test/data/SenderHeader",
			"thunderbird/mailnews/test/data/mail-without-from",
			"thunderbird/mailnews/test/data/template-latin1",
			"thunderbird/mailnews/test/data/external-attach-test",
			"thunderbird/mailnews/test/data/image-attach-test",
			"thunderbird/mailnews/local/test/unit/data/movemailspool",
			"thunderbird/mailnews/local/test/unit/data/mailformed_subject.eml",
			"thunderbird/mailnews/db/panorama/test/xpcshell/data/migration",
			"perceval/tests/data/hyperkitty/hyperkitty_2016_april.mbox",
			"perceval/tests/data/hyperkitty/hyperkitty_2016_march.mbox",
			"perceval/tests/data/mbox/mbox_iso8859_encoding.mbox",
			"perceval/tests/data/mbox/mbox_multipart.mbox",
			"perceval/tests/data/mbox/mbox_no_fields.mbox",
			"perceval/tests/data/mbox/mbox_single.mbox",
			"perceval/tests/data/mbox/mbox_unixfrom_encoding.mbox",
			"perceval/tests/data/mbox/mbox_unknown_encoding.mbox",
			"perceval/tests/data/pipermail/pipermail_2015_november.mbox",
			"perceval/tests/data/pipermail/pipermail_2016_april.mbox",
			"perceval/tests/data/pipermail/pipermail_2016_march.mbox",
			"ietf-mailarchive/backend/mlarchive/tests/data/duplicate_tests.mbox",
			"ietf-mailarchive/backend/mlarchive/tests/data/export.mbox",
			"ietf-mailarchive/backend/mlarchive/tests/data/latin1.mbox",
			"ietf-mailarchive/backend/mlarchive/tests/data/private.mbox",
			"ietf-mailarchive/backend/mlarchive/tests/data/search_api.mbox",
			"ietf-mailarchive/backend/mlarchive/tests/data/search_api_ford.mbox",
			"ietf-mailarchive/backend/mlarchive/tests/data/urlize.mbox",
			"ietf-mailarchive/backend/mlarchive/tests/data/windows1252.mbox",
			"ietf-mailarchive/backend/mlarchive/tests/data/mbox.1",
			"ietf-mailarchive/backend/mlarchive/tests/data/mailbox_mbox",
			"bigbang/tests/data/3GPP_mbox/3GPP_TSG_RAN_WG4_NR-MIMO-OTA.mbox",
			"bigbang/tests/data/3GPP_mbox/3GPP_TSG_SA_WG4_EVS.mbox",
			"bigbang/tests/data/2001-November.txt",
			// Netscape's bare "From - " lines after MIME boundaries: go-mbox
			// splits at every From line, this reader by the header block
			// that follows; both find the same 29 messages.
			"mimekit/UnitTests/TestData/mbox/content-length.mbox.txt",
			"mimekit/UnitTests/TestData/mbox/issue1189.mbox.txt",
			"mimekit/UnitTests/TestData/mbox/simple.mbox.txt",
			"dovecot-imaptest/src/tests/default.mbox",
			"dovecot-imaptest/src/tests/fetch-bodystructure.mbox",
			"dovecot-imaptest/src/tests/fetch-envelope.mbox",
			"dovecot-imaptest/src/tests/search-addresses.mbox",
			"dovecot-imaptest/src/tests/search-header.mbox",
			"dovecot-imaptest/src/tests/search-intdate.mbox",
			"dovecot-imaptest/src/tests/sort-subject.mbox",
			"dovecot-imaptest/src/tests/thread.mbox",
			"dovecot-imaptest/src/tests/urlauth-binary.mbox",
			"neomutt/mbox/apple.mbox",
			"neomutt/mbox/banana.mbox",
		} {
			files = append(files, filepath.Join(dir, f))
		}
	}
	modelled := 0
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ours := readMboxFile(t, path, Options{WantData: true})
			if len(ours.problems) > 0 {
				t.Fatalf("problems: %v", ours.problems)
			}
			theirs, err := readGoMbox(raw)
			if err != nil {
				t.Fatalf("go-mbox: %v", err)
			}
			if len(theirs) != len(ours.msgs) {
				t.Fatalf("go-mbox finds %d messages, this reader %d", len(theirs), len(ours.msgs))
			}
			for i, m := range ours.msgs {
				want := goMboxWant(m.Data, raw[m.Loc.Offset:m.Loc.Offset+m.Loc.Length])
				if !bytes.Equal(want, m.Data) {
					modelled++
				}
				if !bytes.Equal(theirs[i], want) {
					t.Errorf("message %d (%v): go-mbox gives %d bytes, this reader %d (%d expected from go-mbox)\n"+
						"go-mbox ends %q\nthis     ends %q", i+1, m.Loc, len(theirs[i]), len(m.Data), len(want),
						tail(theirs[i]), tail(m.Data))
				}
			}
		})
	}
	t.Logf("%d files; %d messages needed one of go-mbox's two modelled behaviours", len(files), modelled)
}

// corporaDirIfAny returns the corpora directory; where it is absent, the
// fixtures are still compared (corpora.Dir skips or fails the whole test).
func corporaDirIfAny(t *testing.T) string {
	if os.Getenv("CI") == "" {
		if _, err := os.Stat(filepath.Join("..", "..", "shared", "corpora")); err != nil && os.Getenv("ARCHIVE2IMAP_CORPORA") == "" {
			t.Logf("shared corpora absent: comparing the fixtures only")
			return ""
		}
	}
	return corpora.Dir(t)
}

func tail(b []byte) []byte { return b[max(0, len(b)-40):] }

// readGoMbox reads every message of an mbox file with go-mbox.
func readGoMbox(raw []byte) ([][]byte, error) {
	r := gombox.NewReader(bytes.NewReader(raw))
	var msgs [][]byte
	for {
		mr, err := r.NextMessage()
		if err == io.EOF {
			return msgs, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(mr)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, b)
	}
}

// goMboxWant returns what go-mbox v1.0.4 gives for a message this reader
// returned as data, whose raw bytes in the file (From_ line included) are
// seg; see TestMboxAgainstGoMbox.
func goMboxWant(data, seg []byte) []byte {
	// Count the empty lines (LF or CRLF) that end seg.
	n := 0
	rest := seg
	for {
		switch {
		case bytes.HasSuffix(rest, []byte("\n\n")):
			rest = rest[:len(rest)-1]
		case bytes.HasSuffix(rest, []byte("\n\r\n")):
			rest = rest[:len(rest)-2]
		default:
			goto counted
		}
		n++
	}
counted:
	want := data
	if n >= 2 && n%2 == 0 {
		want = append(bytes.Clone(data), "\r\n"...)
	}
	if len(seg) > 0 && seg[len(seg)-1] != '\n' {
		want = append(bytes.Clone(want), "\r\n"...)
	}
	return want
}
