package uploader

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/archive2imap/archive2imap/report"
)

// Provider profiles: what archive2imap knows of the two big hosted
// providers, and what it changes in a migration to them. Everything here
// is an assumption about a service that can change without notice; the
// sources are given with each value.
//
// Gmail:
//   - Daily upload budget: "Upload via IMAP: 500 MB per day" (Google
//     Workspace Admin Help, "Gmail bandwidth limits",
//     https://support.google.com/a/answer/1071518); over it, Gmail answers
//     "[OVERQUOTA] Account exceeded command or bandwidth limits" (NO or
//     BYE) and blocks IMAP uploads for up to a day. The budget is taken as
//     500,000,000 bytes, the lower reading of "500 MB". It is a bandwidth
//     limit, so every APPEND counts whole, also one that only adds a label.
//   - Message size: Gmail advertises APPENDLIMIT=35651584 (34 MiB) after
//     login; when a server in Gmail's place advertises none, 25 MiB, the
//     size Gmail documents for a message with attachments
//     (https://support.google.com/mail/answer/6584).
//   - Labels: Gmail stores a message once and shows it in one IMAP folder
//     per label; a message with the same Message-ID uploaded into a
//     second folder is assumed to get the second folder's label rather
//     than to be stored twice (as imapsync's Gmail documentation and
//     Gmail's own duplicate suppression describe). The plan counts such
//     uploads as labels; they are still uploaded (the label is what the
//     user's folder was), and still count against the bandwidth budget.
//   - Folders: "[Gmail]" (or "[Google Mail]") is a \Noselect container;
//     \All is "[Gmail]/All Mail" (where Archive goes), \Sent "[Gmail]/Sent
//     Mail", \Junk "[Gmail]/Spam", \Trash "[Gmail]/Trash".
//   - Recognised by host (imap.gmail.com, imap.googlemail.com) or by the
//     X-GM-EXT-1 capability (https://developers.google.com/gmail/imap/imap-extensions).
//
// Microsoft 365 (Exchange Online):
//   - Basic authentication is off: LOGIN and AUTHENTICATE PLAIN are
//     refused ("NO LOGIN failed."), only XOAUTH2 works
//     (https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth).
//   - Message size: 35 MB (36,700,160 bytes), Exchange Online's default
//     maximum message size (https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits);
//     an APPENDLIMIT the server advertises wins.
//   - Throttling: "BAD Request is throttled. Suggested Backoff Time: N
//     milliseconds"; the governor honours the suggested time (backoffHint).
//   - A top-level folder named "Files" is reserved by the service (a
//     hidden system folder): a source folder of that name goes to "Files
//     (archive)" instead.
//   - Recognised by host (outlook.office365.com, outlook.office.com,
//     *.outlook.com) or by the capabilities only Exchange Online
//     advertises after login (CLIENTACCESSRULES,
//     CLIENTNETWORKPRESENCELOCATION, BACKENDAUTHENTICATE). Not by the
//     greeting: Exchange Server on premises greets the same way.
//
// Both: read messages that asked for a read receipt are uploaded with the
// $MDNSent keyword (RFC 3503), which Exchange lists in PERMANENTFLAGS and
// Gmail accepts as a keyword, so the new mail client does not offer to
// send a receipt for a years-old message.

// Provider names, for --provider and the report.
const (
	ProviderAuto    = "auto"
	ProviderGeneric = "generic"
	ProviderGmail   = "gmail"
	ProviderM365    = "m365"
)

// Provider constants (see above for their sources).
const (
	// GmailBytesPerDay is Gmail's IMAP upload limit, "500 MB" a day.
	GmailBytesPerDay = 500_000_000
	// GmailSizeLimit is the message size limit assumed for Gmail when
	// the server advertises no APPENDLIMIT.
	GmailSizeLimit = 25 << 20
	// M365SizeLimit is Exchange Online's default maximum message size.
	M365SizeLimit = 35 << 20
)

