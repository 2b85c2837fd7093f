package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
)

// ceilingWindow is how many APPENDs the ceiling client keeps in flight,
// as the uploader does.
const ceilingWindow = 64

// ceilingUpload is the ceiling: the least a client must do to upload msgs
// into mailbox, written independently of the uploader. It dials addr, logs
// in, creates and SELECTs mailbox, then sends one APPEND per message with
// its flags and date, the message as a non-synchronizing literal ({N+},
// LITERAL+), ceilingWindow in flight, and reads the tagged replies on
// another goroutine. Messages are in memory; no dedup, no source reading.
// It returns when every APPEND was answered, failing on the first NO.
func ceilingUpload(addr, user, password, mailbox string, msgs []Message) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 64<<10)
	bw := bufio.NewWriterSize(conn, 64<<10)
	// untilTagged sends a command and reads up to its tagged reply.
	untilTagged := func(tag, cmd string) (string, error) {
		fmt.Fprintf(bw, "%s %s\r\n", tag, cmd)
		if err := bw.Flush(); err != nil {
			return "", err
		}
		var all strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return "", err
			}
			all.WriteString(line)
			if strings.HasPrefix(line, tag+" ") {
				if !strings.HasPrefix(line, tag+" OK") {
					return "", fmt.Errorf("%s: %s", strings.Fields(cmd)[0], strings.TrimSpace(line))
				}
				return all.String(), nil
			}
		}
	}
	if _, err := br.ReadString('\n'); err != nil { // greeting
		return err
	}
	out, err := untilTagged("L", "LOGIN "+quote(user)+" "+quote(password))
	if err != nil {
		return err
	}
	if !strings.Contains(out, "LITERAL+") {
		return fmt.Errorf("the server does not offer LITERAL+ after login: %q", out)
	}
	if _, err := untilTagged("C", "CREATE "+quote(mailbox)); err != nil {
		return err
	}
	if _, err := untilTagged("S", "SELECT "+quote(mailbox)); err != nil {
		return err
	}

	slots := make(chan struct{}, ceilingWindow)
	done := make(chan error, 1)
	go func() { // the reader: tagged replies, in any order
		answered := 0
		for answered < len(msgs) {
			line, err := br.ReadSlice('\n')
			if err != nil {
				done <- err
				return
			}
			if line[0] == '*' || line[0] == '+' {
				continue // EXISTS, RECENT: no literals in what Dovecot sends here
			}
			if _, rest, _ := bytes.Cut(line, []byte(" ")); !bytes.HasPrefix(rest, []byte("OK")) {
				done <- fmt.Errorf("APPEND: %s", bytes.TrimSpace(line))
				return
			}
			answered++
			<-slots
		}
		done <- nil
	}()
	box := quote(mailbox)
	for i := range msgs {
		m := &msgs[i]
		select {
		case slots <- struct{}{}:
		case err := <-done:
			return fmt.Errorf("after %d APPENDs: %w", i, err)
		}
		fmt.Fprintf(bw, "A%d APPEND %s (%s) %q {%d+}\r\n", i, box, strings.Join(m.Flags, " "),
			m.Date.Format("02-Jan-2006 15:04:05 -0700"), len(m.Data))
		bw.Write(m.Data)
		bw.WriteString("\r\n")
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	if err := <-done; err != nil {
		return err
	}
	_, err = untilTagged("Z", "LOGOUT")
	return err
}

// dedupFetchItems are what migrate's dedup pass fetches of every message
// in a folder (uploader.Client.Messages).
const dedupFetchItems = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])"

// minimalFetch is the floor of the dedup pass: it logs in, EXAMINEs
// mailbox and times one UID FETCH 1:* of items, reading (and dropping) the
// responses. It returns how long the FETCH took and how many messages it
// returned.
func minimalFetch(addr, user, password, mailbox, items string) (time.Duration, int, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 256<<10)
	command := func(tag, cmd string) (int, error) {
		if _, err := fmt.Fprintf(conn, "%s %s\r\n", tag, cmd); err != nil {
			return 0, err
		}
		n := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return n, err
			}
			if bytes.HasPrefix(line, []byte("* ")) && bytes.Contains(line, []byte(" FETCH (")) {
				n++
			}
			if i := bytes.LastIndexByte(line, '{'); i >= 0 && bytes.HasSuffix(line, []byte("}\r\n")) {
				size, err := strconv.Atoi(string(line[i+1 : len(line)-3]))
				if err == nil {
					if _, err := br.Discard(size); err != nil {
						return n, err
					}
				}
				continue // the rest of the response follows the literal
			}
			if bytes.HasPrefix(line, []byte(tag+" ")) {
				if !bytes.HasPrefix(line, []byte(tag+" OK")) {
					return n, fmt.Errorf("%s: %s", strings.Fields(cmd)[0], bytes.TrimSpace(line))
				}
				return n, nil
			}
		}
	}
	if _, err := br.ReadString('\n'); err != nil {
		return 0, 0, err
	}
	if _, err := command("L", "LOGIN "+quote(user)+" "+quote(password)); err != nil {
		return 0, 0, err
	}
	if _, err := command("E", "EXAMINE "+quote(mailbox)); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	n, err := command("F", "UID FETCH 1:* "+items)
	return time.Since(start), n, err
}

// quote makes an IMAP quoted string (RFC 9051 §4.3: only \\ and \" are
// escaped); the bench's user names, passwords and folders are ASCII.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestCeilingUpload checks that the ceiling client uploads what it is
// given, into a real Dovecot: every message, byte for byte, with its flags
// and date. A ceiling that dropped work would make every ratio wrong. It
// also checks that the minimal dedup FETCH sees every message.
func TestCeilingUpload(t *testing.T) {
	s := dovecottest.Start(t, dovecottest.Options{Storage: "mdbox"})
	c := Generate(11, 150)
	if err := ceilingUpload(s.Addr(), s.Users[0].Name, s.Users[0].Password, "Ceiling", c.Messages); err != nil {
		t.Fatal(err)
	}
	if _, n, err := minimalFetch(s.Addr(), s.Users[0].Name, s.Users[0].Password, "Ceiling", dedupFetchItems); err != nil || n != len(c.Messages) {
		t.Errorf("the dedup FETCH of the minimal client: %d messages, %v; want %d", n, err, len(c.Messages))
	}
	cl, err := imapclient.DialInsecure(s.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(s.Users[0].Name, s.Users[0].Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("Ceiling", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	all := imap.SeqSet{}
	all.AddRange(1, 0)
	msgs, err := cl.Fetch(all, &imap.FetchOptions{
		Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(c.Messages) {
		t.Fatalf("the folder holds %d messages, the client sent %d", len(msgs), len(c.Messages))
	}
	for i, m := range msgs {
		want := &c.Messages[i]
		var body []byte
		for _, b := range m.BodySection {
			body = b.Bytes
		}
		if !bytes.Equal(body, want.Data) {
			t.Errorf("message %d: %d bytes on the server, %d sent, or different", i+1, len(body), len(want.Data))
		}
		var flags []string
		for _, f := range m.Flags {
			if f != `\Recent` {
				flags = append(flags, string(f))
			}
		}
		if slices.Sort(flags); !slices.Equal(flags, want.Flags) {
			t.Errorf("message %d: flags %q, want %q", i+1, flags, want.Flags)
		}
		if !m.InternalDate.Equal(want.Date) {
			t.Errorf("message %d: INTERNALDATE %v, want %v", i+1, m.InternalDate, want.Date)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{`Bench`: `"Bench"`, `a"b`: `"a\"b"`, `a\b`: `"a\\b"`, `Old mail`: `"Old mail"`} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}
