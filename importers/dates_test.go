package importers

import (
	"testing"
	"time"
)

func TestParseFromLine(t *testing.T) {
	loc := time.FixedZone("LOC", 3600)
	at := func(y int, mo time.Month, d, h, mi, s int, l *time.Location) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, l)
	}
	good := []struct {
		name, line, sender string
		want               time.Time
	}{
		{"RFC 4155 / mutt", "From alice@example.com Mon Jan  1 10:00:00 2001", "alice@example.com", at(2001, 1, 1, 10, 0, 0, loc)},
		{"Thunderbird", "From - Tue Oct 02 00:26:47 2007", "-", at(2007, 10, 2, 0, 26, 47, loc)},
		{"Eudora", "From ???@??? Mon Jan 01 12:34:56 2001", "???@???", at(2001, 1, 1, 12, 34, 56, loc)},
		{"pipermail: sender with spaces", "From jjl at pobox.com  Thu Nov  1 11:19:12 2001", "jjl at pobox.com", at(2001, 11, 1, 11, 19, 12, loc)},
		{"mboxrd MAILER-DAEMON", "From MAILER-DAEMON Fri Jul  8 12:08:34 2011", "MAILER-DAEMON", at(2011, 7, 8, 12, 8, 34, loc)},
		{"Dovecot: numeric zone after the year", "From user@domain  Sat Mar 24 23:00:00 2007 +0200", "user@domain", at(2007, 3, 24, 23, 0, 0, time.FixedZone("", 2*3600))},
		{"negative zone", "From a Sat Mar 24 23:00:00 2007 -0330", "a", at(2007, 3, 24, 23, 0, 0, time.FixedZone("", -(3*3600+1800)))},
		{"zone name before the year (Solaris)", "From a Fri Feb 22 17:06:23 PST 2008", "a", at(2008, 2, 22, 17, 6, 23, loc)},
		{"no weekday", "From a Jan  1 10:00:00 2001", "a", at(2001, 1, 1, 10, 0, 0, loc)},
		{"no seconds", "From a Mon Jan  1 10:00 2001", "a", at(2001, 1, 1, 10, 0, 0, loc)},
		{"UUCP remote from", "From a Mon Jan  1 10:00:00 2001 remote from uunet", "a", at(2001, 1, 1, 10, 0, 0, loc)},
		{"empty sender", "From  Mon Jan  1 10:00:00 2001", "", at(2001, 1, 1, 10, 0, 0, loc)},
		{"Thunderbird template: day first, time last", "From - Sun 24 Jan 2016 21:57:32", "-", at(2016, 1, 24, 21, 57, 32, loc)},
		{"day first with a zone", "From - 24 Jan 2016 21:57:32 +0100", "-", at(2016, 1, 24, 21, 57, 32, time.FixedZone("", 3600))},
		{"Latin-1 byte in the sender (perceval)", "From luc\xeda at example.com  Mon Nov  7 18:44:27 2016", "luc\xeda at example.com", at(2016, 11, 7, 18, 44, 27, loc)},
		{"lower-case month and weekday", "From a mon jan  1 10:00:00 2001", "a", at(2001, 1, 1, 10, 0, 0, loc)},
		{"CR left at the end", "From a Mon Jan  1 10:00:00 2001\r", "a", at(2001, 1, 1, 10, 0, 0, loc)},
	}
	for _, tt := range good {
		sender, got, ok := parseFromLine([]byte(tt.line), loc)
		if !ok || sender != tt.sender || !got.Equal(tt.want) {
			t.Errorf("%s: parseFromLine(%q) = %q, %v, %v; want %q, %v", tt.name, tt.line, sender, got, ok, tt.sender, tt.want)
			continue
		}
		_, gotOff := got.Zone()
		_, wantOff := tt.want.Zone()
		if gotOff != wantOff {
			t.Errorf("%s: zone offset %d, want %d", tt.name, gotOff, wantOff)
		}
	}

	bad := []struct{ name, line string }{
		{"prose (MimeKit unmunged)", "From Russia with love"},
		{"prose with a comma", "From here on, nothing is mail."},
		{"Netscape bare From - (no date)", "From - "},
		{"bare From (Thunderbird 2005)", "From "},
		{"MimeKit issue1189 id, no date", "From 1844347792267117879@xxx"},
		{"quoted", ">From a Mon Jan  1 10:00:00 2001"},
		{"header field", "From: a Mon Jan  1 10:00:00 2001"},
		{"no space", "Fromage Mon Jan  1 10:00:00 2001"},
		{"day 32", "From a Mon Jan 32 10:00:00 2001"},
		{"hour 25", "From a Mon Jan  1 25:00:00 2001"},
		{"no year", "From a Mon Jan  1 10:00:00"},
		{"year before 1970", "From a Mon Jan  1 10:00:00 1969"},
		{"month name too long", "From a Mon January  1 10:00:00 2001"},
		{"empty", ""},
	}
	for _, tt := range bad {
		if _, got, ok := parseFromLine([]byte(tt.line), loc); ok {
			t.Errorf("%s: parseFromLine(%q) = %v, want no date", tt.name, tt.line, got)
		}
	}
}

