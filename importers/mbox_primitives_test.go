package importers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The scan of an mbox file made these shared primitives faster: the
// header of a message is read once (headerFields, splitHeaderField, the
// fingerprint text shared by Fingerprint and HeaderPrint), unfold copies
// nothing when there is nothing to unfold, and the flag fields parse
// without strings. The versions before that rewrite are kept below,
// verbatim but for their names, as the reference: FuzzHeaderReference
// checks that the new ones give the same results on every input.

func refSplitHeader(msg []byte) (header, body []byte) {
	i := 0
	for i < len(msg) {
		nl := bytes.IndexByte(msg[i:], '\n')
		var line []byte
		next := len(msg)
		if nl >= 0 {
			line = msg[i : i+nl]
			next = i + nl + 1
		} else {
			line = msg[i:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return msg[:i], msg[next:]
		}
		if line[0] == ' ' || line[0] == '\t' {
			if i == 0 {
				return nil, msg // a continuation with nothing to continue
			}
		} else if !refIsFieldLine(line) {
			return msg[:i], msg[i:]
		}
		i = next
	}
	return msg, nil
}

func refIsFieldLine(line []byte) bool {
	for j, c := range line {
		switch {
		case c == ':':
			return j > 0
		case c == ' ' || c == '\t':
			rest := bytes.TrimLeft(line[j:], " \t")
			return j > 0 && len(rest) > 0 && rest[0] == ':'
		case c < 33 || c > 126:
			return false
		}
	}
	return false
}
func refUnfold(v []byte) string {
	var b strings.Builder
	b.Grow(len(v))
	space := false
	for _, c := range v {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

func refFingerprint(header, body []byte) string {
	h := sha256.New()
	refWriteFingerprintHeader(h, header)
	h.Write([]byte("\n"))
	body = bytes.TrimRight(body, " \t\r\n")
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\r')
		if i < 0 {
			h.Write(body)
			break
		}
		h.Write(body[:i])
		body = body[i+1:]
		if len(body) == 0 || body[0] != '\n' {
			h.Write([]byte("\r")) // a lone CR is content
		}
	}
	return "fp:" + hex.EncodeToString(h.Sum(nil)[:16])
}
func refHeaderPrint(header []byte) string {
	h := sha256.New()
	refWriteFingerprintHeader(h, header)
	return hex.EncodeToString(h.Sum(nil)[:8])
}
func refWriteFingerprintHeader(w interface{ Write([]byte) (int, error) }, header []byte) {
	for _, name := range FingerprintFields {
		v, _ := headerValue(header, name)
		w.Write([]byte(strings.ToLower(name) + ":" + refUnfold(v) + "\n"))
	}
}

func refReceivedDate(header []byte) (time.Time, bool) {
	v, ok := headerValue(header, "Received")
	if !ok {
		return time.Time{}, false
	}
	s := refUnfold(v)
	i := strings.LastIndexByte(s, ';')
	if i < 0 {
		return time.Time{}, false
	}
	return parseMailDate(s[i+1:])
}
func refHeaderDate(header []byte) (time.Time, bool) {
	v, ok := headerValue(header, "Date")
	if !ok {
		return time.Time{}, false
	}
	return parseMailDate(refUnfold(v))
}
func refHeaderDeliveryTime(header []byte) (time.Time, DateSource) {
	if t, ok := refReceivedDate(header); ok {
		return t, DateReceived
	}
	if t, ok := refHeaderDate(header); ok {
		return t, DateHeader
	}
	return time.Time{}, DateNone
}

func refMboxFlags(header []byte) (flags []string, deleted bool) {
	var s flagSet
	forEachField(header, func(name, value []byte) bool {
		switch {
		case equalFold(name, "Status"), equalFold(name, "X-Status"):
			for _, c := range strings.TrimSpace(string(value)) {
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
			v, err := strconv.ParseUint(strings.TrimSpace(string(value)), 16, 32)
			if err != nil {
				return true
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
		return true
	})
	return s.sorted(), s.deleted
}

// FuzzHeaderReference: on any message, the rewritten primitives give what
// the reference versions give.
func FuzzHeaderReference(f *testing.F) {
	for _, s := range []string{
		"Subject: a\r\n b\r\n\r\nbody",
		"Content-Length: 12\nContent-length : 3\n\nbody\n",
		"content-length:\t 7 \r\n\tmore\r\nX: y\r\n\r\nbody",
		" cont\nA: 1\n\n",
		"A: 1\nnot a field\nB: 2\n\n",
		"Message-ID: <a@b> <c@d>\nStatus: RO\nX-Status: AFTD\nX-Mozilla-Status: 1007\nX-Mozilla-Keys: $label1 work\n\n",
		"X-Mozilla-Status:  0x1\nX-Mozilla-Status: FFFFFFFF\nX-Mozilla-Status: 100000000\nStatus: \u00e9R\n\n",
		"Date: Mon, 1 Jan 2001 00:00:00 +0000\nFrom: a  b\nTo: c\tx\nCc:  \nSubject: =?UTF-8?Q?caf=C3=A9?=\n\nbody \r\n\r\n",
		"Received: from x\n\tby y; Tue, 2 Jan 2001 10:00:00 -0500\nReceived: from z; Mon, 1 Jan 2001 00:00:00 +0000\nDate: junk\n\n",
		"TO: a\nCC: b\nDATE: c\nFROM: d\nSUBJECT: e\nmessage-id:\n\nx\rx\r\n",
		"Subject:x  y \nSubject: second\n\n",
		"A: 1\r",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, b := SplitHeader(msg)
		wh, wb := refSplitHeader(msg)
		if !bytes.Equal(h, wh) || !bytes.Equal(b, wb) || (h == nil) != (wh == nil) || (b == nil) != (wb == nil) {
			t.Fatalf("SplitHeader(%q) = %q, %q; the reference %q, %q", msg, h, b, wh, wb)
		}
		for _, name := range append(hfNames[:], "", "Status", "content-LENGTH", "X") {
			sh, sb, v, ok := splitHeaderField(msg, name)
			wv, wok := headerValue(wh, name)
			if name == "" {
				wv, wok = nil, false
			}
			if !bytes.Equal(sh, wh) || !bytes.Equal(sb, wb) || !bytes.Equal(v, wv) || ok != wok {
				t.Fatalf("splitHeaderField(%q, %q) = %q, %q, %q, %v; SplitHeader and headerValue give %q, %q, %q, %v", msg, name, sh, sb, v, ok, wh, wb, wv, wok)
			}
		}
		var hf headerFields
		hf.collect(msg) // any bytes, not only a header block
		for i, name := range hfNames {
			v, ok := hf.get(i)
			wv, wok := headerValue(msg, name)
			if !bytes.Equal(v, wv) || ok != wok {
				t.Fatalf("headerFields of %q: %s = %q, %v; headerValue gives %q, %v", msg, name, v, ok, wv, wok)
			}
		}
		for _, v := range [][]byte{msg, h, b} {
			if got, want := unfold(v), refUnfold(v); got != want {
				t.Fatalf("unfold(%q) = %q, the reference %q", v, got, want)
			}
			if got, want := string(appendUnfold([]byte("x"), v)), "x"+refUnfold(v); got != want {
				t.Fatalf("appendUnfold(%q) = %q, want %q", v, got, want)
			}
		}
		if got, want := Fingerprint(h, b), refFingerprint(h, b); got != want {
			t.Fatalf("Fingerprint(%q, %q) = %s, the reference %s", h, b, got, want)
		}
		if got, want := HeaderPrint(h), refHeaderPrint(h); got != want {
			t.Fatalf("HeaderPrint(%q) = %s, the reference %s", h, got, want)
		}
		if gt, gs := headerDeliveryTime(h); true {
			wt, ws := refHeaderDeliveryTime(h)
			if !gt.Equal(wt) || gs != ws {
				t.Fatalf("headerDeliveryTime(%q) = %v, %s; the reference %v, %s", h, gt, gs, wt, ws)
			}
		}
		gf, gd := mboxFlags(h)
		wf, wd := refMboxFlags(h)
		if !slices.Equal(gf, wf) || gd != wd {
			t.Fatalf("mboxFlags(%q) = %v, %v; the reference %v, %v", h, gf, gd, wf, wd)
		}
		for _, v := range [][]byte{msg, bytes.TrimSpace(msg)} {
			n, ok := parseHex32(v)
			wn, err := strconv.ParseUint(string(v), 16, 32)
			if ok != (err == nil) || ok && n != wn {
				t.Fatalf("parseHex32(%q) = %d, %v; strconv.ParseUint gives %d, %v", v, n, ok, wn, err)
			}
		}

		// setHeaderFields is the reference's combination of them.
		var m Message
		setHeaderFields(&m, h, b)
		wantKey, wantID := "", ""
		if v, ok := headerValue(h, "Message-ID"); ok {
			wantID = NormalizeMessageID(string(v))
		}
		if wantID != "" {
			wantKey = "mid:" + wantID
		} else {
			wantKey = refFingerprint(h, b)
		}
		if m.Key != wantKey || m.MessageID != wantID {
			t.Fatalf("setHeaderFields(%q): Key %s, MessageID %q; want %s, %q", h, m.Key, m.MessageID, wantKey, wantID)
		}
		if key, id := KeyOf(msg); key != m.Key || id != m.MessageID {
			t.Fatalf("KeyOf(%q) = %s, %q; setHeaderFields gives %s, %q", msg, key, id, m.Key, m.MessageID)
		}
	})
}

// TestHeaderFieldNames: headerFields, the fingerprint and setHeaderFields
// use the fields they are documented to.
func TestHeaderFieldNames(t *testing.T) {
	for i, f := range fingerprintIndex {
		if hfNames[f] != FingerprintFields[i] || fingerprintLabels[i] != strings.ToLower(FingerprintFields[i])+":" {
			t.Errorf("fingerprint field %d: %s (%s), FingerprintFields says %s", i, hfNames[f], fingerprintLabels[i], FingerprintFields[i])
		}
	}
	for i, name := range hfNames {
		for _, n := range []string{name, strings.ToUpper(name), strings.ToLower(name)} {
			if got := hfIndex([]byte(n)); got != i {
				t.Errorf("hfIndex(%q) = %d, want %d", n, got, i)
			}
		}
	}
	for _, n := range []string{"", "T", "Tx", "Dat", "Fram", "Subjects", "Message-Id:", "Content-Lengths"} {
		if got := hfIndex([]byte(n)); got >= 0 {
			t.Errorf("hfIndex(%q) = %d, want -1", n, got)
		}
	}
}

// TestHeaderOnePassAllocs: collecting the fields of a header and unfolding
// a value with nothing to unfold allocate nothing beyond the result.
func TestHeaderOnePassAllocs(t *testing.T) {
	header := []byte("Received: from a\n\tby b; Mon, 1 Jan 2001 00:00:00 +0000\nFrom: a@example.com\nTo: b@example.com\n" +
		"Subject: Re: lunch\nDate: Mon, 1 Jan 2001 00:00:00 +0000\nMessage-ID: <1@example.com>\nStatus: RO\n")
	var hf headerFields
	if n := testing.AllocsPerRun(100, func() { hf = headerFields{}; hf.collect(header) }); n != 0 {
		t.Errorf("collect allocates %v times", n)
	}
	v, _ := hf.get(hfSubject)
	if n := testing.AllocsPerRun(100, func() { unfold(v) }); n > 1 {
		t.Errorf("unfold of a plain value allocates %v times, want 1 (the string)", n)
	}
}
