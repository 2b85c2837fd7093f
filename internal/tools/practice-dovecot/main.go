// Command practice-dovecot runs a real Dovecot on 127.0.0.1 with one
// account, for trying archive2imap against a real IMAP server as the
// README shows. It needs Debian's dovecot-imapd (apt-get install -y
// dovecot-imapd). Everything lives in a temporary directory that is removed
// when it stops (Ctrl-C).
//
//	go run ./internal/tools/practice-dovecot --port 10143 --user alice --password-file pw.txt
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/archive2imap/archive2imap/internal/dovecottest"
)

func main() {
	port := flag.Int("port", 10143, "IMAP port on 127.0.0.1 (plaintext and STARTTLS)")
	user := flag.String("user", "alice", "the account's login name")
	pwFile := flag.String("password-file", "pw.txt", "write the account's (random) password to this file")
	tls := flag.Bool("tls", false, "also serve implicit TLS on another port, with a certificate signed by a CA written next to the password file (ca.pem)")
	flag.Parse()

	b := make([]byte, 12)
	rand.Read(b)
	password := hex.EncodeToString(b)
	if err := os.WriteFile(*pwFile, []byte(password+"\n"), 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "practice-dovecot: %v\n", err)
		os.Exit(1)
	}
	srv, err := dovecottest.StartProcess(dovecottest.Options{
		Port:  *port,
		Users: []dovecottest.User{{Name: *user, Password: password}},
		// Named as Outlook-era servers name them, to show special-use mapping.
		SpecialUse: map[string]string{`\Sent`: "Sent Items", `\Drafts`: "Drafts", `\Trash`: "Deleted Items", `\Junk`: "Junk", `\Archive`: "Archive"},
		TLS:        *tls,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "practice-dovecot: %v\n", err)
		os.Exit(1)
	}
	defer srv.Close()
	fmt.Printf("Dovecot %s listening on %s (user %q, password in %s)\n", "2.3", srv.Addr(), *user, *pwFile)
	if *tls {
		ca := "ca.pem"
		if b, err := os.ReadFile(srv.CAFile); err == nil {
			os.WriteFile(ca, b, 0o644)
		}
		fmt.Printf("implicit TLS on 127.0.0.1:%d, certificate authority in %s (--ca-file %s)\n", srv.TLSPort, ca, ca)
	}
	fmt.Printf("Try: archive2imap migrate testdata/sample --dry-run --host 127.0.0.1 --port %d --tls none --user %s --password-file %s\n", srv.Port, *user, *pwFile)
	fmt.Println("Ctrl-C stops it and removes its mail.")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
