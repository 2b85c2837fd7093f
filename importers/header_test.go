package importers

import (
	"bytes"
	"strings"
	"testing"
)

func TestSplitHeader(t *testing.T) {
	tests := []struct {
		name         string
		msg          string
		header, body string
		bodyNil      bool
	}{
		{"RFC 5322 §2.1: fields, empty line, body", "A: 1\nB: 2\n\nbody\n", "A: 1\nB: 2\n", "body\n", false},
		{"RFC 5322 §2.1 with CRLF", "A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n", "body\r\n", false},
		{"RFC 5322 §2.2.3 folded field", "Subject: a\n b\n\tc\nX: y\n\nbody", "Subject: a\n b\n\tc\nX: y\n", "body", false},
		{"header-less message (Dovecot imaptest)", "\nbody\n", "", "body\n", false},
		{"header-less CRLF", "\r\nbody\r\n", "", "body\r\n", false},
		{"missing empty line: a non-field line starts the body (Python email)", "A: 1\nthis is the body\nB: 2\n", "A: 1\n", "this is the body\nB: 2\n", false},
		{"continuation with nothing to continue", " folded\nA: 1\n\nbody", "", " folded\nA: 1\n\nbody", false},
		{"header only, no empty line", "A: 1\nB: 2\n", "A: 1\nB: 2\n", "", true},
		{"header only, no final newline", "A: 1", "A: 1", "", true},
		{"empty message", "", "", "", true},
		{"old software: space before the colon", "Subject : hi\n\nbody", "Subject : hi\n", "body", false},
		{"From_ line left in the header by a broken writer", "From a Mon Jan  1 00:00:00 2001\nA: 1\n\nb", "", "From a Mon Jan  1 00:00:00 2001\nA: 1\n\nb", false},
		{"8-bit field name is not a field", "A: 1\nF\xfcr: x\n\nb", "A: 1\n", "F\xfcr: x\n\nb", false},
		{"colon first is not a field", "A: 1\n: x\n\nb", "A: 1\n", ": x\n\nb", false},
		{"empty line with only CR ends the header", "A: 1\n\r\nb", "A: 1\n", "b", false},
		{"CRLF empty line cut at the end (fuzz)", "A: 1\n\r", "A: 1\n", "", false},
	}
	for _, tt := range tests {
		h, b := SplitHeader([]byte(tt.msg))
		if string(h) != tt.header || string(b) != tt.body || (b == nil) != tt.bodyNil {
			t.Errorf("%s: SplitHeader(%q) = %q, %q (nil body %v); want %q, %q (nil body %v)",
				tt.name, tt.msg, h, b, b == nil, tt.header, tt.body, tt.bodyNil)
		}
		if !reassembles([]byte(tt.msg), h, b) {
			t.Errorf("%s: header %q + body %q do not reassemble %q", tt.name, h, b, tt.msg)
		}
	}
}

// reassembles reports whether header, the empty line SplitHeader dropped (if
// any) and body make up msg, with header and body slices of msg.
func reassembles(msg, header, body []byte) bool {
	if !bytes.HasPrefix(msg, header) || !bytes.HasSuffix(msg, body) {
		return false
	}
	sep := msg[len(header) : len(msg)-len(body)]
	switch string(sep) {
	case "", "\n", "\r\n":
		return true
	case "\r":
		// A CRLF empty line cut short at the end of the input.
		return len(body) == 0
	}
	return false
}

func TestForEachField(t *testing.T) {
	header := []byte("Received: from a\n\tby b; Mon, 1 Jan 2001 00:00:00 +0000\nSubject :  hello\r\nX-Empty:\nbroken line\nto: x@y\n")
	type field struct{ name, value string }
	var got []field
	forEachField(header, func(name, value []byte) bool {
		got = append(got, field{string(name), string(value)})
		return true
	})
	want := []field{
		{"Received", "from a\n\tby b; Mon, 1 Jan 2001 00:00:00 +0000"},
		{"Subject", "hello"},
		{"X-Empty", ""},
		{"to", "x@y"},
	}
	if len(got) != len(want) {
		t.Fatalf("fields %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d: %q, want %q", i, got[i], want[i])
		}
	}

	n := 0
	forEachField(header, func(name, value []byte) bool { n++; return false })
	if n != 1 {
		t.Errorf("returning false did not stop after one field: %d", n)
	}
}