// ParseProvider checks a --provider value.
func ParseProvider(s string) (string, error) {
	switch p := strings.ToLower(strings.TrimSpace(s)); p {
	case "", ProviderAuto:
		return ProviderAuto, nil
	case ProviderGeneric, ProviderGmail, ProviderM365:
		return p, nil
	case "microsoft365", "office365", "o365", "exchange-online":
		return ProviderM365, nil
	case "google", "googlemail", "workspace":
		return ProviderGmail, nil
	}
	return "", fmt.Errorf("unknown provider %q (want auto, gmail, m365 or generic)", s)
}

// ProviderOfHost recognises a provider by the IMAP host name; "" when the
// name says nothing.
func ProviderOfHost(host string) string {
	h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(host), "."))
	switch {
	case h == "imap.gmail.com", h == "imap.googlemail.com":
		return ProviderGmail
	case h == "outlook.office365.com", h == "outlook.office.com", strings.HasSuffix(h, ".outlook.com"):
		return ProviderM365
	}
	return ""
}

// microsoftCaps are capabilities that Exchange Online advertises after
// login and other servers do not.
var microsoftCaps = []imap.Cap{"CLIENTACCESSRULES", "CLIENTNETWORKPRESENCELOCATION", "BACKENDAUTHENTICATE"}

// capGmail is Gmail's extension capability.
const capGmail imap.Cap = "X-GM-EXT-1"

// Profile is what a migration does differently for a provider.
type Profile struct {
	// Name is ProviderGmail, ProviderM365 or ProviderGeneric; Title names
	// the provider for people.
	Name, Title string
	// DetectedBy says how the provider was recognised.
	DetectedBy string
	// BytesPerDay is the provider's daily upload budget; 0: none known.
	BytesPerDay int64
	// BudgetLabel names that budget in sentences ("Gmail's ~500 MB/day").
	BudgetLabel string
	// SizeLimit is the largest message when the server advertises no
	// APPENDLIMIT; 0: none known.
	SizeLimit int64
	// Labels is set when the account stores a message once whatever the
	// folders it is in (Gmail's labels).
	Labels bool
	// Reserved maps top-level folder names the provider reserves (lower
	// case) to the name a source folder of that name gets instead.
	Reserved map[string]string
	// NoSelectReserved is set when a \Noselect folder of the server is
	// a container that can never hold mail (Gmail's [Gmail]): a source
	// folder mapped onto it goes to "<name> (archive)" instead of asking
	// the server to create it.
	NoSelectReserved bool
	// MDNSent is the default of --mdn-sent.
	MDNSent bool
	// OAuthOnly is set when the provider refuses passwords.
	OAuthOnly bool
}

// ProfileOf returns the profile of a provider name (ProviderGmail,
// ProviderM365; anything else is generic).
func ProfileOf(name string) Profile {
	switch name {
	case ProviderGmail:
		return Profile{
			Name: ProviderGmail, Title: "Gmail",
			BytesPerDay: GmailBytesPerDay, BudgetLabel: "Gmail's ~500 MB/day",
			SizeLimit: GmailSizeLimit, Labels: true, NoSelectReserved: true, MDNSent: true,
		}
	case ProviderM365:
		return Profile{
			Name: ProviderM365, Title: "Microsoft 365",
			SizeLimit: M365SizeLimit, Reserved: map[string]string{"files": "Files (archive)"},
			MDNSent: true, OAuthOnly: true,
		}
	}
	return Profile{Name: ProviderGeneric, Title: "a generic IMAP server"}
}

// DetectProvider picks the profile: the one forced (--provider), else the
// one the host name or the capabilities after login say, else generic.
func DetectProvider(forced, host string, info ServerInfo) Profile {
	switch forced {
	case ProviderGmail, ProviderM365, ProviderGeneric:
		p := ProfileOf(forced)
		p.DetectedBy = "--provider " + forced
		return p
	}
	if name := ProviderOfHost(host); name != "" {
		p := ProfileOf(name)
		p.DetectedBy = "the host name " + host
		return p
	}
	if info.Caps.Has(capGmail) {
		p := ProfileOf(ProviderGmail)
		p.DetectedBy = "the capability " + string(capGmail)
		return p
	}
	for _, c := range microsoftCaps {
		if info.Caps.Has(c) {
			p := ProfileOf(ProviderM365)
			p.DetectedBy = "the capability " + string(c)
			return p
		}
	}
	return ProfileOf(ProviderGeneric)
}

