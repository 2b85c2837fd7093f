package uploader

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func TestMUTF7(t *testing.T) {
	for _, tc := range []struct {
		name, utf8, wire string
	}{
		{"plain ASCII", "INBOX", "INBOX"},
		{"empty", "", ""},
		// RFC 3501 §5.1.3's example.
		{"RFC 3501 §5.1.3 example", "~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"RFC 3501 §5.1.3 ampersand", "&", "&-"},
		{"ampersand inside", "R&D/Q&A", "R&-D/Q&-A"},
		{"German Outlook 'Gesendete Elemente' (ASCII)", "Gesendete Elemente", "Gesendete Elemente"},
		{"German Thunderbird 'Entwürfe'", "Entwürfe", "Entw&APw-rfe"},
		{"French 'Éléments envoyés'", "Éléments envoyés", "&AMk-l&AOk-ments envoy&AOk-s"},
		{"Russian 'Отправленные'", "Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"},
		// A character outside the BMP is a UTF-16 surrogate pair.
		{"emoji (surrogate pair)", "📁 Archive", "&2D3cwQ- Archive"},
		{"control character (tab)", "a\tb", "a&AAk-b"},
		{"tilde and slash stay", "~/x", "~/x"},
		// Base64 output containing "/" must use "," (RFC 3501 §5.1.3).
		{"comma for slash in base64", "\u00ff\u00ff", "&AP8A,w-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mutf7Encode(tc.utf8); got != tc.wire {
				t.Errorf("encode(%q) = %q, want %q", tc.utf8, got, tc.wire)
			}
			got, err := mutf7Decode(tc.wire)
			if err != nil || got != tc.utf8 {
				t.Errorf("decode(%q) = %q, %v, want %q", tc.wire, got, err, tc.utf8)
			}
		})
	}
}

func TestMUTF7DecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"shift not closed", "&U,BTFw"},
		{"8-bit byte (raw UTF-8 where modified UTF-7 is due)", "Entwürfe"},
		{"RFC 3501: printable ASCII encoded in base64", "&AGEAYgBj-"},
		{"odd number of bytes", "&AP-"},
		{"bad base64 character", "&A*8-"},
		{"lone high surrogate", "&2D0-"},
		{"lone low surrogate", "&3ME-"},
		{"control byte", "a\x01b"},
		{"non-zero padding bits", "&APl-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := mutf7Decode(tc.in); !errors.Is(err, errMUTF7) {
				t.Errorf("decode(%q) = %q, %v, want errMUTF7", tc.in, got, err)
			}
		})
	}
}

func TestMUTF7InvalidUTF8(t *testing.T) {
	// Invalid UTF-8 becomes U+FFFD rather than a broken name.
	got, err := mutf7Decode(mutf7Encode("a\xffb"))
	if err != nil || got != "a\uFFFDb" {
		t.Errorf("round trip of invalid UTF-8 = %q, %v", got, err)
	}
}

func FuzzMUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "&", "~peter/mail/台北/日本語", "&U,BTFw-", "📁", "a\tb", "&-&-", "Entw&APw-rfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Encoding then decoding any valid UTF-8 gives it back, and the
		// wire form is printable ASCII.
		if utf8.ValidString(s) {
			enc := mutf7Encode(s)
			for i := 0; i < len(enc); i++ {
				if enc[i] < 0x20 || enc[i] > 0x7e {
					t.Fatalf("encode(%q) = %q has byte 0x%02x", s, enc, enc[i])
				}
			}
			dec, err := mutf7Decode(enc)
			if err != nil || dec != s {
				t.Fatalf("decode(encode(%q)) = %q, %v", s, dec, err)
			}
		}
		// Whatever decodes encodes back to the same wire form: the
		// decoder accepts only the canonical encoding.
		if dec, err := mutf7Decode(s); err == nil {
			if enc := mutf7Encode(dec); enc != s && !adjacentShifts(s) {
				t.Fatalf("encode(decode(%q)) = %q", s, enc)
			}
		}
	})
}

// adjacentShifts reports whether s has "-&" between two base64 runs
// ("&AOk-&AOk-"): RFC 3501 says encoders must not produce it, but it
// decodes; the canonical form merges the runs.
func adjacentShifts(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '-' && s[i+1] == '&' && s[i+2] != '-' && i > 0 && s[i-1] != '&' {
			return true
		}
	}
	return false
}
