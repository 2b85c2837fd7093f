package importers

import (
	"bytes"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var months = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April,
	"may": time.May, "jun": time.June, "jul": time.July, "aug": time.August,
	"sep": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

var weekdays = map[string]bool{"mon": true, "tue": true, "wed": true, "thu": true, "fri": true, "sat": true, "sun": true}

// parseFromLine parses an mbox From_ line ("From sender date", without the
// line ending). The date is the ctime(3) form "Www Mmm dd hh:mm:ss yyyy";
// writers in the wild also omit the weekday or the seconds, put a zone name
// before the year ("... 17:06:23 PST 2008") or a numeric zone after it
// ("... 2008 +0200"), and append "remote from host" (UUCP). Thunderbird
// templates put the day first and the time last ("Sun 24 Jan 2016
// 21:57:32"). The sender may hold spaces (pipermail writes "jjl at
// pobox.com"). The date has no zone unless the line gives a numeric one;
// loc is used then.
//
// It reports ok only when the line starts with "From " and a complete date
// follows; sender is what stands between "From " and the date ("-" for
// Thunderbird, "???@???" for Eudora, possibly empty).
func parseFromLine(line []byte, loc *time.Location) (sender string, t time.Time, ok bool) {
	var buf [fromLineFields]string
	f, t, start, ok := parseFromDate(line, loc, buf[:0])
	if !ok {
		return "", time.Time{}, false
	}
	return strings.Join(f[:start], " "), t, true
}

// fromLineDate is parseFromLine without the sender, for the scan, which
// parses every From_ line of a file: it allocates the line's string only.
func fromLineDate(line []byte, loc *time.Location) (time.Time, bool) {
	if t, ok := ctimeFromLine(line, loc); ok {
		return t, true
	}
	var buf [fromLineFields]string
	_, t, _, ok := parseFromDate(line, loc, buf[:0])
	return t, ok
}

// ctimeFromLine is parseFromDate's answer for the From_ lines most writers
// write, "From sender Www Mmm dd hh:mm:ss yyyy" (ASCII, the ctime(3) date
// last), read from the end of the line without splitting it into strings.
// It reports false for any other line, and when a field before the date is
// a month name, as parseFromDate would try a date there first.
func ctimeFromLine(line []byte, loc *time.Location) (time.Time, bool) {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return time.Time{}, false
	}
	rest := line[5:]
	var f [5][]byte // weekday, month, day, clock, year
	for k := 4; k >= 0; k-- {
		var w []byte
		w, rest = lastField(rest)
		if w == nil {
			return time.Time{}, false
		}
		f[k] = w
	}
	if len(f[4]) != 4 || len(f[1]) != 3 || !isWeekday(string(f[0])) {
		return time.Time{}, false
	}
	year, ok := smallNumber(f[4])
	if !ok || year < 1970 || year > 2999 {
		return time.Time{}, false
	}
	mon, ok := monthName(string(f[1]))
	if !ok {
		return time.Time{}, false
	}
	day, ok := smallNumber(f[2])
	if !ok || len(f[2]) > 2 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	c := f[3] // hh:mm:ss, two digits each
	if len(c) != 8 || c[2] != ':' || c[5] != ':' {
		return time.Time{}, false
	}
	hh, ok1 := smallNumber(c[0:2])
	mm, ok2 := smallNumber(c[3:5])
	ss, ok3 := smallNumber(c[6:8])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	// The sender: ASCII, and no field of it a month name.
	for {
		var w []byte
		if w, rest = lastField(rest); w == nil {
			break
		}
		if len(w) == 3 {
			if _, isMonth := monthName(string(w)); isMonth {
				return time.Time{}, false
			}
		}
	}
	if len(rest) > 0 {
		return time.Time{}, false // a byte that is not ASCII
	}
	return time.Date(year, mon, day, hh, mm, ss, 0, loc), true
}

// lastField cuts the last field (as strings.Fields splits an ASCII line)
// off b, and returns nil when b has none, or when it meets a byte that is
// not ASCII (b is then returned non-empty).
func lastField(b []byte) (field, rest []byte) {
	end := len(b)
	for end > 0 && b[end-1] < utf8.RuneSelf && asciiSpace[b[end-1]] {
		end--
	}
	start := end
	for start > 0 && b[start-1] < utf8.RuneSelf && !asciiSpace[b[start-1]] {
		start--
	}
	if start > 0 && b[start-1] >= utf8.RuneSelf || start == end {
		return nil, b[:end]
	}
	return b[start:end], b[:start]
}

