package importers

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// This file reads message headers leniently, the way mail clients do.
//
// go-message's textproto.ReadHeader rejects header blocks that real archives
// contain (a line without a colon, 8-bit bytes in a field name, a From_ line
// left in the header by a broken writer) and allocates a map per message.
// The scanner below never fails: it splits the header block from the body by
// the same rule every time, whatever the input, and hands out raw field
// values without copying. go-message is used for what it does well: RFC 2047
// decoding with its charset tables.

// SplitHeader splits a message into its header block and its body. The
// header block ends at the first empty line (LF or CRLF), which belongs to
// neither part. A line that is neither a header field ("Name: value") nor
// the continuation of one ends the header block early: everything from it
// on is body, as Python's email parser and most clients treat a message
// whose separator line is missing. A message with no header fields at all
// has an empty header.
func SplitHeader(msg []byte) (header, body []byte) {
	header, body, _, _ = splitHeaderField(msg, "")
	return header, body
}

// splitHeaderField is SplitHeader that also returns what
// headerValue(header, name) returns, from the same pass over the lines; ""
// matches no field. The scan of an mbox file calls it for every message,
// for its Content-Length.
func splitHeaderField(msg []byte, name string) (header, body, value []byte, found bool) {
	// The field called name, once found, runs from fieldAt to the next
	// line that does not continue it.
	fieldAt, fieldEnd := -1, -1
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
			header, body = msg[:i], msg[next:]
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if i == 0 {
				return nil, msg, nil, false // a continuation with nothing to continue
			}
		} else if colon := fieldColon(line); colon < 0 {
			header, body = msg[:i], msg[i:]
			break
		} else {
			if fieldAt >= 0 && fieldEnd < 0 {
				fieldEnd = i
			}
			if fieldAt < 0 && len(name) > 0 && equalFold(trimRightBytes(line[:colon], ' ', '\t'), name) {
				fieldAt = i
			}
		}
		i = next
	}
	if i >= len(msg) {
		header, body = msg, nil
	}
	if fieldAt < 0 {
		return header, body, nil, false
	}
	if fieldEnd < 0 {
		fieldEnd = len(header)
	}
	// As forEachField cuts the value.
	field := header[fieldAt:fieldEnd]
	value = trimLeftBytes(field[bytes.IndexByte(field, ':')+1:], ' ', '\t')
	return header, body, trimRightBytes(value, '\r', '\n'), true
}

// isFieldLine reports whether line starts with a field name and a colon.
// Field names are printable US-ASCII except the colon (RFC 5322 §2.2); a
// space before the colon is tolerated, as old software wrote "Subject :".
func isFieldLine(line []byte) bool {
	return fieldColon(line) >= 0
}

// fieldColon returns the index of the colon that ends the field name line
// starts with, or -1 when line does not start with a field name and a
// colon (see isFieldLine).
func fieldColon(line []byte) int {
	for j, c := range line {
		switch {
		case c == ':':
			if j > 0 {
				return j
			}
			return -1
		case c == ' ' || c == '\t':
			rest := bytes.TrimLeft(line[j:], " \t")
			if j > 0 && len(rest) > 0 && rest[0] == ':' {
				return len(line) - len(rest)
			}
			return -1
		case c < 33 || c > 126:
			return -1
		}
	}
	return -1
}

// forEachField calls fn with the name and raw value (folding kept, leading
// space of the value trimmed) of each field of a header block, in order,
// until fn returns false.
func forEachField(header []byte, fn func(name, value []byte) bool) {
	i := 0
	for i < len(header) {
		start := i
		// The field runs until a line that does not start with WSP.
		end := len(header)
		for j := i; j < len(header); {
			nl := bytes.IndexByte(header[j:], '\n')
			if nl < 0 {
				end = len(header)
				break
			}
			j += nl + 1
			if j >= len(header) || (header[j] != ' ' && header[j] != '\t') {
				end = j
				break
			}
		}
		i = end
		field := header[start:end]
		colon := bytes.IndexByte(field, ':')
		if colon <= 0 {
			continue
		}
		name := trimRightBytes(field[:colon], ' ', '\t')
		value := trimLeftBytes(field[colon+1:], ' ', '\t')
		value = trimRightBytes(value, '\r', '\n')
		if !fn(name, value) {
			return
		}
	}
}

// trimLeftBytes and trimRightBytes are bytes.TrimLeft and bytes.TrimRight
// with a cutset of two bytes, without building the cutset each time: they
// run for every header field of every message.
func trimLeftBytes(b []byte, c1, c2 byte) []byte {
	for len(b) > 0 && (b[0] == c1 || b[0] == c2) {
		b = b[1:]
	}
	return b
}

