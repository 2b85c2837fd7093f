// Package bench measures how fast archive2imap's migrate uploads into a real
// Dovecot, side by side with a minimal pipelined client (the ceiling) and
// mbsync, on loopback and through a proxy that adds latency. Everything
// that measures lives in the package's _test.go files and runs only with
// -bench (see README.md); this file generates the synthetic corpus the
// benchmarks upload.
//
// The corpus is synthetic but shaped like real mail: messages of mostly
// 2-20 KB (a Received chain, DKIM signatures, MIME, quoted replies), about
// 3% with base64 attachments of 100 KB-2 MB, about 2% without a Message-ID,
// spread over five years. The same seed always gives the same bytes.
// Generating it never reads or writes anything but the paths it is given.
package bench

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Message is one generated message.
type Message struct {
	// Data is the message as an IMAP client uploads it: CRLF line
	// endings. It is also what archive2imap reads back from the mbox and
	// the Maildir this package writes (the mbox holds LF and ">From "
	// quoting; reading undoes both).
	Data []byte
	// Flags are the IMAP flags (\Seen, \Answered, \Flagged), sorted; the
	// mbox carries them in Status/X-Status, the Maildir in file names.
	Flags []string
	// Date is the delivery time (INTERNALDATE): the mbox From_ line, the
	// Maildir file name and mtime. It is in UTC, with whole seconds.
	Date time.Time
	// MessageID is the Message-ID without angle brackets; "" for the
	// messages that have none.
	MessageID string
	// Sender is the envelope sender, for the From_ line.
	Sender string
}

// Corpus is a generated set of messages, in delivery order.
type Corpus struct {
	Seed     uint64
	Messages []Message
	// Bytes is the sum of len(Data): what an upload sends.
	Bytes int64
}

// Generation parameters; see the package comment.
const (
	// AttachmentRate is the share of messages with a base64 attachment.
	AttachmentRate = 0.03
	// NoMessageIDRate is the share of messages without a Message-ID.
	NoMessageIDRate = 0.02
	// FromLineRate is the share of messages with a body line starting
	// "From ", which an mbox must quote as ">From ".
	FromLineRate = 0.05
	minText      = 2 << 10
	maxText      = 20 << 10
	minAttach    = 100 << 10 // encoded size
	maxAttach    = 2 << 20
)

// corpusStart is the delivery time of the first message; the others
// follow over about five years.
var corpusStart = time.Date(2019, 1, 2, 8, 0, 0, 0, time.UTC)

const corpusSpan = 5 * 365 * 24 * time.Hour

// Generate makes n messages from seed.
func Generate(seed uint64, n int) *Corpus {
	g := &generator{rng: rand.New(rand.NewPCG(seed, 0x617263686976))}
	c := &Corpus{Seed: seed, Messages: make([]Message, 0, n)}
	step := corpusSpan / time.Duration(max(n, 1))
	t := corpusStart
	for i := 0; i < n; i++ {
		// Exponential gaps around the mean: mail comes in bursts.
		gap := time.Duration(g.rng.ExpFloat64() * float64(step))
		t = t.Add(gap).Truncate(time.Second)
		m := g.message(i, t)
		c.Bytes += int64(len(m.Data))
		c.Messages = append(c.Messages, m)
	}
	return c
}

// WriteMbox writes the corpus as one mbox file (LF line endings, a From_
// line per message, body lines starting "From " quoted as ">From ", flags
// in mutt's Status and X-Status fields, which are part of Data).
func (c *Corpus) WriteMbox(path string) error {
	return c.writeMbox(path, c.Messages)
}

func (c *Corpus) writeMbox(path string, msgs []Message) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range msgs {
		m := &msgs[i]
		// asctime, as mail delivery agents write it; From_ lines carry no
		// zone, the readers are told UTC.
		fmt.Fprintf(w, "From %s %s\n", m.Sender, m.Date.UTC().Format("Mon Jan _2 15:04:05 2006"))
		writeLF(w, m.Data, true)
		w.WriteByte('\n') // the empty line before the next From_ line
	}
	return w.Flush()
}

// Folder is a part of the corpus written as one mbox file of a tree.
type Folder struct {
	Name  string // file name, which is also the folder's name
	First int    // index of its first message in Corpus.Messages
	Count int
}