// smallNumber parses one to four ASCII digits.
func smallNumber(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 4 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// fromLineFields is how many fields of a From_ line parseFromLine keeps on
// the stack; a longer line costs an allocation.
const fromLineFields = 16

// parseFromDate does the work of parseFromLine: it appends the fields of
// the line after "From " to f, and returns them, the date, and the index of
// the date's first field (the sender is the fields before it).
func parseFromDate(line []byte, loc *time.Location, f []string) ([]string, time.Time, int, bool) {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return f, time.Time{}, 0, false
	}
	f = appendFields(f, string(line[5:]))
	for m := 0; m+2 < len(f); m++ {
		mon, isMonth := monthName(f[m])
		if !isMonth {
			continue
		}
		if t, start, ok := parseDayFirst(f, m, mon, loc); ok {
			return f, t, start, true
		}
		if m+3 >= len(f) {
			continue
		}
		day, err := strconv.Atoi(f[m+1])
		if err != nil || day < 1 || day > 31 {
			continue
		}
		hh, mm, ss, okTime := parseClock(f[m+2])
		if !okTime {
			continue
		}
		i := m + 3
		if !isYear(f[i]) && i+1 < len(f) && isZoneName(f[i]) && isYear(f[i+1]) {
			// Zone names are ambiguous (CST, IST): the local zone is used.
			i++
		}
		if !isYear(f[i]) {
			continue
		}
		year, _ := strconv.Atoi(f[i])
		l := loc
		if i+1 < len(f) {
			if z, ok := parseNumericZone(f[i+1]); ok {
				l = z
			}
		}
		start := m
		if m > 0 && isWeekday(f[m-1]) {
			start = m - 1
		}
		return f, time.Date(year, mon, day, hh, mm, ss, 0, l), start, true
	}
	return f, time.Time{}, 0, false
}

// appendFields appends to dst the fields of s as strings.Fields splits
// them, without allocating a slice when dst has room.
func appendFields(dst []string, s string) []string {
	n := len(dst)
	start := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			return append(dst[:n], strings.Fields(s)...) // Unicode spaces split too
		case asciiSpace[c]:
			if start >= 0 {
				dst = append(dst, s[start:i])
				start = -1
			}
		case start < 0:
			start = i
		}
	}
	if start >= 0 {
		dst = append(dst, s[start:])
	}
	return dst
}

// asciiSpace are the ASCII bytes strings.Fields splits at.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// lower3 packs the three bytes of s, in lower case, into one number that
// switch statements compare with the names of months and weekdays.
func lower3(s string) uint32 {
	return uint32(lowerASCII(s[0]))<<16 | uint32(lowerASCII(s[1]))<<8 | uint32(lowerASCII(s[2]))
}

