package uploader

import (
	"strings"
	"testing"
)

func TestResolveFolders(t *testing.T) {
	dovecot := []Mailbox{
		{Name: "INBOX", Delim: '/'},
		{Name: "Sent Items", Delim: '/', Attrs: []string{`\HasNoChildren`, `\Sent`}},
		{Name: "Drafts", Delim: '/', Attrs: []string{`\Drafts`}},
		{Name: "Deleted Items", Delim: '/', Attrs: []string{`\Trash`}},
		{Name: "Junk", Delim: '/', Attrs: []string{`\Junk`}},
		{Name: "Projects", Delim: '/'},
	}
	gmail := []Mailbox{
		{Name: "INBOX", Delim: '/'},
		{Name: "[Gmail]", Delim: '/', Attrs: []string{`\Noselect`, `\HasChildren`}},
		{Name: "[Gmail]/Sent Mail", Delim: '/', Attrs: []string{`\Sent`}},
		{Name: "[Gmail]/All Mail", Delim: '/', Attrs: []string{`\All`}},
		{Name: "[Gmail]/Spam", Delim: '/', Attrs: []string{`\Junk`}},
	}
	courier := []Mailbox{{Name: "INBOX", Delim: '.'}, {Name: "INBOX.Sent", Delim: '.', Attrs: []string{`\Sent`}}}
	tests := []struct {
		name   string
		boxes  []Mailbox
		info   ServerInfo
		opts   FolderOptions
		source string
		target string
		reason string
		create bool
	}{
		{"inbox goes to INBOX", dovecot, ServerInfo{Delim: '/'}, FolderOptions{}, "INBOX", "INBOX", "inbox", false},
		{"RFC 6154: Sent goes to the \\Sent folder whatever its name", dovecot, ServerInfo{Delim: '/'}, FolderOptions{}, "Sent", "Sent Items", `special-use \Sent`, false},
		{"Outlook's Deleted Items to \\Trash", dovecot, ServerInfo{Delim: '/'}, FolderOptions{}, "Deleted Items", "Deleted Items", `special-use \Trash`, false},
		{"Thunderbird Trash to the server's Deleted Items", dovecot, ServerInfo{Delim: '/'}, FolderOptions{}, "Trash", "Deleted Items", `special-use \Trash`, false},
		{"Spam to \\Junk", dovecot, ServerInfo{Delim: '/'}, FolderOptions{}, "Spam", "Junk", `special-use \Junk`, false},
		{"subfolders of a special-use folder follow it", dovecot, ServerInfo{Delim: '/'}, FolderOptions{}, "Sent/2019", "Sent Items/2019", `special-use \Sent`, true},
		{"a nested Sent is an ordinary folder", dovecot, ServerInfo{Delim: '/'}, FolderOptions{}, "Projects/Sent", "Projects/Sent", "name", true},
		{"no \\Archive folder: created by name", dovecot, ServerInfo{Delim: '/'}, FolderOptions{}, "Archives/2019", "Archives/2019", "name", true},
		{"existing folder kept", dovecot, ServerInfo{Delim: '/'}, FolderOptions{}, "Projects", "Projects", "name", false},
		{"Gmail: Sent goes to [Gmail]/Sent Mail", gmail, ServerInfo{Delim: '/'}, FolderOptions{}, "Sent Messages", "[Gmail]/Sent Mail", `special-use \Sent`, false},
		{"Gmail: Archive goes to \\All without an \\Archive folder", gmail, ServerInfo{Delim: '/'}, FolderOptions{}, "Archive", "[Gmail]/All Mail", `special-use \Archive`, false},
		{"Courier: namespace prefix and '.' delimiter", courier, ServerInfo{Delim: '.', Prefix: "INBOX."}, FolderOptions{}, "Work/Projects", "INBOX.Work.Projects", "name", true},
		{"a delimiter inside a name segment is replaced", courier, ServerInfo{Delim: '.', Prefix: "INBOX."}, FolderOptions{}, "v1.2 notes", "INBOX.v1_2 notes", "name", true},
		{"non-ASCII names stay UTF-8 (encoded on the wire)", dovecot, ServerInfo{Delim: '/'}, FolderOptions{}, "Projects/Café Ümlaut", "Projects/Café Ümlaut", "name", true},
		{"folder map wins over special use", dovecot, ServerInfo{Delim: '/'}, FolderOptions{Map: map[string]string{"Sent": "Old/Sent"}}, "Sent", "Old/Sent", "folder map", true},
		{"folder map applies to subfolders", dovecot, ServerInfo{Delim: '/'}, FolderOptions{Map: map[string]string{"Archives": "Archive"}}, "Archives/2019", "Archive/2019", "folder map", true},
		{"target prefix puts everything under it, INBOX too", dovecot, ServerInfo{Delim: '/'}, FolderOptions{Prefix: "Old mail"}, "INBOX", "Old mail/INBOX", "name (under --target-prefix)", true},
		{"Maildir++ subfolders of INBOX stay below INBOX", courier, ServerInfo{Delim: '.', Prefix: "INBOX."}, FolderOptions{}, "INBOX/Lists", "INBOX.Lists", "inbox (subfolder)", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ResolveFolders([]string{tc.source}, tc.boxes, tc.info, tc.opts)[0]
			if m.Target != tc.target || m.Reason != tc.reason || m.Create != tc.create {
				t.Errorf("%q -> %q (%s, create %v), want %q (%s, create %v)", tc.source, m.Target, m.Reason, m.Create, tc.target, tc.reason, tc.create)
			}
		})
	}
}