// generic reports whether p changes nothing (nil is generic).
func (p *Profile) generic() bool { return p == nil || p.Name == ProviderGeneric || p.Name == "" }

// sizeLimit is the largest message the server takes, and the plan's reason
// for a message over it: the server's APPENDLIMIT when it advertises one,
// else the provider's documented limit; 0 when neither is known.
func (p *Profile) sizeLimit(info ServerInfo) (int64, string) {
	if info.AppendLimit > 0 {
		return info.AppendLimit, fmt.Sprintf("too large for server (APPENDLIMIT %d)", info.AppendLimit)
	}
	if p.generic() || p.SizeLimit <= 0 {
		return 0, ""
	}
	return p.SizeLimit, fmt.Sprintf("too large for %s (its limit is %s; the server advertises no APPENDLIMIT)", p.Title, report.HumanBytes(p.SizeLimit))
}

// notes say what the profile changes in this plan, for the report.
func (p *Profile) notes(info ServerInfo, mdnSent bool) []string {
	if p.generic() {
		if p != nil && p.DetectedBy != "" {
			return []string{"generic IMAP server (" + p.DetectedBy + "): no provider-specific behaviour"}
		}
		return nil
	}
	ns := []string{fmt.Sprintf("%s (recognised by %s)", p.Title, p.DetectedBy)}
	if lim, _ := p.sizeLimit(info); lim > 0 {
		src := "the server's APPENDLIMIT"
		if info.AppendLimit <= 0 {
			src = p.Title + "'s documented limit: the server advertises no APPENDLIMIT"
		}
		ns = append(ns, fmt.Sprintf("largest message: %s (%s); larger ones are planned as failed", report.HumanBytes(lim), src))
	}
	if p.BytesPerDay > 0 {
		ns = append(ns, fmt.Sprintf("daily upload budget: %s (%s limit on uploads over IMAP; --max-bytes-per-day changes it); a run stops cleanly when it is reached", report.HumanBytes(p.BytesPerDay), p.Title+"'s"))
	}
	if p.Labels {
		ns = append(ns, "a message in several source folders is uploaded into each, and Gmail keeps one copy with a label per folder: such uploads are counted as labels, not copies (they still count against the budget)")
	}
	if p.NoSelectReserved {
		ns = append(ns, "a folder the server lists as \\Noselect, such as [Gmail], holds no mail and is never a target: a source folder mapped onto it goes to \"<name> (archive)\"")
	}
	for name, instead := range p.Reserved {
		ns = append(ns, fmt.Sprintf("the folder name %q is reserved by %s: a source folder of that name goes to %q", strings.ToUpper(name[:1])+name[1:], p.Title, instead))
	}
	if p.OAuthOnly {
		ns = append(ns, "sign-in with OAuth2 only (--oauth2-token-file): the provider refuses passwords")
	}
	if p.Name == ProviderM365 {
		ns = append(ns, "throttling answers are honoured, waiting the server's Suggested Backoff Time")
	}
	if mdnSent {
		ns = append(ns, "read messages that asked for a read receipt are uploaded with $MDNSent (RFC 3503), so that no receipt goes out for an old message (--mdn-sent=false turns this off)")
	}
	return ns
}

// reservedTarget renames a target whose top-level name the provider
// reserves, returning the new target and the words for the reason, or
// target and "".
func (p *Profile) reservedTarget(target, prefix string, delim rune) (string, string) {
	if p.generic() || len(p.Reserved) == 0 || target == "INBOX" {
		return target, ""
	}
	rest := strings.TrimPrefix(target, prefix)
	first, sub, hasSub := strings.Cut(rest, string(delim))
	instead, ok := p.Reserved[strings.ToLower(first)]
	if !ok {
		return target, ""
	}
	out := prefix + instead
	if hasSub {
		out += string(delim) + sub
	}
	return out, fmt.Sprintf(" (%s reserves the folder name %q: renamed)", p.Title, first)
}

