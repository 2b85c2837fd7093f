package importers

import (
	"fmt"
	"testing"
)

// TestMboxContentLengthToEOF (mboxcl, RFC 4155 §2's Content-Length
// variant): a Content-Length that runs over a From_ line to exactly the
// end of the file makes one message of the whole file, however the reads
// fall. The chunked reader used to deliver a second, empty message when
// its window ended right there before it had seen the end of the file
// (found by FuzzMbox; seed 0b52f6dc168f1b86).
func TestMboxContentLengthToEOF(t *testing.T) {
	body := "first line\nFrom b@example.com Mon Jan  1 10:00:00 2001\nlast line\n"
	data := []byte(fmt.Sprintf("From a@example.com Mon Jan  1 09:00:00 2001\nContent-Length: %d\n\n%s", len(body), body))
	want := scanMboxBytes(t, "cl-eof.mbox", data, len(data)+1, 0, Options{WantData: true})
	if len(want.msgs) != 1 || len(want.problems) != 0 || want.msgs[0].Loc.Length != int64(len(data)) {
		t.Fatalf("read at once: %d messages %v", len(want.msgs), want.problems)
	}
	for chunk := 1; chunk <= len(data)+1; chunk++ {
		for _, short := range []int{0, 1, 7} {
			got := scanMboxBytes(t, "cl-eof.mbox", data, chunk, short, Options{WantData: true})
			sameRun(t, fmt.Sprintf("chunk %d, short reads %d", chunk, short), got, want, true)
		}
	}
}

// sameRun reports the first difference between two reads of one file.
func sameRun(t *testing.T, what string, got, want mboxRun, withData bool) {
	t.Helper()
	if len(got.msgs) != len(want.msgs) || len(got.problems) != len(want.problems) {
		t.Fatalf("%s: %d messages %v, want %d %v", what, len(got.msgs), got.problems, len(want.msgs), want.problems)
	}
	for i, p := range got.problems {
		if p != want.problems[i] {
			t.Fatalf("%s: problem %+v, want %+v", what, p, want.problems[i])
		}
	}
	for i, m := range got.msgs {
		if d := sameMessage(m, want.msgs[i], withData); d != "" {
			t.Fatalf("%s: %s", what, d)
		}
	}
}