// treeFolders splits n messages the way a real mail tree is uneven: an
// inbox with the most, then Sent, a mailing list, a project folder.
func treeFolders(n int) []Folder {
	names := []string{"inbox", "Sent", "Lists", "Projects"}
	shares := []float64{0.40, 0.25, 0.20, 0.15}
	var out []Folder
	first := 0
	for i, name := range names {
		cnt := int(math.Round(float64(n) * shares[i]))
		if i == len(names)-1 || first+cnt > n {
			cnt = n - first
		}
		out = append(out, Folder{Name: name, First: first, Count: cnt})
		first += cnt
	}
	return out
}

// WriteTree writes the corpus as a mutt-style ~/Mail directory of four
// mbox files of uneven size (see treeFolders) and returns them.
func (c *Corpus) WriteTree(dir string) ([]Folder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	folders := treeFolders(len(c.Messages))
	for _, f := range folders {
		if err := c.writeMbox(filepath.Join(dir, f.Name), c.Messages[f.First:f.First+f.Count]); err != nil {
			return nil, err
		}
	}
	return folders, nil
}

// WriteMaildir writes the corpus as a Maildir at dir (cur/, new/, tmp/):
// one file per message with LF line endings, messages without flags in
// new/, the others in cur/ with their flags in the name (":2,FRS"); each
// file's name and mtime carry the delivery time.
func (c *Corpus) WriteMaildir(dir string) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	for i := range c.Messages {
		m := &c.Messages[i]
		buf.Reset()
		writeLF(&buf, m.Data, false)
		base := fmt.Sprintf("%d.M%dP%d.benchhost,S=%d", m.Date.Unix(), i, c.Seed, buf.Len())
		path := filepath.Join(dir, "new", base)
		if info := maildirInfo(m.Flags); info != "" {
			path = filepath.Join(dir, "cur", base+":2,"+info)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(path, m.Date, m.Date); err != nil {
			return err
		}
	}
	return nil
}

// maildirInfo is the Maildir info of flags ("FRS"); "" for a message
// without flags, which stays in new/.
func maildirInfo(flags []string) string {
	var b strings.Builder
	for _, f := range []struct{ flag, letter string }{{`\Flagged`, "F"}, {`\Answered`, "R"}, {`\Seen`, "S"}} {
		for _, g := range flags {
			if g == f.flag {
				b.WriteString(f.letter)
			}
		}
	}
	return b.String()
}

// byteWriter is what writeLF writes to.
type byteWriter interface {
	Write([]byte) (int, error)
	WriteByte(byte) error
}

// writeLF writes a CRLF message with LF line endings, quoting body lines
// that start with "From " (and ">From ", mboxrd style) when mbox is set.
func writeLF(w byteWriter, data []byte, mbox bool) {
	for len(data) > 0 {
		line := data
		rest := []byte(nil)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, rest = data[:i], data[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if mbox && bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
			w.WriteByte('>')
		}
		w.Write(line)
		w.WriteByte('\n')
		data = rest
	}
}

// generator holds the state of one Generate.
type generator struct {
	rng  *rand.Rand
	b    bytes.Buffer
	line []byte
}

type person struct{ name, addr string }

var people = []person{
	{"Alice Martin", "alice.martin@example.com"},
	{"Bob Nguyen", "bob@nguyen.example.org"},
	{"Carol Weiß", "carol.weiss@example.de"},
	{"Dave O'Brien", "dave@obrien.example.ie"},
	{"Eve Dubois", "eve.dubois@example.fr"},
	{"Frank Müller", "frank@mueller.example.de"},
	{"Grace Hopper", "grace@navy.example.mil"},
	{"Heidi Larsen", "heidi.larsen@example.no"},
	{"Ivan Petrov", "ivan@petrov.example.ru"},
	{"Judy Chen", "judy.chen@example.com.tw"},
	{"Mallory Smith", "mallory@example.net"},
	{"Oscar Rossi", "oscar.rossi@example.it"},
}

var owner = person{"Pat Archivist", "pat@example.com"}

var lists = []struct{ id, addr string }{
	{"dev.lists.example.org", "dev@lists.example.org"},
	{"users.lists.example.org", "users@lists.example.org"},
	{"announce.example.net", "announce@example.net"},
}

