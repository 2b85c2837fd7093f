package importers

import (
	"strings"
	"testing"
)

func TestNormalizeMessageID(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"RFC 5322 §3.6.4 msg-id", "<1234@example.com>", "1234@example.com"},
		{"surrounding whitespace", "  <1234@example.com>\r\n", "1234@example.com"},
		{"folded inside the brackets", "<1234@\r\n example.com>", "1234@example.com"},
		{"whitespace inside the brackets (broken MUAs)", "< 1234 @ example.com >", "1234@example.com"},
		{"comment after", "<1234@example.com> (added by relay)", "1234@example.com"},
		{"two IDs: the first", "<a@example.com> <b@example.com>", "a@example.com"},
		{"bigbang 3GPP scrape: no brackets", "CY4PR10MB15280221A838A614A5E5D7C0B3130@CY4PR10MB1528.namprd10.prod.outlook.com",
			"CY4PR10MB15280221A838A614A5E5D7C0B3130@CY4PR10MB1528.namprd10.prod.outlook.com"},
		{"no brackets, then a comment", "2019112212144537800715@caict.ac.cn (list)", "2019112212144537800715@caict.ac.cn"},
		{"unterminated bracket", "<1234@example.com", "1234@example.com"},
		{"empty", "", ""},
		{"only whitespace", " \t ", ""},
		{"empty brackets", "<>", ""},
		{"only a comment", "(none)", ""},
	}
	for _, tt := range tests {
		if got := NormalizeMessageID(tt.in); got != tt.want {
			t.Errorf("%s: NormalizeMessageID(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
		wantKey := ""
		if tt.want != "" {
			wantKey = "mid:" + tt.want
		}
		if got := MessageIDKey(tt.in); got != wantKey {
			t.Errorf("%s: MessageIDKey(%q) = %q, want %q", tt.name, tt.in, got, wantKey)
		}
	}
}

const keyMsg = "Received: from a by b; Mon, 1 Jan 2001 00:00:00 +0000\n" +
	"Date: Mon, 1 Jan 2001 00:00:00 +0000\n" +
	"From: Alice <alice@example.com>\n" +
	"To: Bob <bob@example.com>\n" +
	"Subject: a\n" +
	" folded subject\n" +
	"Status: RO\n" +
	"\n" +
	"Hello Bob,\n" +
	"\n" +
	"Alice\n"

func TestKeyOf(t *testing.T) {
	base, id := KeyOf([]byte(keyMsg))
	if !strings.HasPrefix(base, "fp:") || len(base) != len("fp:")+32 || id != "" {
		t.Fatalf("KeyOf = %q, %q; want an fp: key of 16 bytes in hex", base, id)
	}
	same := []struct{ name, msg string }{
		{"CRLF instead of LF", strings.ReplaceAll(keyMsg, "\n", "\r\n")},
		{"another Received (delivered twice)", "Received: from c by d; Tue, 2 Jan 2001 00:00:00 +0000\n" + keyMsg},
		{"Status changed by the client", strings.Replace(keyMsg, "Status: RO", "Status: O", 1)},
		{"X-Mozilla-Status added by Thunderbird", "X-Mozilla-Status: 0001\n" + keyMsg},
		{"X-UID added by c-client", strings.Replace(keyMsg, "Status: RO\n", "Status: RO\nX-UID: 12\n", 1)},
		{"folded differently", strings.Replace(keyMsg, "Subject: a\n folded subject", "Subject: a folded\n\tsubject", 1)},
		{"trailing empty lines and spaces", keyMsg + "\n\n  \n"},
		{"field names in lower case", strings.Replace(keyMsg, "Subject:", "subject:", 1)},
	}
	for _, tt := range same {
		if got, _ := KeyOf([]byte(tt.msg)); got != base {
			t.Errorf("%s: key %s, want %s", tt.name, got, base)
		}
	}
	differ := []struct{ name, msg string }{
		{"body changed", strings.Replace(keyMsg, "Hello Bob", "Hello Rob", 1)},
		{"Subject changed", strings.Replace(keyMsg, "folded subject", "other subject", 1)},
		{"Date changed", strings.Replace(keyMsg, "Date: Mon, 1 Jan 2001 00:00:00", "Date: Mon, 1 Jan 2001 00:00:01", 1)},
		{"Cc added", strings.Replace(keyMsg, "Status: RO", "Cc: carol@example.com\nStatus: RO", 1)},
		{"a lone CR is content", strings.Replace(keyMsg, "Hello Bob,", "Hello\rBob,", 1)},
		{"quoted From line (mboxrd) is not the same body", strings.Replace(keyMsg, "Alice\n", ">From Alice\n", 1)},
	}
	for _, tt := range differ {
		if got, _ := KeyOf([]byte(tt.msg)); got == base {
			t.Errorf("%s: same key %s", tt.name, got)
		}
	}

	withID := "Message-ID: <x@example.com>\n" + keyMsg
	if k, id := KeyOf([]byte(withID)); k != "mid:x@example.com" || id != "x@example.com" {
		t.Errorf("with Message-ID: %q, %q", k, id)
	}
	if k, _ := KeyOf([]byte(strings.ReplaceAll(withID, "\n", "\r\n"))); k != "mid:x@example.com" {
		t.Errorf("with Message-ID, CRLF: %q", k)
	}
	// An empty Message-ID falls back to the fingerprint.
	if k, id := KeyOf([]byte("Message-ID: \n" + keyMsg)); k != base || id != "" {
		t.Errorf("empty Message-ID: %q, %q; want %q", k, id, base)
	}
}

func TestFingerprintAndHeaderPrint(t *testing.T) {
	h, b := SplitHeader([]byte(keyMsg))
	if k, _ := KeyOf([]byte(keyMsg)); Fingerprint(h, b) != k {
		t.Errorf("Fingerprint(SplitHeader(m)) = %s, KeyOf(m) = %s", Fingerprint(h, b), k)
	}
	if Fingerprint(h, []byte("other body")) == Fingerprint(h, b) {
		t.Error("the body does not change the fingerprint")
	}
	hp := HeaderPrint(h)
	if len(hp) != 16 || HeaderPrint(append([]byte("Received: x\n"), h...)) != hp {
		t.Errorf("HeaderPrint %q changes with Received", hp)
	}
	if HeaderPrint([]byte("Subject: other\n")) == hp {
		t.Error("HeaderPrint ignores the Subject")
	}
	// Header-less messages (Dovecot imaptest) get a key from the body.
	if a, b := Fingerprint(nil, []byte("body one\n")), Fingerprint(nil, []byte("body two\n")); a == b {
		t.Error("header-less bodies share a key")
	}
}
