package uploader

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     response
	}{
		{"RFC 4315 APPENDUID", "A3 OK [APPENDUID 38505 3955] APPEND completed\r\n",
			response{kind: respTagged, tag: "A3", status: "OK", code: "APPENDUID", codeArgs: "38505 3955", text: "APPEND completed"}},
		{"Dovecot TOOBIG", "A9 NO [TOOBIG] Mail size is too large\r\n",
			response{kind: respTagged, tag: "A9", status: "NO", code: "TOOBIG", text: "Mail size is too large"}},
		{"lower-case status (Courier)", "A1 ok login ok\r\n",
			response{kind: respTagged, tag: "A1", status: "OK", text: "login ok"}},
		{"tagged without text", "A1 OK\r\n", response{kind: respTagged, tag: "A1", status: "OK"}},
		{"BAD without code", "A2 BAD Error in IMAP command APPEND: Invalid arguments.\r\n",
			response{kind: respTagged, tag: "A2", status: "BAD", text: "Error in IMAP command APPEND: Invalid arguments."}},
		{"untagged BYE (Dovecot shutdown)", "* BYE Server shutting down.\r\n",
			response{kind: respUntagged, status: "BYE", text: "Server shutting down."}},
		{"untagged OK with UIDVALIDITY", "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n",
			response{kind: respUntagged, status: "OK", code: "UIDVALIDITY", codeArgs: "1700000000", text: "UIDs valid"}},
		{"untagged EXISTS", "* 23 EXISTS\r\n", response{kind: respUntagged, data: "23 EXISTS"}},
		{"CAPABILITY data", "* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR\r\n", response{kind: respUntagged, data: "CAPABILITY IMAP4rev1 LITERAL+ SASL-IR"}},
		{"continuation with text", "+ Ready for literal data\r\n", response{kind: respContinuation, text: "Ready for literal data"}},
		{"continuation, bare (RFC 3501 allows '+' alone from some servers)", "+\r\n", response{kind: respContinuation}},
		{"continuation with base64 challenge", "+ eyJzdGF0dXMiOiI0MDEifQ==\r\n", response{kind: respContinuation, text: "eyJzdGF0dXMiOiI0MDEifQ=="}},
		{"bare LF line end", "A1 OK done\n", response{kind: respTagged, tag: "A1", status: "OK", text: "done"}},
		{"status text ending like a literal is text", "A1 NO over the limit {5}\r\n",
			response{kind: respTagged, tag: "A1", status: "NO", text: "over the limit {5}"}},
		{"RFC 9051 FETCH with literal", "* 1 FETCH (BODY[] {12}\r\nA1 OK fake\r\n FLAGS (\\Seen))\r\n",
			response{kind: respUntagged, data: "1 FETCH (BODY[] {12} FLAGS (\\Seen))"}},
		{"zero-length literal", "* 1 FETCH (BODY[] {0}\r\n)\r\n", response{kind: respUntagged, data: "1 FETCH (BODY[] {0})"}},
		{"RFC 3516 literal8", "* 1 FETCH (BINARY[] ~{3}\r\n\x00\x01\x02)\r\n", response{kind: respUntagged, data: "1 FETCH (BINARY[] ~{3})"}},
		{"unterminated code is text", "A1 NO [oops\r\n", response{kind: respTagged, tag: "A1", status: "NO", text: "[oops"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.in + "A99 OK next\r\n"))
			got, err := readResponse(br)
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Errorf("got %+v\nwant %+v", *got, tc.want)
			}
			// The next response starts where this one ended.
			next, err := readResponse(br)
			if err != nil || next.tag != "A99" {
				t.Errorf("next response %+v, %v", next, err)
			}
		})
	}
}

func TestReadResponseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"EOF", "", io.EOF},
		{"cut in a line", "A1 OK do", io.ErrUnexpectedEOF},
		{"cut in a literal", "* 1 FETCH (BODY[] {100}\r\nshort", io.ErrUnexpectedEOF},
		{"cut after a literal", "* 1 FETCH (BODY[] {3}\r\nabc", io.ErrUnexpectedEOF},
		{"no tag", "garbage\r\n", errProtocol},
		{"tagged without status", "A1 FETCH 1\r\n", errProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readResponse(bufio.NewReader(strings.NewReader(tc.in)))
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadResponseLongLine(t *testing.T) {
	// A line longer than maxResponseLine is read whole (the stream stays in
	// step) and kept only in part.
	long := "* OK " + strings.Repeat("x", 3*maxResponseLine) + "\r\nA1 OK next\r\n"
	br := bufio.NewReaderSize(strings.NewReader(long), 4096)
	r, err := readResponse(br)
	if err != nil || r.status != "OK" || len(r.text) > maxResponseLine {
		t.Fatalf("long line: %v, text of %d bytes", err, len(r.text))
	}
	if next, err := readResponse(br); err != nil || next.tag != "A1" {
		t.Fatalf("after the long line: %+v, %v", next, err)
	}
}

func TestParseCaps(t *testing.T) {
	caps := parseCaps("imap4rev1 literal+ Sasl-IR AUTH=plain APPENDLIMIT=35651584 IMAP4rev2")
	for _, c := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapLiteralPlus, imap.CapLiteralMinus, imap.CapSASLIR, imap.AuthCap("PLAIN")} {
		if !caps.Has(c) {
			t.Errorf("%s missing from %v", c, caps)
		}
	}
	if lim, ok := caps.AppendLimit(); !ok || lim == nil || *lim != 35651584 {
		t.Errorf("APPENDLIMIT = %v, %v", lim, ok)
	}
}

func TestParseAppendUID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		v, u uint32
		ok   bool
	}{
		{"38505 3955", 38505, 3955, true},
		{" 1 1 ", 1, 1, true},
		{"38505 3955:3957", 0, 0, false}, // MULTIAPPEND set: not ours
		{"0 1", 0, 0, false},
		{"1", 0, 0, false},
		{"4294967296 1", 0, 0, false},
	} {
		v, u, ok := parseAppendUID(tc.in)
		if v != tc.v || u != tc.u || ok != tc.ok {
			t.Errorf("parseAppendUID(%q) = %d %d %v", tc.in, v, u, ok)
		}
	}
}

func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"A3 OK [APPENDUID 38505 3955] APPEND completed\r\n",
		"* 1 FETCH (BODY[] {12}\r\nA1 OK fake\r\n FLAGS (\\Seen))\r\n",
		"+ Ready\r\n",
		"* BYE bye\r\n",
		"* CAPABILITY IMAP4rev1 LITERAL+\r\n",
		"* 1 FETCH (BODY[] {99999999999}\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(strings.NewReader(string(b)))
		for i := 0; i < 1000; i++ {
			r, err := readResponse(br)
			if err != nil {
				return
			}
			if r.kind == respTagged && (r.tag == "" || r.status == "") {
				t.Fatalf("tagged response without tag or status: %+v", r)
			}
			if r.code != "" && r.code != strings.ToUpper(r.code) {
				t.Fatalf("code %q not upper case", r.code)
			}
			if len(r.data) > 2*maxResponseLine+64 || len(r.text) > maxResponseLine {
				t.Fatalf("response kept %d+%d bytes", len(r.data), len(r.text))
			}
		}
	})
}

func TestParseAppendUIDSet(t *testing.T) {
	for _, tc := range []struct {
		args string
		n    int
		v    uint32
		uids []uint32
	}{
		{"38505 3955:3958", 4, 38505, []uint32{3955, 3956, 3957, 3958}}, // RFC 4315 §3, MULTIAPPEND
		{"1 5,7:8", 3, 1, []uint32{5, 7, 8}},
		{"1 5", 1, 1, []uint32{5}},
		{"1 5:9", 4, 1, nil}, // more UIDs than messages
		{"1 5:6", 3, 1, nil}, // fewer
		{"1 9:5", 5, 1, nil}, // not ascending
		{"0 5:6", 2, 0, nil},
		{"1 x", 1, 1, nil},
		{"15", 1, 0, nil},
	} {
		v, uids := parseAppendUIDSet(tc.args, tc.n)
		if v != tc.v || !slices.Equal(uids, tc.uids) {
			t.Errorf("parseAppendUIDSet(%q, %d) = %d, %v; want %d, %v", tc.args, tc.n, v, uids, tc.v, tc.uids)
		}
	}
}