func TestHeaderValue(t *testing.T) {
	header := []byte("message-id: a@b\nSubject: first\nSUBJECT: second\nX-Folded: one\n two\n")
	tests := []struct {
		name, field string
		want        string
		ok          bool
	}{
		{"case-insensitive (bigbang's lower-case names)", "Message-ID", "a@b", true},
		{"first of two wins", "Subject", "first", true},
		{"folding kept", "x-folded", "one\n two", true},
		{"absent", "Date", "", false},
		{"prefix of a name is not the name", "X-Fold", "", false},
	}
	for _, tt := range tests {
		v, ok := headerValue(header, tt.field)
		if string(v) != tt.want || ok != tt.ok {
			t.Errorf("%s: headerValue(%q) = %q, %v; want %q, %v", tt.name, tt.field, v, ok, tt.want, tt.ok)
		}
	}
}

func TestUnfold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\n b", "a b"},
		{"  a \t\t b  ", "a b"},
		{"a\n\tb\n c", "a b c"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := unfold([]byte(tt.in)); got != tt.want {
			t.Errorf("unfold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeHeader(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"RFC 2047 Q", "=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"},
		{"RFC 2047 B UTF-8", "=?UTF-8?B?0J/RgNC40LLQtdGC?=", "Привет"},
		{"unknown charset left as is", "=?x-unknown?Q?abc?=", "=?x-unknown?Q?abc?="},
		{"raw Latin-1 bytes (Thunderbird template-latin1)", "latin1 template \xe5\xe4\xf6", "latin1 template åäö"},
		{"plain ASCII", "Re: hello", "Re: hello"},
	}
	for _, tt := range tests {
		if got := decodeHeader(tt.in); got != tt.want {
			t.Errorf("%s: decodeHeader(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// FuzzHeader: the header scanner, keys and flags never panic on any bytes,
// and SplitHeader's two parts and the dropped empty line make up the input.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{
		"A: 1\nB: 2\n\nbody\n",
		"Subject: a\r\n b\r\n\r\nbody",
		"\nbody",
		" cont\nA: 1\n\n",
		"Message-ID: <a@b> <c@d>\nStatus: RO\nX-Mozilla-Status: 1007\nX-Mozilla-Keys: $label1 work\n\n",
		"message-id: CY4PR10MB1528@outlook.com\n\n",
		"Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?=\n\n",
		"From a Mon Jan  1 00:00:00 2001\nA: 1\n",
		"X-Status: AFTD\nStatus: RO\n\r\n",
		"A: 1\r",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, b := SplitHeader(msg)
		if !reassembles(msg, h, b) {
			t.Fatalf("header %q + body %q do not reassemble %q", h, b, msg)
		}
		key, id := KeyOf(msg)
		if !strings.HasPrefix(key, "mid:") && !strings.HasPrefix(key, "fp:") {
			t.Fatalf("key %q", key)
		}
		if (id != "") != strings.HasPrefix(key, "mid:") || strings.ContainsAny(id, " \t\r\n") {
			t.Fatalf("key %q, id %q", key, id)
		}
		// The key does not depend on line endings.
		if k2, _ := KeyOf(appendCRLF(nil, msg)); k2 != key && !bytes.Contains(msg, []byte("\r")) {
			t.Fatalf("LF key %s, CRLF key %s", key, k2)
		}
		flags, _ := mboxFlags(h)
		for i, fl := range flags {
			if i > 0 && flags[i-1] >= fl {
				t.Fatalf("flags not sorted and unique: %q", flags)
			}
		}
		forEachField(h, func(name, value []byte) bool {
			if len(name) == 0 {
				t.Fatalf("empty field name in %q", h)
			}
			return true
		})
		_ = decodeHeader(unfold(h))
	})
}

// TestTrimBytes: the two-byte trims forEachField uses agree with
// bytes.TrimLeft and bytes.TrimRight.
func TestTrimBytes(t *testing.T) {
	for _, in := range []string{"", " ", "\t \tx \t", "x", " x\r\n\r\n", "\r\n", "a b", "\n\r x \n\r"} {
		b := []byte(in)
		if got, want := trimLeftBytes(b, ' ', '\t'), bytes.TrimLeft(b, " \t"); !bytes.Equal(got, want) {
			t.Errorf("trimLeftBytes(%q) = %q, want %q", in, got, want)
		}
		for _, cut := range []string{" \t", "\r\n"} {
			if got, want := trimRightBytes(b, cut[0], cut[1]), bytes.TrimRight(b, cut); !bytes.Equal(got, want) {
				t.Errorf("trimRightBytes(%q, %q) = %q, want %q", in, cut, got, want)
			}
		}
	}
}
