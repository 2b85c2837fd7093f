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
		} else if !isFieldLine(line) {
			return msg[:i], msg[i:]
		}
		i = next
	}
	return msg, nil
}

// isFieldLine reports whether line starts with a field name and a colon.
// Field names are printable US-ASCII except the colon (RFC 5322 §2.2); a
// space before the colon is tolerated, as old software wrote "Subject :".
func isFieldLine(line []byte) bool {
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