func trimRightBytes(b []byte, c1, c2 byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == c1 || b[len(b)-1] == c2) {
		b = b[:len(b)-1]
	}
	return b
}

// headerValue returns the raw value of the first field called name
// (case-insensitive), and whether there was one.
func headerValue(header []byte, name string) ([]byte, bool) {
	var v []byte
	found := false
	forEachField(header, func(n, value []byte) bool {
		if equalFold(n, name) {
			v, found = value, true
			return false
		}
		return true
	})
	return v, found
}

// headerFields collects, in one pass over a header block, the raw value
// of the first field of each name the readers use (the hf constants), as
// headerValue gives it: a message's header is then read once, not once per
// field wanted.
type headerFields struct {
	v     [hfCount][]byte
	found uint32
}

// The fields headerFields collects.
const (
	hfDate = iota
	hfFrom
	hfTo
	hfCc
	hfSubject
	hfMessageID
	hfReceived
	hfContentLength
	hfReturnReceiptTo
	hfDispositionNotificationTo
	hfCount
)

// hfNames are the names of the hf fields, by index.
var hfNames = [hfCount]string{"Date", "From", "To", "Cc", "Subject", "Message-ID", "Received", "Content-Length",
	"Return-Receipt-To", "Disposition-Notification-To"}

// hfIndex returns the hf index of a field name (in any case), or -1.
func hfIndex(name []byte) int {
	var i int
	switch len(name) {
	case 2:
		if lowerASCII(name[0]) == 't' {
			i = hfTo
		} else {
			i = hfCc
		}
	case 4:
		if lowerASCII(name[0]) == 'd' {
			i = hfDate
		} else {
			i = hfFrom
		}
	case 7:
		i = hfSubject
	case 8:
		i = hfReceived
	case 10:
		i = hfMessageID
	case 14:
		i = hfContentLength
	case 17:
		i = hfReturnReceiptTo
	case 27:
		i = hfDispositionNotificationTo
	default:
		return -1
	}
	if !equalFold(name, hfNames[i]) {
		return -1
	}
	return i
}

// add records the field name: value if it is one of the fields collected
// and the first of its name.
func (hf *headerFields) add(name, value []byte) {
	if i := hfIndex(name); i >= 0 && hf.found&(1<<i) == 0 {
		hf.v[i] = value
		hf.found |= 1 << i
	}
}

// collect records the fields of header.
func (hf *headerFields) collect(header []byte) {
	forEachField(header, func(name, value []byte) bool {
		hf.add(name, value)
		return true
	})
}

// get returns what headerValue(header, hfNames[i]) returns.
func (hf *headerFields) get(i int) ([]byte, bool) {
	return hf.v[i], hf.found&(1<<i) != 0
}

// equalFold reports whether b and s are equal, ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// unfold joins a folded field value into one line and collapses every run
// of whitespace into one space (RFC 5322 §2.2.3 unfolding, plus the
// whitespace differences that servers and clients introduce).
func unfold(v []byte) string {
	if unfolded(v) {
		return string(v)
	}
	return string(appendUnfold(make([]byte, 0, len(v)), v))
}

// appendUnfold appends unfold(v) to dst.
func appendUnfold(dst, v []byte) []byte {
	if unfolded(v) {
		return append(dst, v...)
	}
	n := len(dst)
	space := false
	for _, c := range v {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			space = true
			continue
		}
		if space && len(dst) > n {
			dst = append(dst, ' ')
		}
		space = false
		dst = append(dst, c)
	}
	return dst
}

// unfolded reports whether unfold would return v unchanged: no CR, LF or
// tab, no space first, last or next to another. Most values are so.
func unfolded(v []byte) bool {
	if len(v) > 0 && (v[0] == ' ' || v[len(v)-1] == ' ') {
		return false
	}
	for i, c := range v {
		switch c {
		case '\t', '\r', '\n':
			return false
		case ' ':
			if v[i+1] == ' ' { // v does not end with a space
				return false
			}
		}
	}
	return true
}

var wordDecoder = &mime.WordDecoder{
	CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
		return charset.Reader(cs, r)
	},
}

// decodeHeader decodes RFC 2047 encoded-words in an unfolded field value.
// Undecodable words are left as they are; raw 8-bit bytes that are not
// UTF-8 are read as Latin-1, the most common charset of unlabelled mail.
func decodeHeader(v string) string {
	if strings.Contains(v, "=?") {
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		}
	}
	return toUTF8(v)
}

func toUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	r := make([]rune, 0, len(s))
	for i := 0; i < len(s); i++ {
		r = append(r, rune(s[i]))
	}
	return string(r)
}