var words = strings.Fields(`the of and to a in is it you that he was for on are with as I his they be at one
have this from or had by hot word but what some we can out other were all there when up use your how said
an each she which do their time if will way about many then them write would like so these her long make
thing see him two has look more day could go come did number sound no most people my over know water than
call first who may down side been now find any new work part take get place made live where after back little
only round man year came show every good me give our under name very through just form sentence great think
say help low line differ turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must big high such follow act
why ask men change went light kind off need house picture try us again animal point mother world near build
self earth father server backup mailbox invoice meeting schedule release patch review deadline budget report
migration archive folder attachment customer ticket quarterly draft proposal contract résumé café naïve`)

var subjects = []string{
	"Meeting notes", "Quarterly report", "Re: backup schedule", "Invoice", "Weekend plans",
	"Patch review", "Server migration", "Release candidate", "Holiday photos", "Contract draft",
	"Budget 2020", "Ticket update", "Lunch?", "Mailbox full", "Travel itinerary",
}

var agents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:68.0) Gecko/20100101 Thunderbird/68.4.1",
	"Mutt/1.10.1 (2018-07-13)",
	"Microsoft Outlook 16.0",
	"Apple Mail (2.3445.104.11)",
	"Roundcube Webmail/1.4.2",
}

var zones = []*time.Location{
	time.FixedZone("CET", 3600), time.FixedZone("EST", -5*3600), time.FixedZone("", 0),
	time.FixedZone("JST", 9*3600), time.FixedZone("PDT", -7*3600),
}

func (g *generator) pick(n int) int { return g.rng.IntN(n) }

func (g *generator) hexString(n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return hex.EncodeToString(b)[:n]
}

func (g *generator) b64String(n int) string {
	b := make([]byte, n*3/4+3)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return base64.StdEncoding.EncodeToString(b)[:n]
}

// sentence is a line of text of about width characters.
func (g *generator) sentence(width int) []byte {
	g.line = g.line[:0]
	for len(g.line) < width {
		if len(g.line) > 0 {
			g.line = append(g.line, ' ')
		}
		w := words[g.pick(len(words))]
		if len(g.line) == 0 && w == "from" {
			w = "and" // only FromLineRate of the messages have "From " lines
		}
		g.line = append(g.line, w...)
	}
	if len(g.line) > 0 && g.line[0] >= 'a' && g.line[0] <= 'z' {
		g.line[0] -= 'a' - 'A'
	}
	return append(g.line, '.')
}

func (g *generator) hdr(name, value string) {
	g.b.WriteString(name)
	g.b.WriteString(": ")
	g.b.WriteString(value)
	g.b.WriteString("\r\n")
}

