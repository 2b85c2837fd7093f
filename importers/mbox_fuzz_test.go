package importers

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzMbox reads arbitrary bytes as an mbox file and checks what must hold
// for every file: no panic; Size == len(Data) and Data has CRLF endings
// only; the fast scan agrees with the full read, and so does the parallel
// scan in segments of every size; readMboxMessage gives every
// message again; Offsets strictly increase and the Lengths tile the file
// after the leading junk (a BOM, empty lines, MMDF delimiters enclosing
// nothing); reading in small chunks changes nothing; sniffMbox agrees with
// whether readMbox calls the file an mbox.
func FuzzMbox(f *testing.F) {
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "mbox", "*"))
	for _, p := range fixtures {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"From a Mon Jan  1 00:00:00 2001\nSubject: x\nContent-Length: 2\n\nab\nFrom - \nX: y\n\nz\n",
		"From - \nFrom: a\n\nx\n--b--\nFrom - \nMessage-ID: <1@x>\n\ny",
		"\x01\x01\x01\x01\n\x01\x01\x01\x01\n\nSubject: a\n\x01\x01\x01\x01\r\n\r\nb\n\x01\x01\x01\x01",
		"\xef\xbb\xbf\r\n\r\nFrom a Mon Jan  1 00:00:00 2001\r\n\r\n>>From x\r\n\r\n",
		"From a Mon Jan  1 00:00:00 2001\n>From : quoted header\nSubject: s\n\nb\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, space := range []bool{false, true} {
			st := fromSearch{space: space}
			for i := 0; ; {
				k, want := st.index(data[i:]), bytes.Index(data[i:], []byte("From "))
				if k != want {
					t.Fatalf("fromSearch (space %v) at %d: %d, bytes.Index %d", space, i, k, want)
				}
				if k < 0 {
					break
				}
				i += k + 1
			}
		}

		path := filepath.Join(t.TempDir(), "fuzz.mbox")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := Options{WantData: true}
		full := readMboxFile(t, path, opts)
		for _, m := range full.msgs {
			if m.Size != int64(len(m.Data)) {
				t.Fatalf("%v: Size %d, len(Data) %d", m.Loc, m.Size, len(m.Data))
			}
			if bytes.Count(m.Data, []byte("\n")) != bytes.Count(m.Data, []byte("\r\n")) {
				t.Fatalf("%v: bare LF in %q", m.Loc, m.Data)
			}
			if key, _ := KeyOf(m.Data); key != m.Key {
				t.Fatalf("%v: Key %s, KeyOf(Data) %s", m.Loc, m.Key, key)
			}
		}

		fast := readMboxFile(t, path, Options{})
		if len(fast.msgs) != len(full.msgs) || len(fast.problems) != len(full.problems) {
			t.Fatalf("fast scan: %d messages, full read %d", len(fast.msgs), len(full.msgs))
		}
		for i, m := range fast.msgs {
			if d := sameMessage(m, full.msgs[i], false); d != "" {
				t.Fatalf("fast scan differs: %s", d)
			}
		}
		checkMboxParallel(t, path, data, fast, Options{})

		for _, m := range full.msgs {
			again, err := readMboxMessage(m.Loc, &opts)
			if err != nil {
				t.Fatalf("readMboxMessage(%v): %v", m.Loc, err)
			}
			if d := sameMessage(again, m, true); d != "" {
				t.Fatalf("readMboxMessage(%v) differs: %s", m.Loc, d)
			}
		}

		if len(full.msgs) > 0 {
			first := full.msgs[0].Loc.Offset
			if !leadingJunk(data[:first]) {
				t.Fatalf("the first message starts at %d after %q", first, data[:first])
			}
			end := first
			for i, m := range full.msgs {
				if m.Loc.Index != i+1 || m.Loc.Offset != end || m.Loc.Length <= 0 {
					t.Fatalf("message %d: Loc %+v, want Offset %d", i+1, m.Loc, end)
				}
				end += m.Loc.Length
			}
			if end != int64(len(data)) && len(full.problems) == 0 {
				t.Fatalf("the messages end at %d, the file at %d", end, len(data))
			}
		}

		chunk := 1 + len(data)%13
		small := scanMboxBytes(t, path, data, chunk, 1+len(data)%5, opts)
		if len(small.msgs) != len(full.msgs) || len(small.problems) != len(full.problems) {
			t.Fatalf("chunk %d: %d messages, %d problems; want %d, %d", chunk, len(small.msgs), len(small.problems), len(full.msgs), len(full.problems))
		}
		for i, m := range small.msgs {
			if d := sameMessage(m, full.msgs[i], true); d != "" {
				t.Fatalf("chunk %d: %s", chunk, d)
			}
		}

		switch {
		case sniffMbox(data) && len(full.problems) > 0:
			t.Fatalf("sniffMbox true, but readMbox: %v", full.problems)
		case !sniffMbox(data) && !leadingJunk(data) && len(full.problems) == 0:
			t.Fatalf("sniffMbox false, but readMbox read %d messages without a problem", len(full.msgs))
		}
	})
}

// leadingJunk reports whether b is only what may precede the first message
// of an mbox file: a UTF-8 BOM, then empty lines and MMDF delimiter lines.
func leadingJunk(b []byte) bool {
	b = bytes.TrimPrefix(b, mboxBOM)
	for len(b) > 0 {
		line, rest := mboxNextLine(b)
		if !isMboxBlankLine(line) && !isMMDFDelimLine(line) {
			return false
		}
		b = rest
	}
	return true
}
