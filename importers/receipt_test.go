package importers

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestAsksReceipt: a message asks for a read receipt with a
// Disposition-Notification-To field (RFC 8098 §2.1; RFC 3798 and RFC 2298
// before it), or the older Return-Receipt-To that sendmail-era clients
// (Eudora, Pegasus) wrote.
func TestAsksReceipt(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         bool
	}{
		{"RFC 8098 §2.1: Disposition-Notification-To (Thunderbird)", "From: a@example.org\nDisposition-Notification-To: a@example.org\nSubject: x\n", true},
		{"Outlook: with a display name", "From: \"Ann\" <a@example.org>\nDisposition-Notification-To: \"Ann\" <a@example.org>\n", true},
		{"Eudora: Return-Receipt-To", "From: a@example.org\nReturn-Receipt-To: a@example.org\n", true},
		{"RFC 5322 §2.2.3: folded", "Disposition-Notification-To:\n <a@example.org>\nSubject: x\n", true},
		{"field names are case-insensitive", "disposition-notification-to: a@example.org\n", true},
		{"an empty field asks nothing", "Disposition-Notification-To: \nSubject: x\n", false},
		{"no request", "From: a@example.org\nSubject: Disposition-Notification-To: a@example.org\n", false},
		{"a look-alike field", "X-Disposition-Notification-To: a@example.org\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			setHeaderFields(&m, []byte(tc.header), []byte("body\n"))
			if m.AsksReceipt != tc.want {
				t.Errorf("AsksReceipt = %v, want %v", m.AsksReceipt, tc.want)
			}
		})
	}
}

// TestAsksReceiptReaders: the readers set it (the mbox reader collects the
// header fields itself).
func TestAsksReceiptReaders(t *testing.T) {
	dir := t.TempDir()
	mbox := "From a@example.org Mon Jan  4 10:00:00 2010\nFrom: a@example.org\nDisposition-Notification-To: a@example.org\nMessage-ID: <r1@example.org>\nStatus: RO\n\nPlease confirm.\n\n" +
		"From a@example.org Mon Jan  4 11:00:00 2010\nFrom: a@example.org\nMessage-ID: <r2@example.org>\n\nNo request.\n"
	if err := os.WriteFile(filepath.Join(dir, "Inbox"), []byte(mbox), 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(map[string]bool)
	err := Walk(context.Background(), filepath.Join(dir, "Inbox"), Options{}, Handler{Message: func(m *Message) error {
		got[m.MessageID] = m.AsksReceipt
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !got["r1@example.org"] || got["r2@example.org"] || len(got) != 2 {
		t.Errorf("AsksReceipt by Message-ID: %v", got)
	}
}