// message generates message i, delivered at t.
func (g *generator) message(i int, t time.Time) Message {
	g.b.Reset()
	r := g.rng
	from := people[g.pick(len(people))]
	to := owner
	sent := r.Float64() < 0.2 // a message the owner sent
	if sent {
		from, to = owner, people[g.pick(len(people))]
	}
	var list *struct{ id, addr string }
	if !sent && r.Float64() < 0.25 {
		list = &lists[g.pick(len(lists))]
	}
	zone := zones[g.pick(len(zones))]
	written := t.Add(-time.Duration(5+g.pick(600)) * time.Second).In(zone)
	m := Message{Date: t, Sender: from.addr}
	if r.Float64() >= NoMessageIDRate {
		host := strings.SplitN(from.addr, "@", 2)[1]
		m.MessageID = fmt.Sprintf("%d.%s.%d@%s", written.Unix(), g.hexString(12), i, host)
	}

	// Received chain, newest first.
	hops := 2 + g.pick(3)
	hopTime := t.In(zones[0])
	relays := []string{"mx1.example.com", "mx2.example.com", "filter.example.com", "smtp.example.org", "outbound.example.net"}
	g.hdr("Return-Path", "<"+from.addr+">")
	g.hdr("Delivered-To", to.addr)
	for h := 0; h < hops; h++ {
		by := relays[(h+i)%len(relays)]
		src := relays[(h+i+1)%len(relays)]
		fmt.Fprintf(&g.b, "Received: from %s (%s [192.0.2.%d])\r\n\tby %s (Postfix) with ESMTPS id %s\r\n\tfor <%s>; %s\r\n",
			src, src, 1+g.pick(250), by, strings.ToUpper(g.hexString(10)), to.addr, hopTime.Format(time.RFC1123Z))
		hopTime = hopTime.Add(-time.Duration(1+g.pick(20)) * time.Second)
	}
	if r.Float64() < 0.6 {
		fmt.Fprintf(&g.b, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=mail;\r\n\tt=%d; bh=%s;\r\n\th=From:To:Subject:Date:Message-ID:MIME-Version:Content-Type;\r\n",
			strings.SplitN(from.addr, "@", 2)[1], written.Unix(), g.b64String(44))
		sig := g.b64String(344)
		g.b.WriteString("\tb=")
		for len(sig) > 0 {
			n := min(len(sig), 70)
			g.b.WriteString(sig[:n])
			sig = sig[n:]
			if len(sig) > 0 {
				g.b.WriteString("\r\n\t  ")
			}
		}
		g.b.WriteString("\r\n")
	}
	if m.MessageID != "" {
		g.hdr("Message-ID", "<"+m.MessageID+">")
	}
	g.hdr("Date", written.Format(time.RFC1123Z))
	g.hdr("From", encodeName(from.name)+" <"+from.addr+">")
	if list != nil {
		g.hdr("To", list.addr)
	} else {
		g.hdr("To", encodeName(to.name)+" <"+to.addr+">")
	}
	if r.Float64() < 0.3 {
		cc := people[g.pick(len(people))]
		g.hdr("Cc", encodeName(cc.name)+" <"+cc.addr+">")
	}
	subject := subjects[g.pick(len(subjects))]
	reply := r.Float64() < 0.45
	if reply && !strings.HasPrefix(subject, "Re: ") {
		subject = "Re: " + subject
	}
	if r.Float64() < 0.1 {
		subject += " – größere Änderung" // non-ASCII: an encoded word
		subject = "=?UTF-8?Q?" + qEncode(subject) + "?="
	}
	g.hdr("Subject", fmt.Sprintf("%s (#%d)", subject, i))
	if reply {
		parent := fmt.Sprintf("<%d.%s@%s>", written.Unix()-int64(3600+g.pick(86400)), g.hexString(8), "example.org")
		g.hdr("In-Reply-To", parent)
		g.hdr("References", "<"+g.hexString(16)+"@example.net>\r\n "+parent)
	}
	if list != nil {
		g.hdr("List-Id", "<"+list.id+">")
		g.hdr("List-Unsubscribe", "<mailto:"+strings.Replace(list.addr, "@", "-unsubscribe@", 1)+">")
		g.hdr("Precedence", "list")
	}
	g.hdr("User-Agent", agents[g.pick(len(agents))])
	g.hdr("MIME-Version", "1.0")

	// Flags: most old mail was read; some answered, a few flagged. mutt
	// keeps them in the mbox header; they are part of the message.
	if sent || r.Float64() < 0.85 {
		m.Flags = append(m.Flags, `\Seen`)
	}
	if !sent && len(m.Flags) > 0 && r.Float64() < 0.12 {
		m.Flags = append([]string{`\Answered`}, m.Flags...)
	}
	if r.Float64() < 0.03 {
		m.Flags = append([]string{`\Flagged`}, m.Flags...)
	}
	m.Flags = sortFlags(m.Flags)

	textSize := minText + int(float64(maxText-minText)*math.Pow(r.Float64(), 2)) // skewed small
	attach := r.Float64() < AttachmentRate
	fromLine := r.Float64() < FromLineRate
	switch {
	case attach:
		boundary := "----=_Part_" + g.hexString(16)
		g.hdr("Content-Type", "multipart/mixed;\r\n boundary=\""+boundary+"\"")
		g.writeStatus(m.Flags)
		g.b.WriteString("\r\nThis is a multi-part message in MIME format.\r\n")
		fmt.Fprintf(&g.b, "--%s\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", boundary)
		g.text(textSize/3, reply, fromLine, from, written)
		// Encoded size log-uniform over [minAttach, maxAttach].
		enc := int(float64(minAttach) * math.Pow(float64(maxAttach)/minAttach, r.Float64()))
		name := []string{"report.pdf", "scan.jpg", "slides.pptx", "data.xlsx", "photo.png"}[g.pick(5)]
		fmt.Fprintf(&g.b, "--%s\r\nContent-Type: application/octet-stream; name=\"%s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"%s\"\r\n\r\n", boundary, name, name)
		g.attachment(enc)
		fmt.Fprintf(&g.b, "--%s--\r\n", boundary)
	case r.Float64() < 0.25:
		boundary := "b1_" + g.hexString(24)
		g.hdr("Content-Type", "multipart/alternative; boundary=\""+boundary+"\"")
		g.writeStatus(m.Flags)
		fmt.Fprintf(&g.b, "\r\n--%s\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", boundary)
		g.text(textSize/2, reply, fromLine, from, written)
		fmt.Fprintf(&g.b, "--%s\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<html><body>\r\n", boundary)
		for n := 0; n < textSize/2; {
			s := g.sentence(60 + g.pick(20))
			g.b.WriteString("<p>")
			g.b.Write(s)
			g.b.WriteString("</p>\r\n")
			n += len(s) + 9
		}
		fmt.Fprintf(&g.b, "</body></html>\r\n--%s--\r\n", boundary)
	default:
		g.hdr("Content-Type", "text/plain; charset=UTF-8; format=flowed")
		g.hdr("Content-Transfer-Encoding", "8bit")
		g.writeStatus(m.Flags)
		g.b.WriteString("\r\n")
		g.text(textSize, reply, fromLine, from, written)
	}
	m.Data = bytes.Clone(g.b.Bytes())
	return m
}