func TestResolveFoldersNoSelect(t *testing.T) {
	// RFC 3501 \Noselect: a parent that holds no messages (Dovecot mdbox
	// lists "Work" so when only "Work/Clients" exists). It is planned to be
	// created; the server decides (Dovecot accepts, Gmail's [Gmail] refuses).
	boxes := []Mailbox{{Name: "INBOX"}, {Name: "Work", Delim: '/', Attrs: []string{`\Noselect`}}}
	m := ResolveFolders([]string{"Work"}, boxes, ServerInfo{Delim: '/'}, FolderOptions{})[0]
	if !m.Create || !strings.Contains(m.Reason, "parent") {
		t.Errorf("got %+v, want Create with a reason saying it is only a parent", m)
	}
}

func TestResolveFoldersFallback(t *testing.T) {
	// Dovecot's default Maildir layout refuses "." in names
	// ("NO [CANNOT] Character not allowed in mailbox name: '.'").
	boxes := []Mailbox{{Name: "INBOX", Delim: '/'}}
	m := ResolveFolders([]string{"Invoices 2019.01/Q1"}, boxes, ServerInfo{Delim: '/'}, FolderOptions{})[0]
	if m.Target != "Invoices 2019.01/Q1" || m.Fallback != "Invoices 2019_01/Q1" || !m.Create {
		t.Errorf("got %+v, want the name kept and a fallback with '_'", m)
	}
	if m := ResolveFolders([]string{"Plain"}, boxes, ServerInfo{Delim: '/'}, FolderOptions{})[0]; m.Fallback != "" {
		t.Errorf("a name without unsafe characters got fallback %q", m.Fallback)
	}
	// A rerun after the server refused the name finds the fallback and
	// uses it, so dedup looks where the messages are.
	boxes = append(boxes, Mailbox{Name: "Invoices 2019_01", Delim: '/'}, Mailbox{Name: "Invoices 2019_01/Q1", Delim: '/'})
	m = ResolveFolders([]string{"Invoices 2019.01/Q1"}, boxes, ServerInfo{Delim: '/'}, FolderOptions{})[0]
	if m.Target != "Invoices 2019_01/Q1" || m.Create || m.Fallback != "" || !strings.Contains(m.Reason, "renamed") {
		t.Errorf("rerun: got %+v, want the existing fallback folder", m)
	}
}

func TestParseFolderMap(t *testing.T) {
	m, err := ParseFolderMap(strings.NewReader("# comment\n\nSent = Old/Sent\n Archives/2019 = Archive/2019 \n"), "map.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["Sent"] != "Old/Sent" || m["Archives/2019"] != "Archive/2019" {
		t.Errorf("got %v", m)
	}
	for _, bad := range []string{"Sent\n", "= x\n", "a = b\na = c\n"} {
		if _, err := ParseFolderMap(strings.NewReader(bad), "map.txt"); err == nil || !strings.Contains(err.Error(), "map.txt line") {
			t.Errorf("%q: err = %v, want an error naming the line", bad, err)
		}
	}
}
