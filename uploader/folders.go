package uploader

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/report"
)

// FolderOptions override how source folders map to server folders.
type FolderOptions struct {
	// Map maps source folder names ("Archives/2019", "/"-separated) to
	// target names (also "/"-separated; converted to the server's
	// delimiter). Subfolders of a mapped folder follow it.
	Map map[string]string
	// Prefix puts every folder not in Map under this folder
	// ("Imported" -> "Imported/INBOX", "Imported/Sent").
	Prefix string
	// Profile is the provider's profile: the folder names it reserves
	// and whether its \Noselect folders can never be targets. Nil:
	// generic.
	Profile *Profile
}

// Mapping is where one source folder goes, and why.
type Mapping struct {
	Source string
	Target string
	Reason string // report.Map* plus detail
	Create bool   // the target does not exist yet (or only as a parent, \Noselect)
	// Fallback is the name to use when the server refuses to create
	// Target: the source segments with the characters some servers do not
	// allow in names (".", "%", "*", control characters) replaced by "_".
	// Dovecot's default Maildir layout refuses ".", so a Thunderbird folder
	// "Invoices 2019.01" becomes "Invoices 2019_01" there. "" when the
	// same as Target.
	Fallback string
}

// unsafeNameChars are replaced in fallback folder names.
func fallbackSegment(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '%' || r == '*' || r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}

// specialNames are the folder names mail clients give the special-use
// folders (RFC 6154), lower-cased: Thunderbird, Outlook, Apple Mail, mutt,
// pine, and their common translations.
var specialNames = map[string]string{
	"sent": `\Sent`, "sent items": `\Sent`, "sent messages": `\Sent`, "sent mail": `\Sent`,
	"sent-mail": `\Sent`, "sentmail": `\Sent`, "gesendet": `\Sent`, "gesendete objekte": `\Sent`,
	"gesendete elemente": `\Sent`, "envoyés": `\Sent`, "éléments envoyés": `\Sent`, "enviados": `\Sent`,
	"posta inviata": `\Sent`, "verzonden items": `\Sent`,
	"drafts": `\Drafts`, "draft": `\Drafts`, "postponed": `\Drafts`, "entwürfe": `\Drafts`,
	"brouillons": `\Drafts`, "borradores": `\Drafts`, "bozze": `\Drafts`, "concepten": `\Drafts`,
	"trash": `\Trash`, "deleted items": `\Trash`, "deleted messages": `\Trash`, "deleted": `\Trash`,
	"papierkorb": `\Trash`, "gelöschte objekte": `\Trash`, "gelöschte elemente": `\Trash`,
	"corbeille": `\Trash`, "papelera": `\Trash`, "cestino": `\Trash`, "prullenbak": `\Trash`,
	"junk": `\Junk`, "spam": `\Junk`, "junk e-mail": `\Junk`, "junk email": `\Junk`, "junk mail": `\Junk`,
	"bulk mail": `\Junk`, "spamverdacht": `\Junk`, "courrier indésirable": `\Junk`,
	"archive": `\Archive`, "archives": `\Archive`, "archiv": `\Archive`,
}

// SpecialUseOf returns the special-use attribute a top-level source folder
// name stands for, or "".
func SpecialUseOf(name string) string {
	return specialNames[strings.ToLower(strings.TrimSpace(name))]
}