// writeStatus writes mutt's Status (R: read, O: old) and X-Status (A:
// answered, F: flagged) fields.
func (g *generator) writeStatus(flags []string) {
	status, x := "O", ""
	for _, f := range flags {
		switch f {
		case `\Seen`:
			status = "RO"
		case `\Answered`:
			x += "A"
		case `\Flagged`:
			x += "F"
		}
	}
	g.hdr("Status", status)
	if x != "" {
		g.hdr("X-Status", x)
	}
}

// text writes about size bytes of text: paragraphs, maybe a line starting
// "From ", maybe a quoted earlier message, a signature.
func (g *generator) text(size int, reply, fromLine bool, from person, written time.Time) {
	start := g.b.Len()
	own := size
	if reply {
		own = size / 3
	}
	g.paragraphs(own, "", fromLine)
	if reply {
		fmt.Fprintf(&g.b, "\r\nOn %s, %s wrote:\r\n", written.Add(-26*time.Hour).Format("Mon, 2 Jan 2006 at 15:04"), from.name)
		rest := size - (g.b.Len() - start)
		g.paragraphs(rest*2/3, "> ", false)
		g.b.WriteString(">\r\n> Earlier:\r\n")
		g.paragraphs(rest/3, ">> ", false)
	}
	g.b.WriteString("\r\n-- \r\n")
	g.b.WriteString(from.name)
	g.b.WriteString("\r\n")
}

func (g *generator) paragraphs(size int, prefix string, fromLine bool) {
	n := 0
	for n < size {
		lines := 2 + g.pick(6)
		for l := 0; l < lines && n < size; l++ {
			s := g.sentence(55 + g.pick(15))
			if fromLine && l == 1 {
				// A line an mbox writer must quote.
				s = append([]byte("From "), s...)
				fromLine = false
			}
			g.b.WriteString(prefix)
			g.b.Write(s)
			g.b.WriteString("\r\n")
			n += len(prefix) + len(s) + 2
		}
		g.b.WriteString(strings.TrimRight(prefix, " "))
		g.b.WriteString("\r\n")
		n += 2
	}
}

// attachment writes enc bytes (about) of base64 of random bytes, in lines
// of 76 characters, like a PDF or JPEG.
func (g *generator) attachment(enc int) {
	raw := make([]byte, 57)
	out := make([]byte, 76)
	for n := 0; n < enc; n += 78 {
		for i := 0; i < len(raw); i += 8 {
			v := g.rng.Uint64()
			for j := 0; j < 8 && i+j < len(raw); j++ {
				raw[i+j] = byte(v >> (8 * j))
			}
		}
		base64.StdEncoding.Encode(out, raw)
		g.b.Write(out)
		g.b.WriteString("\r\n")
	}
}

// encodeName returns a display name, as an RFC 2047 encoded word when it
// is not ASCII, quoted when it has specials.
func encodeName(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return "=?UTF-8?Q?" + qEncode(name) + "?="
		}
	}
	if strings.ContainsAny(name, `'.,"`) {
		return `"` + name + `"`
	}
	return name
}

// qEncode is RFC 2047's Q encoding.
func qEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= 0x80 || c == '=' || c == '?' || c == '_' || c < ' ':
			fmt.Fprintf(&b, "=%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// sortFlags sorts flags the way importers returns them.
func sortFlags(flags []string) []string {
	for i := 1; i < len(flags); i++ {
		for j := i; j > 0 && flags[j] < flags[j-1]; j-- {
			flags[j], flags[j-1] = flags[j-1], flags[j]
		}
	}
	return flags
}