// ExplainLogin makes a refused password login to Microsoft 365 say what to
// do ("Microsoft 365 accepts only OAuth2 here: use --oauth2-token-file"),
// and a login Gmail refuses because the account is over its bandwidth
// limit a *BudgetError; other errors are returned as they are. forced is
// the --provider value.
func ExplainLogin(err error, cfg *Config, forced string) error {
	if err == nil {
		return nil
	}
	if bandwidthExceeded(err.Error()) {
		return &BudgetError{ServerText: serverWords(err.Error())}
	}
	if !errors.Is(err, ErrAuth) || cfg.OAuth2Token != "" {
		return err
	}
	name := forced
	if name == "" || name == ProviderAuto {
		name = ProviderOfHost(cfg.Host)
	}
	if name != ProviderM365 {
		return err
	}
	switch strings.ToUpper(cfg.Mechanism) {
	case "", MechLogin, MechPlain:
		return fmt.Errorf("Microsoft 365 accepts only OAuth2 here: use --oauth2-token-file (%w)", err)
	}
	return err
}

// bandwidthExceeded reports whether a server's text says the account is
// over the provider's bandwidth limit (Gmail: "Account exceeded command or
// bandwidth limits."), which is a budget, not a full account.
func bandwidthExceeded(text string) bool {
	t := strings.ToLower(text)
	return strings.Contains(t, "bandwidth limit") || strings.Contains(t, "exceeded command or bandwidth")
}

// serverWords keeps what follows "the server said: " in an error text.
func serverWords(s string) string {
	if _, after, ok := strings.Cut(s, "the server said: "); ok {
		return after
	}
	return s
}

// markLabels marks the uploads that Gmail stores as a label on a message
// it has, not as another copy: a message with the same Message-ID as one
// uploaded into (or already in) another target folder. The first in
// source order is the copy. A message without a Message-ID is always a
// copy: nothing tells Gmail it is the same. Into the \All folder (All
// Mail) an upload of a message already stored adds nothing visible.
func markLabels(rep *report.Report, boxes []Mailbox) {
	all := ""
	for _, b := range boxes {
		if b.HasAttr(`\All`) {
			all = b.Name
			break
		}
	}
	first := make(map[string]string) // key -> target of the first copy
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if (m.Plan != report.DecisionUpload && m.Plan != report.DecisionExists) || m.MessageID == "" {
			continue
		}
		t, seen := first[m.Key]
		if !seen {
			first[m.Key] = m.Target
			continue
		}
		if m.Plan != report.DecisionUpload || t == m.Target {
			continue
		}
		m.AddsLabel = true
		switch {
		case m.Target == all:
			m.Reason = fmt.Sprintf("the message of %q again: Gmail keeps one copy, and %s shows every message once", t, all)
		default:
			m.Reason = fmt.Sprintf("adds the label %q to the message in %q: Gmail keeps one copy, with a label per folder", m.Target, t)
		}
	}
}

// flagMDNSent is the keyword of RFC 3503: a receipt was sent (or the user
// chose not to), so mail clients do not offer to send one.
const flagMDNSent = "$MDNSent"

// markMDNSent adds $MDNSent to the flags of the messages to upload that
// ask for a read receipt and were read: their receipt was sent, or
// declined, years ago, and the new mail client must not ask again.
func markMDNSent(rep *report.Report) {
	for i := range rep.Messages {
		m := &rep.Messages[i]
		if m.Plan != report.DecisionUpload || !m.AsksReceipt || !hasFlags(m.Flags, []string{`\Seen`}) || hasFlags(m.Flags, []string{flagMDNSent}) {
			continue
		}
		m.Flags = append(m.Flags, flagMDNSent)
		sort.Strings(m.Flags)
	}
}

// recordProfile puts the profile into the report: its name and what it
// changes.
func recordProfile(rep *report.Report, p *Profile, info ServerInfo, mdnSent bool) {
	if p == nil {
		return
	}
	if rep.Server == nil {
		rep.Server = &report.Server{}
	}
	rep.Server.Provider = p.Name
	rep.Server.ProviderNotes = p.notes(info, mdnSent)
}