func TestParseMailDate(t *testing.T) {
	utc := time.UTC
	tests := []struct {
		name, in string
		want     time.Time
	}{
		{"RFC 5322 §3.3", "Mon, 1 Jan 2001 09:59:00 +0000", time.Date(2001, 1, 1, 9, 59, 0, 0, utc)},
		{"no weekday", "1 Jan 2001 09:59:00 +0000", time.Date(2001, 1, 1, 9, 59, 0, 0, utc)},
		{"no seconds", "Mon, 1 Jan 2001 09:59 +0000", time.Date(2001, 1, 1, 9, 59, 0, 0, utc)},
		{"RFC 5322 §4.3 obsolete zone EDT", "Fri, 25 Sep 1992 21:30:21 EDT", time.Date(1992, 9, 26, 1, 30, 21, 0, utc)},
		{"RFC 5322 §4.3 obsolete zone GMT", "Fri, 25 Sep 1992 21:30:21 GMT", time.Date(1992, 9, 25, 21, 30, 21, 0, utc)},
		{"zone comment", "Thu, 13 Jun 1996 23:25:49 -0700 (PDT)", time.Date(1996, 6, 14, 6, 25, 49, 0, utc)},
		{"RFC 5322 §4.3 two-digit year", "Fri, 9 Sep 94 15:37:00 -0400", time.Date(1994, 9, 9, 19, 37, 0, 0, utc)},
		{"pipermail ctime form", "Thu Nov  1 11:19:12 2001", time.Date(2001, 11, 1, 11, 19, 12, 0, utc)},
		{"no space after the comma", "Mon,1 Jan 2001 09:59:00 +0000", time.Date(2001, 1, 1, 9, 59, 0, 0, utc)},
		{"comment in the middle", "Mon, 1 Jan 2001 (new year) 09:59:00 +0000", time.Date(2001, 1, 1, 9, 59, 0, 0, utc)},
		{"ISO 8601", "2001-01-01T09:59:00Z", time.Date(2001, 1, 1, 9, 59, 0, 0, utc)},
		{"surrounding space", "  Mon, 1 Jan 2001 09:59:00 +0000\r\n", time.Date(2001, 1, 1, 9, 59, 0, 0, utc)},
	}
	for _, tt := range tests {
		got, ok := parseMailDate(tt.in)
		if !ok || !got.Equal(tt.want) {
			t.Errorf("%s: parseMailDate(%q) = %v, %v; want %v", tt.name, tt.in, got, ok, tt.want)
		}
	}
	for _, in := range []string{"", "yesterday", "32 Jan 2001 00:00:00 +0000", "(only a comment)"} {
		if got, ok := parseMailDate(in); ok {
			t.Errorf("parseMailDate(%q) = %v, want failure", in, got)
		}
	}
}