// ResolveFolders maps source folder names to server folders:
//
//  1. a --folder-map line for the folder (or for a parent: subfolders
//     follow) wins;
//  2. with --target-prefix, every other folder goes under the prefix by name;
//  3. an inbox (and a Maildir root) goes to INBOX;
//  4. a top-level folder named like a special-use folder (Sent, Sent Items,
//     Deleted Items, Spam, ...) goes to the server's folder with that
//     attribute, whatever it is called ("[Gmail]/Sent Mail"), when there is
//     one; its subfolders go below it;
//  5. any other folder keeps its name and nesting, with the server's
//     delimiter and personal namespace prefix.
//
// Names are UTF-8; imapclient encodes them in modified UTF-7 on the wire.
// A delimiter character inside a source name segment is replaced by "_",
// so that "a.b" does not become two levels on a server whose delimiter is ".".
func ResolveFolders(sources []string, boxes []Mailbox, info ServerInfo, opts FolderOptions) []Mapping {
	delim := info.Delim
	if delim == 0 {
		delim = '/'
	}
	existing := make(map[string]*Mailbox, len(boxes))
	special := make(map[string]string)
	for i := range boxes {
		b := &boxes[i]
		existing[b.Name] = b
		for _, a := range b.Attrs {
			for _, su := range []string{`\Sent`, `\Drafts`, `\Trash`, `\Junk`, `\Archive`} {
				if strings.EqualFold(a, su) {
					if _, ok := special[su]; !ok {
						special[su] = b.Name
					}
				}
			}
		}
	}
	// Without an \Archive folder, Gmail's \All is where archived mail lives.
	if _, ok := special[`\Archive`]; !ok {
		for i := range boxes {
			if boxes[i].HasAttr(`\All`) {
				special[`\Archive`] = boxes[i].Name
				break
			}
		}
	}
	safe := false // while true, join makes fallback names
	join := func(base string, segs []string) string {
		parts := make([]string, 0, len(segs)+1)
		if base != "" {
			parts = append(parts, base)
		}
		for _, s := range segs {
			s = strings.ReplaceAll(s, string(delim), "_")
			if safe {
				s = fallbackSegment(s)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, string(delim))
	}
	fromSlash := func(t string) string {
		segs := strings.Split(strings.Trim(t, "/"), "/")
		if len(segs) == 1 && strings.EqualFold(segs[0], "INBOX") {
			return "INBOX"
		}
		return join("", segs)
	}
	withNS := func(name string) string {
		if name == "INBOX" || info.Prefix == "" || strings.HasPrefix(name, info.Prefix) {
			return name
		}
		return info.Prefix + name
	}
	resolve := func(src string) Mapping {
		segs := strings.Split(src, "/")
		m := Mapping{Source: src}
		// 1. The folder map: the longest mapped parent.
		for i := len(segs); i > 0 && m.Target == ""; i-- {
			if t, ok := opts.Map[strings.Join(segs[:i], "/")]; ok {
				m.Target = join(withNS(fromSlash(t)), segs[i:])
				m.Reason = report.MapFolderMap
			}
		}
		switch {
		case m.Target != "":
		case opts.Prefix != "":
			m.Target = join(withNS(fromSlash(opts.Prefix)), segs)
			m.Reason = report.MapName + " (under --target-prefix)"
		case strings.EqualFold(src, importers.InboxName):
			m.Target, m.Reason = "INBOX", report.MapInbox
		case strings.EqualFold(segs[0], importers.InboxName):
			// Subfolders of the inbox (Maildir++ .INBOX.x, Thunderbird
			// Inbox.sbd) stay below INBOX.
			m.Target, m.Reason = join("INBOX", segs[1:]), report.MapInbox+" (subfolder)"
		default:
			if su := SpecialUseOf(segs[0]); su != "" && special[su] != "" {
				m.Target = join(special[su], segs[1:])
				m.Reason = report.MapSpecialUse + " " + su
			} else {
				m.Target, m.Reason = withNS(join("", segs)), report.MapName
			}
		}
		return m
	}
	usable := func(name string) (found, selectable bool) {
		b, ok := existing[name]
		if !ok || b.HasAttr(`\NonExistent`) {
			return false, false
		}
		return true, !b.HasAttr(`\Noselect`)
	}
	out := make([]Mapping, 0, len(sources))
	for _, src := range sources {
		m := resolve(src)
		safe = true
		if fb := resolve(src).Target; fb != m.Target {
			m.Fallback = fb
		}
		safe = false
		if t, why := opts.Profile.reservedTarget(m.Target, info.Prefix, delim); why != "" {
			m.Target, m.Reason = t, m.Reason+why
			if m.Fallback != "" {
				m.Fallback, _ = opts.Profile.reservedTarget(m.Fallback, info.Prefix, delim)
			}
		}
		found, selectable := usable(m.Target)
		if found && !selectable && m.Target != "INBOX" && opts.Profile != nil && opts.Profile.NoSelectReserved {
			// Gmail's [Gmail] holds no mail and cannot be created as a
			// folder that does: a sibling named after it can.
			m.Reason += fmt.Sprintf(" (%s's %q is a container that holds no mail: renamed)", opts.Profile.Title, m.Target)
			m.Target += " (archive)"
			if m.Fallback != "" {
				m.Fallback += " (archive)"
			}
			found, selectable = usable(m.Target)
		}
		if !found && m.Fallback != "" {
			// An earlier run created the fallback: use it, so that dedup
			// looks where the messages went.
			if fbFound, fbSel := usable(m.Fallback); fbFound && fbSel {
				m.Target, m.Fallback = m.Fallback, ""
				m.Reason += " (renamed: the server does not allow some characters of the name)"
				found, selectable = true, true
			}
		}
		switch {
		case m.Target == "INBOX":
		case !found:
			// \NonExistent (RFC 5258 §3.4: Dovecot lists the parent of a
			// subfolder so) is missing too: created like one.
			m.Create = true
		case !selectable:
			// \Noselect: a parent that holds no messages. Dovecot (mdbox)
			// lets CREATE make it a real folder; Gmail's [Gmail] refuses,
			// and then the messages fail with the server's words.
			m.Create = true
			m.Reason += " (exists only as a parent folder: to be created)"
		}
		out = append(out, m)
	}
	return out
}

// ParseFolderMap reads a --folder-map file: one "source = target" per
// line, names "/"-separated; blank lines and lines starting with # are
// skipped. Errors name the line.
func ParseFolderMap(r io.Reader, name string) (map[string]string, error) {
	m := make(map[string]string)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		src, dst, ok := strings.Cut(line, "=")
		src, dst = strings.Trim(strings.TrimSpace(src), "/"), strings.Trim(strings.TrimSpace(dst), "/")
		if !ok || src == "" || dst == "" {
			return nil, fmt.Errorf("%s line %d: want \"source folder = target folder\", got %q", name, n, line)
		}
		if _, dup := m[src]; dup {
			return nil, fmt.Errorf("%s line %d: %q is mapped twice", name, n, src)
		}
		m[src] = dst
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}
