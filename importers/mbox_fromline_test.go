package importers

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// The scan parses the From_ line of every message, so parseFromLine was
// rewritten not to allocate (fields on the stack, no strings.ToLower or
// strings.Split). refParseFromLine below is the version before that
// rewrite, kept verbatim as the reference: the fuzz target checks that the
// two agree on every line, Unicode spaces and signs in numbers included.

func refParseFromLine(line []byte, loc *time.Location) (sender string, t time.Time, ok bool) {
	if !strings.HasPrefix(string(line), "From ") {
		return "", time.Time{}, false
	}
	f := strings.Fields(string(line[5:]))
	for m := 0; m+2 < len(f); m++ {
		mon, isMonth := months[strings.ToLower(f[m])]
		if !isMonth || len(f[m]) != 3 {
			continue
		}
		if t, start, ok := refParseDayFirst(f, m, mon, loc); ok {
			return strings.Join(f[:start], " "), t, true
		}
		if m+3 >= len(f) {
			continue
		}
		day, err := strconv.Atoi(f[m+1])
		if err != nil || day < 1 || day > 31 {
			continue
		}
		hh, mm, ss, okTime := refParseClock(f[m+2])
		if !okTime {
			continue
		}
		i := m + 3
		if !isYear(f[i]) && i+1 < len(f) && isZoneName(f[i]) && isYear(f[i+1]) {
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
		if m > 0 && weekdays[strings.ToLower(f[m-1])] {
			start = m - 1
		}
		sender = strings.Join(f[:start], " ")
		return sender, time.Date(year, mon, day, hh, mm, ss, 0, l), true
	}
	return "", time.Time{}, false
}

func refParseDayFirst(f []string, m int, mon time.Month, loc *time.Location) (t time.Time, start int, ok bool) {
	if m < 1 || m+2 >= len(f) || !isYear(f[m+1]) {
		return time.Time{}, 0, false
	}
	day, err := strconv.Atoi(f[m-1])
	if err != nil || day < 1 || day > 31 {
		return time.Time{}, 0, false
	}
	hh, mm, ss, ok := refParseClock(f[m+2])
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

func refParseClock(s string) (hh, mm, ss int, ok bool) {
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

// FuzzParseFromLineReference: parseFromLine and fromLineDate give what the
// reference gives, for every line.
func FuzzParseFromLineReference(f *testing.F) {
	for _, s := range []string{
		"From alice@example.com Mon Jan  1 10:00:00 2001",
		"From jjl at pobox.com  Thu Nov  1 11:19:12 2001",
		"From user@domain  Sat Mar 24 23:00:00 2007 +0200",
		"From - Sun 24 Jan 2016 21:57:32",
		"From a Fri Feb 22 17:06:23 PST 2008",
		"From a Mon Jan +1 +1:+2 2001 +-1-1",
		"From a Fr\u0130 Jan 1 1:2:3 2001",
		"From a\u00a0Mon\u2003Jan 1 10:00:00 2001",
		"From a MON jAN 01 10:00:00:00 2001",
		"From a 1:2 Jan 2001 1:2",
		"From Russia with love",
		"From ",
		"From \xff Jan 1 1:1 2001",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, line []byte, local bool) {
		loc := time.FixedZone("LOC", -7*3600)
		if local {
			loc = time.UTC
		}
		ws, wt, wok := refParseFromLine(line, loc)
		gs, gt, gok := parseFromLine(line, loc)
		if gs != ws || !gt.Equal(wt) || gok != wok {
			t.Fatalf("parseFromLine(%q) = %q, %v, %v; the reference gives %q, %v, %v", line, gs, gt, gok, ws, wt, wok)
		}
		if _, go2 := gt.Zone(); gok {
			if _, wo := wt.Zone(); go2 != wo {
				t.Fatalf("parseFromLine(%q): zone offset %d, the reference %d", line, go2, wo)
			}
		}
		dt, dok := fromLineDate(line, loc)
		if !dt.Equal(wt) || dok != wok {
			t.Fatalf("fromLineDate(%q) = %v, %v; the reference gives %v, %v", line, dt, dok, wt, wok)
		}
	})
}

func TestParseFromLineAllocs(t *testing.T) {
	line := []byte("From alice@example.com Mon Jan  1 10:00:00 2001")
	// The line's string is the one allocation.
	if n := testing.AllocsPerRun(100, func() { fromLineDate(line, time.UTC) }); n > 1 {
		t.Errorf("fromLineDate allocates %v times per call, want at most 1", n)
	}
}
