package importers

import (
	"bytes"
	"net/mail"
	"strconv"
	"strings"
	"time"
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
	if !bytes.HasPrefix(line, []byte("From ")) {
		return "", time.Time{}, false
	}
	f := strings.Fields(string(line[5:]))
	for m := 0; m+2 < len(f); m++ {
		mon, isMonth := months[strings.ToLower(f[m])]
		if !isMonth || len(f[m]) != 3 {
			continue
		}
		if t, start, ok := parseDayFirst(f, m, mon, loc); ok {
			return strings.Join(f[:start], " "), t, true
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
		zone := ""
		if !isYear(f[i]) && i+1 < len(f) && isZoneName(f[i]) && isYear(f[i+1]) {
			zone = f[i]
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
		_ = zone // zone names are ambiguous (CST, IST); the local zone is used
		start := m
		if m > 0 && weekdays[strings.ToLower(f[m-1])] {
			start = m - 1
		}
		sender = strings.Join(f[:start], " ")
		return sender, time.Date(year, mon, day, hh, mm, ss, 0, l), true
	}
	return "", time.Time{}, false
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
	if start > 0 && weekdays[strings.ToLower(f[start-1])] {
		start--
	}
	return time.Date(year, mon, day, hh, mm, ss, 0, loc), start, true
}

func parseClock(s string) (hh, mm, ss int, ok bool) {
	p := strings.Split(s, ":")
	if len(p) < 2 || len(p) > 3 {
		return 0, 0, 0, false
	}
	var v [3]int
	for i, x := range p {
		n, err := strconv.Atoi(x)
		if err != nil || len(x) > 2 || n < 0 {
			return 0, 0, 0, false
		}
		v[i] = n
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

// receivedDate returns the time stamp of the topmost Received: field, the
// one the final server added when it delivered the message.
func receivedDate(header []byte) (time.Time, bool) {
	v, ok := headerValue(header, "Received")
	if !ok {
		return time.Time{}, false
	}
	s := unfold(v)
	i := strings.LastIndexByte(s, ';')
	if i < 0 {
		return time.Time{}, false
	}
	return parseMailDate(s[i+1:])
}

// headerDate returns the Date: field's time.
func headerDate(header []byte) (time.Time, bool) {
	v, ok := headerValue(header, "Date")
	if !ok {
		return time.Time{}, false
	}
	return parseMailDate(unfold(v))
}

// headerDeliveryTime picks the delivery time from the header when the
// container gave none: Received:, then Date:.
func headerDeliveryTime(header []byte) (time.Time, DateSource) {
	if t, ok := receivedDate(header); ok {
		return t, DateReceived
	}
	if t, ok := headerDate(header); ok {
		return t, DateHeader
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
