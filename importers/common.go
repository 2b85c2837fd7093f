package importers

import (
	"bytes"
	"context"
	"fmt"
)

// This file holds what every reader does the same way: line endings, the
// header-derived fields of a message, and reporting problems.

// appendCRLF appends src to dst with every bare LF turned into CRLF; CRLF
// pairs and lone CRs are kept as they are.
func appendCRLF(dst, src []byte) []byte {
	if bytes.IndexByte(src, '\r') < 0 {
		// Fast path for LF files: no CR to look behind.
		for {
			i := bytes.IndexByte(src, '\n')
			if i < 0 {
				return append(dst, src...)
			}
			dst = append(dst, src[:i]...)
			dst = append(dst, '\r', '\n')
			src = src[i+1:]
		}
	}
	prevCR := false
	for {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			return append(dst, src...)
		}
		cr := prevCR
		if i > 0 {
			cr = src[i-1] == '\r'
		}
		dst = append(dst, src[:i]...)
		if !cr {
			dst = append(dst, '\r')
		}
		dst = append(dst, '\n')
		prevCR = false
		src = src[i+1:]
	}
}

// crlfSize returns the length src will have after appendCRLF.
func crlfSize(src []byte) int64 {
	n := int64(len(src))
	lf := bytes.Count(src, []byte{'\n'})
	if lf == 0 {
		return n
	}
	if bytes.IndexByte(src, '\r') < 0 {
		return n + int64(lf)
	}
	return n + int64(lf-bytes.Count(src, []byte("\r\n")))
}

// setHeaderFields fills the fields of m that come from its header block:
// Subject, MessageID and Key, and, when the container gave no delivery time,
// Date from Received: or Date:. body is only read when the message has no
// Message-ID and its fingerprint is needed; it must already have any
// container quoting undone (line endings do not matter).
func setHeaderFields(m *Message, header, body []byte) {
	var hf headerFields
	hf.collect(header)
	setCollectedFields(m, &hf, body)
}

// setCollectedFields is setHeaderFields with the header's fields already
// collected.
func setCollectedFields(m *Message, hf *headerFields, body []byte) {
	if v, ok := hf.get(hfSubject); ok {
		m.Subject = decodeHeader(unfold(v))
	}
	m.MessageID, m.Key, m.HeaderPrint = "", "", ""
	if v, ok := hf.get(hfMessageID); ok {
		if id := NormalizeMessageID(string(v)); id != "" {
			m.Key = "mid:" + id
			m.MessageID = m.Key[len("mid:"):]
		}
	}
	if m.MessageID == "" {
		fh := appendFingerprintHeader(nil, hf)
		m.Key = fingerprintOf(fh, body)
		m.HeaderPrint = headerPrintOf(fh)
	}
	if m.DateSource == "" || m.DateSource == DateNone {
		m.Date, m.DateSource = hf.deliveryTime()
	}
	m.AsksReceipt = asksReceipt(hf)
}

// asksReceipt reports whether the header asks for a read receipt: a
// Disposition-Notification-To field (RFC 8098 §2.1, RFC 3798 before it)
// or the older Return-Receipt-To, with an address in it.
func asksReceipt(hf *headerFields) bool {
	for _, i := range []int{hfDispositionNotificationTo, hfReturnReceiptTo} {
		if v, ok := hf.get(i); ok && bytes.IndexByte(v, '@') >= 0 {
			return true
		}
	}
	return false
}

// problem reports a problem to h, if it listens.
func (h *Handler) problem(path string, offset int64, index int, format string, args ...any) {
	if h.Problem != nil {
		h.Problem(Problem{Path: path, Offset: offset, Index: index, Err: fmt.Sprintf(format, args...)})
	}
}

func (h *Handler) ignored(path, reason string) {
	if h.Ignored != nil {
		h.Ignored(path, reason)
	}
}

func (h *Handler) folder(f *Folder) error {
	if h.Folder != nil {
		return h.Folder(f)
	}
	return nil
}

func (h *Handler) message(m *Message) error {
	if h.Message != nil {
		return h.Message(m)
	}
	return nil
}

// canceled returns ctx's error, for checking between messages.
func canceled(ctx context.Context) error {
	return ctx.Err()
}
