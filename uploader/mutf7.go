package uploader

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Mailbox names on the wire are in modified UTF-7 (RFC 3501 §5.1.3) unless
// the client enabled UTF8=ACCEPT, which archive2imap never does: printable
// US-ASCII stands for itself except "&", which is "&-"; everything else is
// UTF-16BE in modified base64 (RFC 3501's alphabet: "," instead of "/", no
// padding) between "&" and "-".

// mutf7Base64 is the modified base64 of RFC 3501 §5.1.3.
var mutf7Base64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// errMUTF7 is wrapped by the errors of mutf7Decode.
var errMUTF7 = errors.New("malformed modified UTF-7 mailbox name")

// mutf7Encode encodes a UTF-8 mailbox name. Bytes that are not valid UTF-8
// become U+FFFD, as ranging over a string makes them.
func mutf7Encode(s string) string {
	if isPrintableASCIINoAmp(s) {
		return s
	}
	var b strings.Builder
	var run []rune // the pending non-printable run
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		buf := make([]byte, 2*len(u))
		for i, c := range u {
			buf[2*i] = byte(c >> 8)
			buf[2*i+1] = byte(c)
		}
		b.WriteByte('&')
		b.WriteString(mutf7Base64.EncodeToString(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

func isPrintableASCIINoAmp(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '&' {
			return false
		}
	}
	return true
}

// mutf7Decode decodes a modified UTF-7 mailbox name to UTF-8. It is strict
// where RFC 3501 is: 8-bit and control bytes outside a shift, a shift that
// is not closed, base64 that is not a whole number of UTF-16 units (or has
// non-zero padding bits), lone surrogates, and printable ASCII encoded in
// base64 are errors.
func mutf7Decode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("%w: byte 0x%02x at %d", errMUTF7, c, i)
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", fmt.Errorf("%w: \"&\" at %d is not closed by \"-\"", errMUTF7, i)
		}
		enc := s[i+1 : i+1+j]
		if enc == "" {
			b.WriteByte('&')
			i += 2
			continue
		}
		raw, err := mutf7Base64.Strict().DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", fmt.Errorf("%w: bad base64 at %d", errMUTF7, i)
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for k := 0; k < len(u); k++ {
			r := rune(u[k])
			switch {
			case utf16.IsSurrogate(r):
				if r >= 0xdc00 || k+1 >= len(u) {
					return "", fmt.Errorf("%w: lone UTF-16 surrogate at %d", errMUTF7, i)
				}
				r = utf16.DecodeRune(r, rune(u[k+1]))
				if r == utf8.RuneError {
					return "", fmt.Errorf("%w: lone UTF-16 surrogate at %d", errMUTF7, i)
				}
				k++
			case r >= 0x20 && r <= 0x7e:
				return "", fmt.Errorf("%w: printable ASCII encoded in base64 at %d", errMUTF7, i)
			}
			b.WriteRune(r)
		}
		i += 1 + j + 1
	}
	return b.String(), nil
}
