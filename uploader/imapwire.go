package uploader

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// This file is the small response reader of the APPEND connection
// (appendconn.go): it splits the server's output into responses, skipping
// the literals of untagged data, and parses the few parts the connection
// needs (status, response code, text, CAPABILITY, EXISTS). Everything else
// is read and dropped.

// maxResponseLine bounds what is kept of one response line (literals
// excluded); the rest of an over-long line is read and dropped.
const maxResponseLine = 64 << 10

// errProtocol is wrapped by errors about responses that are not IMAP.
var errProtocol = errors.New("unexpected response from the server")

// respKind says what a response is.
type respKind int

const (
	respUntagged     respKind = iota // "* ..."
	respContinuation                 // "+ ..."
	respTagged                       // "A1 OK ..."
)

// response is one server response.
type response struct {
	kind respKind
	tag  string // respTagged only
	// status is OK, NO, BAD, BYE or PREAUTH (upper case) for status
	// responses, "" for untagged data.
	status string
	// code and codeArgs are the response code: "[APPENDUID 38505 3955]"
	// gives "APPENDUID" and "38505 3955".
	code, codeArgs string
	// text is the human-readable text of a status response, or of a
	// continuation request (a base64 challenge during AUTHENTICATE).
	text string
	// data is the rest of an untagged data response after "* ": for
	// example "CAPABILITY IMAP4rev1 LITERAL+" or "3 EXISTS". Literals are
	// replaced by "{N}".
	data string
}

// readResponse reads one response. Untagged data may carry literals
// ("{N}" CRLF and N bytes, or "~{N}" for literal8): they are read and
// dropped. Status responses and continuation requests carry none: a "{5}"
// at the end of their text is text.
func readResponse(br *bufio.Reader) (*response, error) {
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	r := &response{}
	rest, ok := cutToken(line)
	switch {
	case !ok && string(line) == "+":
		r.kind = respContinuation
		return r, nil
	case !ok:
		return nil, fmt.Errorf("%w: a response without a tag", errProtocol)
	case rest.tag == "+":
		r.kind = respContinuation
		r.text = rest.rest
		return r, nil
	case rest.tag == "*":
		r.kind = respUntagged
	default:
		r.kind = respTagged
		r.tag = rest.tag
	}
	word, after, _ := strings.Cut(rest.rest, " ")
	switch up := strings.ToUpper(word); up {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		r.status = up
		r.code, r.codeArgs, r.text = parseRespText(after)
		return r, nil
	}
	if r.kind == respTagged {
		return nil, fmt.Errorf("%w: tagged response %s without a status", errProtocol, truncate(r.tag, 20))
	}
	// Untagged data: follow its literals.
	data := rest.rest
	var b strings.Builder
	for {
		n, ok := trailingLiteral(data)
		if !ok {
			break
		}
		if _, err := io.CopyN(io.Discard, br, n); err != nil {
			return nil, eofIsUnexpected(err)
		}
		b.WriteString(data)
		more, err := readLine(br)
		if err != nil {
			return nil, eofIsUnexpected(err)
		}
		data = string(more)
		if b.Len() > maxResponseLine {
			b.Reset() // keep memory bounded; the data is only skipped
		}
	}
	b.WriteString(data)
	r.data = b.String()
	return r, nil
}

type tagged struct{ tag, rest string }

// cutToken splits "TAG rest" at the first space.
func cutToken(line []byte) (tagged, bool) {
	i := bytes.IndexByte(line, ' ')
	if i <= 0 {
		return tagged{}, false
	}
	return tagged{tag: string(line[:i]), rest: string(line[i+1:])}, true
}

// readLine reads one line without its CRLF (or bare LF), keeping at most
// maxResponseLine bytes of it.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) <= maxResponseLine {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		break
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// trailingLiteral reports whether s ends with a literal announcement "{N}"
// (or "~{N}"; servers never send "{N+}") and returns N. Unlike the guard's
// literalSize it tells "{0}" from no literal.
func trailingLiteral(s string) (int64, bool) {
	if !strings.HasSuffix(s, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(s, '{')
	if i < 0 || i+2 > len(s)-1 {
		return 0, false
	}
	digits := s[i+1 : len(s)-1]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// parseRespText parses resp-text: an optional "[CODE args]" and the text
// (RFC 9051 §7.1).
func parseRespText(s string) (code, args, text string) {
	if !strings.HasPrefix(s, "[") {
		return "", "", s
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return "", "", s // not a code after all: keep it all as text
	}
	inner := s[1:end]
	text = strings.TrimPrefix(s[end+1:], " ")
	code, args, _ = strings.Cut(inner, " ")
	return strings.ToUpper(code), args, text
}

// parseCaps parses the atoms of a CAPABILITY response or response code.
// Capability names are case-insensitive (RFC 9051 §7.2.2); they are stored
// as go-imap's constants spell them (upper case but for "IMAP4rev1" and
// "IMAP4rev2") so that CapSet.Has finds them.
func parseCaps(s string) imap.CapSet {
	caps := imap.CapSet{}
	for _, f := range strings.Fields(s) {
		c := imap.Cap(strings.ToUpper(f))
		switch {
		case strings.EqualFold(f, string(imap.CapIMAP4rev1)):
			c = imap.CapIMAP4rev1
		case strings.EqualFold(f, string(imap.CapIMAP4rev2)):
			c = imap.CapIMAP4rev2
		}
		caps[c] = struct{}{}
	}
	return caps
}

// parseNumberData parses untagged "N NAME" data ("3 EXISTS") and returns
// N and NAME in upper case.
func parseNumberData(data string) (uint32, string, bool) {
	num, name, ok := strings.Cut(data, " ")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return 0, "", false
	}
	name, _, _ = strings.Cut(name, " ")
	return uint32(n), strings.ToUpper(name), true
}

// parseAppendUIDSet parses the arguments of an APPENDUID response code to
// a MULTIAPPEND (RFC 4315 §3, RFC 3502): "<uidvalidity> <uid-set>", the
// UIDs of the messages in the order they were appended ("5:9", "5,7:9").
// It returns nil UIDs when the set does not hold n UIDs.
func parseAppendUIDSet(args string, n int) (validity uint32, uids []uint32) {
	v, set, found := strings.Cut(strings.TrimSpace(args), " ")
	if !found {
		return 0, nil
	}
	vv, err := strconv.ParseUint(v, 10, 32)
	if err != nil || vv == 0 {
		return 0, nil
	}
	for _, r := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(r, ":")
		a, err1 := strconv.ParseUint(lo, 10, 32)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 32)
		}
		if err1 != nil || err2 != nil || a == 0 || b == 0 || b < a || len(uids)+int(b-a)+1 > n {
			return uint32(vv), nil
		}
		for u := a; u <= b; u++ {
			uids = append(uids, uint32(u))
		}
	}
	if len(uids) != n {
		return uint32(vv), nil
	}
	return uint32(vv), uids
}

// parseAppendUID parses the arguments of an APPENDUID response code
// (RFC 4315 §3) to a single APPEND: "<uidvalidity> <uid>".
func parseAppendUID(args string) (validity, uid uint32, ok bool) {
	v, u, found := strings.Cut(strings.TrimSpace(args), " ")
	if !found {
		return 0, 0, false
	}
	vv, err1 := strconv.ParseUint(v, 10, 32)
	uu, err2 := strconv.ParseUint(u, 10, 32)
	if err1 != nil || err2 != nil || vv == 0 || uu == 0 {
		return 0, 0, false
	}
	return uint32(vv), uint32(uu), true
}