// monthName returns the month a three-letter name stands for, in any case.
func monthName(s string) (time.Month, bool) {
	if len(s) != 3 {
		return 0, false
	}
	l := lower3(s)
	for i, n := range monthNames {
		if l == n {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

var monthNames = [12]uint32{
	'j'<<16 | 'a'<<8 | 'n', 'f'<<16 | 'e'<<8 | 'b', 'm'<<16 | 'a'<<8 | 'r', 'a'<<16 | 'p'<<8 | 'r',
	'm'<<16 | 'a'<<8 | 'y', 'j'<<16 | 'u'<<8 | 'n', 'j'<<16 | 'u'<<8 | 'l', 'a'<<16 | 'u'<<8 | 'g',
	's'<<16 | 'e'<<8 | 'p', 'o'<<16 | 'c'<<8 | 't', 'n'<<16 | 'o'<<8 | 'v', 'd'<<16 | 'e'<<8 | 'c',
}

// isWeekday reports whether s is a three-letter weekday name, in any case.
func isWeekday(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return weekdays[strings.ToLower(s)] // Unicode case folding
		}
	}
	if len(s) != 3 {
		return false
	}
	switch lower3(s) {
	case 'm'<<16 | 'o'<<8 | 'n', 't'<<16 | 'u'<<8 | 'e', 'w'<<16 | 'e'<<8 | 'd', 't'<<16 | 'h'<<8 | 'u',
		'f'<<16 | 'r'<<8 | 'i', 's'<<16 | 'a'<<8 | 't', 's'<<16 | 'u'<<8 | 'n':
		return true
	}
	return false
}

// parseDayFirst parses the day-first form of a From_ line date, "[Www] dd
// Mmm yyyy hh:mm[:ss] [zone]", whose month is f[m]. start is the index of
// its first field.
func parseDayFirst(f []string, m int, mon time.Month, loc *time.Location) (t time.Time, start int, ok bool) {
	if m < 1 || m+2 >= len(f) || !isYear(f[m+1]) {
		return time.Time{}, 0, false
	}
	day, err := strconv.Atoi(f[m-1])
	if err != nil || day < 1 || day > 31 {
		return time.Time{}, 0, false
	}
	hh, mm, ss, ok := parseClock(f[m+2])
	if !ok {
		return time.Time{}, 0, false
	}
	year, _ := strconv.Atoi(f[m+1])
	if m+3 < len(f) {
		if z, ok := parseNumericZone(f[m+3]); ok {
			loc = z
		}
	}
	start = m - 1
	if start > 0 && isWeekday(f[start-1]) {
		start--
	}
	return time.Date(year, mon, day, hh, mm, ss, 0, loc), start, true
}

// parseClock parses "hh:mm" or "hh:mm:ss", each part one or two digits.
func parseClock(s string) (hh, mm, ss int, ok bool) {
	var v [3]int
	for i := 0; ; i++ {
		x, rest, more := strings.Cut(s, ":")
		if i == 2 && more || i == 0 && !more {
			return 0, 0, 0, false // more than three parts, or one
		}
		n, err := strconv.Atoi(x)
		if err != nil || len(x) > 2 || n < 0 {
			return 0, 0, 0, false
		}
		v[i] = n
		if !more {
			break
		}
		s = rest
	}
	if v[0] > 23 || v[1] > 59 || v[2] > 60 {
		return 0, 0, 0, false
	}
	return v[0], v[1], v[2], true
}

func isYear(s string) bool {
	if len(s) != 4 {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1970 && n <= 2999
}

func isZoneName(s string) bool {
	if len(s) < 2 || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func parseNumericZone(s string) (*time.Location, bool) {
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return nil, false
	}
	h, err1 := strconv.Atoi(s[1:3])
	m, err2 := strconv.Atoi(s[3:5])
	if err1 != nil || err2 != nil || h > 14 || m > 59 {
		return nil, false
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return time.FixedZone(s, off), true
}

// parseMailDate parses an RFC 5322 date-time as found in Date: headers and
// at the end of Received: headers, forgiving the usual deviations (comments,
// missing weekday or seconds, obsolete zone names, two-digit years,
// surrounding junk). The obsolete US zone names of RFC 5322 §4.3 (EST,
// EDT, ... PDT) get their offsets; Go's parser would read them as +0000.
func parseMailDate(v string) (time.Time, bool) {
	t, ok := parseMailDateLayouts(v)
	if !ok {
		return t, false
	}
	if name, off := t.Zone(); off == 0 {
		if h, known := obsZones[name]; known {
			y, mo, d := t.Date()
			hh, mm, ss := t.Clock()
			t = time.Date(y, mo, d, hh, mm, ss, t.Nanosecond(), time.FixedZone(name, h*3600))
		}
	}
	return t, true
}

// obsZones are the zone names RFC 5322 §4.3 defines, with their offsets in
// hours.
var obsZones = map[string]int{"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7}

func parseMailDateLayouts(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t, true
	}
	// Drop comments and retry with a few layouts seen in old mail.
	v = stripComments(v)
	v = strings.Join(strings.Fields(strings.ReplaceAll(v, ",", ", ")), " ")
	if t, err := mail.ParseDate(v); err == nil {
		return t, true
	}
	for _, layout := range []string{
		"Mon, 2 Jan 2006 15:04:05 -0700 MST",
		"Mon, 2 Jan 2006 15:04:05 MST",
		"Mon, 2 Jan 06 15:04:05 -0700",
		"Mon, 2 Jan 06 15:04:05 MST",
		"2 Jan 06 15:04:05 -0700",
		"2 Jan 06 15:04:05 MST",
		"Mon, 2 Jan 2006 15:04 -0700",
		"Mon, 2 Jan 2006 15:04:05",
		"2 Jan 2006 15:04:05",
		"Mon Jan 2 15:04:05 2006",
		"Mon Jan 2 15:04:05 MST 2006",
		"Mon Jan 2 15:04:05 -0700 2006",
		"2006-01-02 15:04:05 -0700",
		"2006-01-02T15:04:05Z07:00",
	} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func stripComments(v string) string {
	var b strings.Builder
	depth := 0
	for _, r := range v {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// receivedDate returns the time stamp of a Received: field's value v: the
// topmost Received: field is the one the final server added when it
// delivered the message.
func receivedDate(v []byte) (time.Time, bool) {
	s := unfold(v)
	i := strings.LastIndexByte(s, ';')
	if i < 0 {
		return time.Time{}, false
	}
	return parseMailDate(s[i+1:])
}

// headerDeliveryTime picks the delivery time from the header when the
// container gave none: Received:, then Date:.
func headerDeliveryTime(header []byte) (time.Time, DateSource) {
	var hf headerFields
	hf.collect(header)
	return hf.deliveryTime()
}

// deliveryTime is headerDeliveryTime of the collected header.
func (hf *headerFields) deliveryTime() (time.Time, DateSource) {
	if v, ok := hf.get(hfReceived); ok {
		if t, ok := receivedDate(v); ok {
			return t, DateReceived
		}
	}
	if v, ok := hf.get(hfDate); ok {
		if t, ok := parseMailDate(unfold(v)); ok {
			return t, DateHeader
		}
	}
	return time.Time{}, DateNone
}

// maildirNameTime returns the delivery time encoded at the start of a
// Maildir file name ("1382298587.M123P45.host:2,S" -> 1382298587 seconds
// since 1970), the time the delivery agent wrote it.
func maildirNameTime(name string) (time.Time, bool) {
	i := 0
	for i < len(name) && name[i] >= '0' && name[i] <= '9' {
		i++
	}
	if i < 9 || i > 10 || i == len(name) || name[i] != '.' {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(name[:i], 10, 64)
	if err != nil || n < 1e8 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}
