package importers

import (
	"slices"
	"testing"
)

func TestMboxFlags(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		flags   []string
		deleted bool
	}{
		{"mutt: read", "Status: RO\n", []string{FlagSeen}, false},
		{"mutt: old, unread", "Status: O\n", nil, false},
		{"mutt: answered, flagged", "Status: RO\nX-Status: AF\n", []string{FlagAnswered, FlagFlagged, FlagSeen}, false},
		{"c-client: draft", "X-Status: T\n", []string{FlagDraft}, false},
		{"Status D", "Status: RD\n", []string{FlagSeen}, true},
		{"X-Status D", "X-Status: D\n", nil, true},
		{"lower-case names (bigbang)", "status: R\nx-status: A\n", []string{FlagAnswered, FlagSeen}, false},
		{"Thunderbird: read", "X-Mozilla-Status: 0001\n", []string{FlagSeen}, false},
		{"Thunderbird: replied, marked", "X-Mozilla-Status: 0006\n", []string{FlagAnswered, FlagFlagged}, false},
		{"Thunderbird: forwarded", "X-Mozilla-Status: 1000\n", []string{FlagForwarded}, false},
		{"Thunderbird: expunged", "X-Mozilla-Status: 0009\n", []string{FlagSeen}, true},
		{"Thunderbird: bad hex ignored", "X-Mozilla-Status: zz\n", nil, false},
		{"Thunderbird: tags", "X-Mozilla-Keys: $label1 work  \n", []string{"$label1", "work"}, false},
		{"Thunderbird: padding only (template-latin1)", "X-Mozilla-Keys:                       \n", nil, false},
		{"Thunderbird: invalid tags dropped (invalid_mozilla_keys)", "X-Mozilla-Keys: ok (bad) \\Seen qu\"ote\n", []string{"ok"}, false},
		{"Status and X-Mozilla-Status agree: no duplicates", "Status: RO\nX-Mozilla-Status: 0001\n", []string{FlagSeen}, false},
		{"no state fields", "Subject: x\n", nil, false},
	}
	for _, tt := range tests {
		flags, deleted := mboxFlags([]byte(tt.header))
		if !slices.Equal(flags, tt.flags) || deleted != tt.deleted {
			t.Errorf("%s: mboxFlags = %q, %v; want %q, %v", tt.name, flags, deleted, tt.flags, tt.deleted)
		}
	}
}

func TestMaildirFlags(t *testing.T) {
	keywords := map[byte]string{'a': "$Junk", 'b': "work", 'c': "bad keyword"}
	tests := []struct {
		name, info string
		flags      []string
		deleted    bool
	}{
		{"cr.yp.to: all flags", "2,DFPRST", []string{FlagForwarded, FlagAnswered, FlagDraft, FlagFlagged, FlagSeen}, true},
		{"seen", "2,S", []string{FlagSeen}, false},
		{"no flags", "2,", nil, false},
		{"Dovecot keywords", "2,Sab", []string{"$Junk", FlagSeen, "work"}, false},
		{"keyword that is not an atom", "2,c", nil, false},
		{"unknown keyword letter", "2,z", nil, false},
		{"experimental info 1,", "1,S", nil, false},
		{"empty", "", nil, false},
	}
	for _, tt := range tests {
		flags, deleted := maildirFlags(tt.info, keywords)
		if !slices.Equal(flags, tt.flags) || deleted != tt.deleted {
			t.Errorf("%s: maildirFlags(%q) = %q, %v; want %q, %v", tt.name, tt.info, flags, deleted, tt.flags, tt.deleted)
		}
	}
	if flags, _ := maildirFlags("2,Sa", nil); !slices.Equal(flags, []string{FlagSeen}) {
		t.Errorf("nil keywords: %q", flags)
	}
}

func TestEmlxFlags(t *testing.T) {
	tests := []struct {
		name    string
		bits    uint64
		flags   []string
		deleted bool
	}{
		{"read", 1 << 0, []string{FlagSeen}, false},
		{"deleted", 1 << 1, nil, true},
		{"answered", 1 << 2, []string{FlagAnswered}, false},
		{"flagged", 1 << 4, []string{FlagFlagged}, false},
		{"draft", 1 << 6, []string{FlagDraft}, false},
		{"forwarded", 1 << 8, []string{FlagForwarded}, false},
		{"read, answered, flagged", 1 | 1<<2 | 1<<4, []string{FlagAnswered, FlagFlagged, FlagSeen}, false},
		{"other bits ignored (attachment count, priority)", 0x3f << 10, nil, false},
		{"none", 0, nil, false},
	}
	for _, tt := range tests {
		flags, deleted := emlxFlags(tt.bits)
		if !slices.Equal(flags, tt.flags) || deleted != tt.deleted {
			t.Errorf("%s: emlxFlags(%#x) = %q, %v; want %q, %v", tt.name, tt.bits, flags, deleted, tt.flags, tt.deleted)
		}
	}
}

func TestIsAtom(t *testing.T) {
	for s, want := range map[string]bool{
		"work": true, "$label1": true, "$Forwarded": true, "NonJunk": true,
		"": false, "\\Seen": false, "two words": false, "(x)": false, "a%b": false, "a*": false,
		`q"uote`: false, "br]acket": false, "caf\xc3\xa9": false, "tab\t": false, "del\x7f": false,
	} {
		if got := isAtom(s); got != want {
			t.Errorf("isAtom(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzFlags: flag derivation never panics and yields sorted, unique, valid
// IMAP flags.
func FuzzFlags(f *testing.F) {
	f.Add([]byte("Status: RO\nX-Status: AFTD\nX-Mozilla-Status: 1007\nX-Mozilla-Keys: $label1 work\n"), "2,DFPRSTab", uint64(0x157))
	f.Add([]byte("X-Mozilla-Status: ffffffffff\n"), "2,", uint64(0))
	f.Add([]byte("X-Mozilla-Keys: \\Seen (x) a\n"), "1,S", ^uint64(0))
	f.Fuzz(func(t *testing.T, header []byte, info string, bits uint64) {
		keywords := map[byte]string{'a': "$Junk", 'b': "work"}
		for _, flags := range [][]string{
			first(mboxFlags(header)),
			first(maildirFlags(info, keywords)),
			first(emlxFlags(bits)),
		} {
			for i, fl := range flags {
				if i > 0 && flags[i-1] >= fl {
					t.Fatalf("not sorted and unique: %q", flags)
				}
				switch fl {
				case FlagSeen, FlagAnswered, FlagFlagged, FlagDraft:
				default:
					if !isAtom(fl) {
						t.Fatalf("not an IMAP flag: %q", fl)
					}
				}
			}
		}
	})
}

func first(flags []string, _ bool) []string { return flags }
