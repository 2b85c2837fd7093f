package importers

import (
	"bytes"
	"sort"
	"strings"
)

// IMAP system flags (RFC 9051 §2.3.2) and the common keyword for forwarded
// messages (RFC 5788 registry).
const (
	FlagSeen      = `\Seen`
	FlagAnswered  = `\Answered`
	FlagFlagged   = `\Flagged`
	FlagDraft     = `\Draft`
	FlagForwarded = `$Forwarded`
)

type flagSet struct {
	flags   []string
	deleted bool
}

func (s *flagSet) add(f string) {
	for _, g := range s.flags {
		if g == f {
			return
		}
	}
	s.flags = append(s.flags, f)
}

func (s *flagSet) sorted() []string {
	sort.Strings(s.flags)
	return s.flags
}

// Bits of X-Mozilla-Status (Thunderbird, Netscape: nsMsgMessageFlags.idl).
const (
	mozRead      = 0x0001
	mozReplied   = 0x0002
	mozMarked    = 0x0004
	mozExpunged  = 0x0008
	mozForwarded = 0x1000
)

// mboxFlags derives IMAP flags from the client-state header fields mbox
// writers leave in each message:
//
//   - Status (mutt, pine, UW c-client, Eudora exports): R read; O old (no
//     flag); D deleted.
//   - X-Status (mutt, c-client): A answered, F flagged, T draft, D deleted.
//   - X-Mozilla-Status (Thunderbird, Netscape): a hex bit field; see the
//     moz constants. An expunged message is one deleted but not yet
//     compacted away.
//   - X-Mozilla-Keys (Thunderbird tags): space-separated keywords, kept when
//     they are valid IMAP atoms.
func mboxFlags(header []byte) (flags []string, deleted bool) {
	var s flagSet
	forEachField(header, func(name, value []byte) bool {
		s.mboxField(name, value)
		return true
	})
	return s.sorted(), s.deleted
}

// mboxField adds to s the flags of one header field, if it is one of the
// client-state fields mboxFlags reads.
func (s *flagSet) mboxField(name, value []byte) {
	switch {
	case equalFold(name, "Status"), equalFold(name, "X-Status"):
		// Bytes, not runes: the letters are ASCII, which no byte of a
		// multi-byte UTF-8 sequence is.
		for _, c := range value {
			switch c {
			case 'R':
				s.add(FlagSeen)
			case 'A':
				s.add(FlagAnswered)
			case 'F':
				s.add(FlagFlagged)
			case 'T':
				s.add(FlagDraft)
			case 'D':
				s.deleted = true
			}
		}
	case equalFold(name, "X-Mozilla-Status"):
		v, ok := parseHex32(bytes.TrimSpace(value))
		if !ok {
			return
		}
		if v&mozRead != 0 {
			s.add(FlagSeen)
		}
		if v&mozReplied != 0 {
			s.add(FlagAnswered)
		}
		if v&mozMarked != 0 {
			s.add(FlagFlagged)
		}
		if v&mozForwarded != 0 {
			s.add(FlagForwarded)
		}
		if v&mozExpunged != 0 {
			s.deleted = true
		}
	case equalFold(name, "X-Mozilla-Keys"):
		for _, k := range strings.Fields(string(value)) {
			if isAtom(k) {
				s.add(k)
			}
		}
	}
}

// parseHex32 is strconv.ParseUint(string(b), 16, 32) without the string:
// one or more hex digits, no sign or prefix, at most 0xffffffff.
func parseHex32(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(d)
		if v > 0xffffffff {
			return 0, false
		}
	}
	return v, true
}

// maildirFlags derives IMAP flags from the info part of a Maildir file name
// ("2,FRS", the part after the colon), per https://cr.yp.to/proto/maildir.html:
// P passed (forwarded), R replied, S seen, T trashed, D draft, F flagged.
// Lowercase letters are Dovecot keywords; keywords maps them to names (from
// the folder's dovecot-keywords file) and may be nil. Info that does not
// start with "2," carries no flags.
func maildirFlags(info string, keywords map[byte]string) (flags []string, deleted bool) {
	var s flagSet
	if !strings.HasPrefix(info, "2,") {
		return nil, false
	}
	for i := 2; i < len(info); i++ {
		switch c := info[i]; c {
		case 'P':
			s.add(FlagForwarded)
		case 'R':
			s.add(FlagAnswered)
		case 'S':
			s.add(FlagSeen)
		case 'T':
			s.deleted = true
		case 'D':
			s.add(FlagDraft)
		case 'F':
			s.add(FlagFlagged)
		default:
			if k, ok := keywords[c]; ok && isAtom(k) {
				s.add(k)
			}
		}
	}
	return s.sorted(), s.deleted
}

// Bits of the "flags" integer in an .emlx plist (Apple Mail; documented by
// the emlx reverse-engineering notes of the mail-archive community).
const (
	emlxRead      = 1 << 0
	emlxDeleted   = 1 << 1
	emlxAnswered  = 1 << 2
	emlxFlagged   = 1 << 4
	emlxDraft     = 1 << 6
	emlxForwarded = 1 << 8
)

// emlxFlags derives IMAP flags from an .emlx plist's flags integer.
func emlxFlags(bits uint64) (flags []string, deleted bool) {
	var s flagSet
	if bits&emlxRead != 0 {
		s.add(FlagSeen)
	}
	if bits&emlxAnswered != 0 {
		s.add(FlagAnswered)
	}
	if bits&emlxFlagged != 0 {
		s.add(FlagFlagged)
	}
	if bits&emlxDraft != 0 {
		s.add(FlagDraft)
	}
	if bits&emlxForwarded != 0 {
		s.add(FlagForwarded)
	}
	return s.sorted(), bits&emlxDeleted != 0
}

// isAtom reports whether s can be sent as an IMAP flag keyword (RFC 9051
// atom: no specials, no controls, no 8-bit), and is not a system flag.
func isAtom(s string) bool {
	if s == "" || s[0] == '\\' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}