func TestHeaderDeliveryTime(t *testing.T) {
	tests := []struct {
		name, header string
		want         time.Time
		source       DateSource
	}{
		{"topmost Received wins over Date", "Received: from a by b; Tue, 2 Jan 2001 00:00:05 +0000\nReceived: from c by a; Tue, 2 Jan 2001 00:00:01 +0000\nDate: Mon, 1 Jan 2001 00:00:00 +0000\n",
			time.Date(2001, 1, 2, 0, 0, 5, 0, time.UTC), DateReceived},
		{"folded Received", "Received: from a\n\tby b;\n\tTue, 2 Jan 2001 00:00:05 +0000\n", time.Date(2001, 1, 2, 0, 0, 5, 0, time.UTC), DateReceived},
		{"Received without a date: Date", "Received: from a by b\nDate: Mon, 1 Jan 2001 00:00:00 +0000\n", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), DateHeader},
		{"nothing", "Subject: x\n", time.Time{}, DateNone},
		{"bad Date", "Date: someday\n", time.Time{}, DateNone},
	}
	for _, tt := range tests {
		got, src := headerDeliveryTime([]byte(tt.header))
		if !got.Equal(tt.want) || src != tt.source {
			t.Errorf("%s: %v (%s), want %v (%s)", tt.name, got, src, tt.want, tt.source)
		}
	}
}

func TestSetHeaderFieldsKeepsContainerDate(t *testing.T) {
	from := time.Date(2001, 1, 1, 10, 0, 0, 0, time.UTC)
	m := &Message{Date: from, DateSource: DateFromLine}
	setHeaderFields(m, []byte("Date: Mon, 1 Jan 2001 00:00:00 +0000\nSubject: =?UTF-8?Q?caf=C3=A9?=\n"), nil)
	if !m.Date.Equal(from) || m.DateSource != DateFromLine || m.Subject != "café" {
		t.Errorf("got %v (%s) %q", m.Date, m.DateSource, m.Subject)
	}
}

func TestMaildirNameTime(t *testing.T) {
	tests := []struct {
		name string
		want int64
		ok   bool
	}{
		{"1382298587.M123P45.host:2,S", 1382298587, true},
		{"1382298587.M123P45.host", 1382298587, true},
		{"999999999.x", 999999999, true},
		{"99999999.x", 0, false},    // too short: not a time stamp
		{"12345678901.x", 0, false}, // too long
		{"1382298587", 0, false},    // nothing after it
		{"1382298587_x", 0, false},
		{"30:2,", 0, false}, // notmuch corpus file names
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := maildirNameTime(tt.name)
		if ok != tt.ok || ok && got.Unix() != tt.want {
			t.Errorf("maildirNameTime(%q) = %v, %v; want %d, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzMboxFromLine: parseFromLine never panics, and a date it finds is a
// valid time in the years it accepts.
func FuzzMboxFromLine(f *testing.F) {
	for _, s := range []string{
		"From alice@example.com Mon Jan  1 10:00:00 2001",
		"From jjl at pobox.com  Thu Nov  1 11:19:12 2001",
		"From user@domain  Sat Mar 24 23:00:00 2007 +0200",
		"From - Sun 24 Jan 2016 21:57:32",
		"From a Fri Feb 22 17:06:23 PST 2008",
		"From Russia with love",
		"From ",
		"From Jan",
		"From 1 Jan",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		_, got, ok := parseFromLine(line, time.UTC)
		if ok && (got.Year() < 1970 || got.Year() > 3000) {
			t.Fatalf("%q: year %d", line, got.Year())
		}
		strong, weak := fromLineShape(line)
		if strong != ok || strong && weak {
			t.Fatalf("%q: strong %v weak %v, parseFromLine ok %v", line, strong, weak, ok)
		}
	})
}
