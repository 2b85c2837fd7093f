package dovecottest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
)

// BenchmarkStartClose measures one start (until the greeting) and Close.
func BenchmarkStartClose(b *testing.B) {
	if !Installed() {
		b.Skip("dovecot not installed")
	}
	for _, tlsOn := range []bool{false, true} {
		b.Run(fmt.Sprintf("tls=%v", tlsOn), func(b *testing.B) {
			for b.Loop() {
				s, err := StartProcess(Options{TLS: tlsOn})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppend APPENDs b.N 4 KiB messages, one after the other, into
// one folder of each storage, to compare them as a folder grows (run with
// -benchtime=5000x and more).
func BenchmarkAppend(b *testing.B) {
	if !Installed() {
		b.Skip("dovecot not installed")
	}
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 64)
	for _, storage := range []string{"maildir", "mdbox"} {
		b.Run(storage, func(b *testing.B) {
			s, err := StartProcess(Options{Storage: storage})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			c, err := imapclient.DialInsecure(s.Addr(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if err := c.Login(s.Users[0].Name, s.Users[0].Password).Wait(); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				msg := append([]byte(fmt.Sprintf("Message-ID: <%d@bench>\r\nSubject: %d\r\n\r\n", i, i)), body...)
				cmd := c.Append("INBOX", int64(len(msg)), nil)
				cmd.Write(msg)
				cmd.Close()
				if _, err := cmd.Wait(); err != nil {
					b.Fatalf("append %d: %v", i, err)
				}
				b.SetBytes(int64(len(msg)))
			}
		})
	}
}
