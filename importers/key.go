package importers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Keys identify messages for deduplication. A key is a pure function of the
// bytes that are uploaded, so that the uploader computes the same key from a
// message it fetches back from the server as the importer computed from the
// source. Two kinds exist:
//
//   - "mid:" + the normalized Message-ID (NormalizeMessageID), for every
//     message that has a non-empty Message-ID header;
//   - "fp:" + a fingerprint, for messages without one: the first 16 bytes,
//     in hex, of the SHA-256 of the stable header fields Date, From, To, Cc
//     and Subject (each unfolded, whitespace collapsed, in that order, one
//     per line as "name:value") followed by an empty line and the body with
//     its line endings normalized to LF and trailing whitespace removed.
//     Trace and client-state fields (Received, Status, X-Mozilla-Status,
//     X-UID) are left out, so the same message kept by two clients, or
//     delivered twice, gets the same key; the body is in, so two different
//     messages with the same headers do not.

// FingerprintFields are the header fields a fingerprint covers, in order.
var FingerprintFields = []string{"Date", "From", "To", "Cc", "Subject"}

// KeyOf returns the dedup key and the normalized Message-ID ("" if none) of
// a message in upload form (or in any line-ending form: the key does not
// depend on it).
func KeyOf(msg []byte) (key, messageID string) {
	header, body := SplitHeader(msg)
	if v, ok := headerValue(header, "Message-ID"); ok {
		if id := NormalizeMessageID(string(v)); id != "" {
			return "mid:" + id, id
		}
	}
	return Fingerprint(header, body), ""
}

// MessageIDKey returns the key of a message whose Message-ID header has the
// raw value v, or "" when v holds no usable Message-ID.
func MessageIDKey(v string) string {
	if id := NormalizeMessageID(v); id != "" {
		return "mid:" + id
	}
	return ""
}

// NormalizeMessageID normalizes a raw Message-ID header value: folding and
// all whitespace removed, and the first <...> token taken without its angle
// brackets (an ID written without brackets, as some list archivers do, is
// taken whole). Anything after the first token (a second ID, a comment) is
// dropped. It returns "" for a value holding no ID.
func NormalizeMessageID(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	} else if i := strings.IndexAny(v, " \t\r\n("); i >= 0 {
		v = v[:i]
	}
	if strings.ContainsAny(v, " \t\r\n") {
		v = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, v)
	}
	return v
}

// Fingerprint returns the "fp:" key of a message from its header block and
// body, as split by SplitHeader.
func Fingerprint(header, body []byte) string {
	var hf headerFields
	hf.collect(header)
	return fingerprintOf(appendFingerprintHeader(nil, &hf), body)
}

// fingerprintOf returns the "fp:" key of a message from the fingerprint
// text of its header (appendFingerprintHeader) and its body.
func fingerprintOf(fpHeader, body []byte) string {
	h := sha256.New()
	h.Write(fpHeader)
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

// HeaderPrint returns a digest of the fingerprint's header fields alone. The
// uploader uses it to find the server messages without a Message-ID that
// may match a source message, before it fetches their bodies to compute
// their full fingerprint.
func HeaderPrint(header []byte) string {
	var hf headerFields
	hf.collect(header)
	return headerPrintOf(appendFingerprintHeader(nil, &hf))
}

// headerPrintOf returns the HeaderPrint of the fingerprint text of a header.
func headerPrintOf(fpHeader []byte) string {
	sum := sha256.Sum256(fpHeader)
	return hex.EncodeToString(sum[:8])
}

// fingerprintIndex are the headerFields indexes of FingerprintFields, and
// fingerprintLabels what stands before their values in the fingerprint
// text.
var (
	fingerprintIndex  = [...]int{hfDate, hfFrom, hfTo, hfCc, hfSubject}
	fingerprintLabels = [...]string{"date:", "from:", "to:", "cc:", "subject:"}
)

// appendFingerprintHeader appends to dst the header part of the
// fingerprint text: each of FingerprintFields as "name:value\n", the name
// in lower case and the value unfolded, "" for a missing field.
func appendFingerprintHeader(dst []byte, hf *headerFields) []byte {
	for i, f := range fingerprintIndex {
		v, _ := hf.get(f)
		dst = append(dst, fingerprintLabels[i]...)
		dst = appendUnfold(dst, v)
		dst = append(dst, '\n')
	}
	return dst
}
