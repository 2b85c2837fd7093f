//go:build unix

package main

// The kill -9 test: the built binary migrating into a real Dovecot is
// killed with SIGKILL at random points (before the upload, mid-upload,
// near its end; sometimes twice, sometimes also stopped with SIGTERM), and
// run again to completion. Then, as a separate IMAP client sees the
// account, every source message is there exactly once, in its folder, with
// its flags and delivery date; the messages that were there before are
// untouched (UIDs, flags, dates, bytes); nothing else appeared; and the
// source tree is unchanged (bytes and mtimes). A killed run leaves its
// account lock file behind, locked by nobody (flock: the kernel releases
// it), and may leave a torn last ledger line; the rerun copes with both.
//
// Each of the killRuns iterations uses its own account on one Dovecot and
// its own random numbers, drawn from the test's seed (logged; a failure
// says how to replay it):
//
//	ARCHIVE2IMAP_KILL_SEED=12345 go test -run 'TestBinaryKilled/runs/07' -v ./cmd/archive2imap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/archive2imap/archive2imap/importers"
	"github.com/archive2imap/archive2imap/internal/dovecottest"
	"github.com/archive2imap/archive2imap/uploader"
)

const (
	killSeedEnv = "ARCHIVE2IMAP_KILL_SEED"
	killRuns    = 20
)

// killFolders are the source folders of the kill test's archive: where
// they are in the tree, what they are called on the server, and how many
// messages they hold.
var killFolders = []struct {
	file    string // path in the tree; a Maildir when it ends in "/"
	target  string
	n       int
	maildir bool
}{
	{"Inbox", "INBOX", 90, false},
	{"Sent", "Sent", 50, false},
	{"Projects", "Projects", 25, false},
	{"Projects.sbd/Clients", "Projects/Clients", 35, false},
	{"Lists", "Lists", 60, true},
}

// killMsg is a message of the kill test's archive, as it must be on the
// server.
type killMsg struct {
	token  string // unique, in the body
	target string
	id     string    // Message-ID, "" for none
	flags  []string  // sorted
	date   time.Time // the delivery date the source gives (From_ line, Maildir file name)
	data   []byte    // the bytes the importers give for upload
	sum    string    // sha256 of data
}

var killTokenRe = regexp.MustCompile(`kill-token-\d+`)

// writeKillArchive writes the kill test's archive into dir: mbox files in
// a Thunderbird tree (flags in Status and X-Status, delivery dates in the
// From_ lines), and a Maildir folder (flags and dates in the file names, a
// few messages in new/); a fifth of the messages have no Message-ID, most
// are a few KB, some tens and a few about 100 KB. It returns the messages
// as they must be on the server, their bytes read back through the
// importers, after checking that the importers read the flags and dates
// that were written.
func writeKillArchive(t testing.TB, dir string, r *rand.Rand) []killMsg {
	t.Helper()
	var msgs []killMsg
	for _, f := range killFolders {
		p := filepath.Join(dir, filepath.FromSlash(f.file))
		if f.maildir {
			for _, sub := range []string{"cur", "new", "tmp"} {
				if err := os.MkdirAll(filepath.Join(p, sub), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		} else if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var mbox strings.Builder
		for i := 0; i < f.n; i++ {
			m := killMsg{token: fmt.Sprintf("kill-token-%d", len(msgs)), target: f.target}
			if r.IntN(5) > 0 {
				m.id = fmt.Sprintf("%s.%d@kill.example.org", strings.ReplaceAll(f.target, "/", "-"), i)
			}
			m.date = time.Date(2000+r.IntN(20), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC)
			var letters []byte // mbox: R A F T; Maildir: S R F D
			for k, fl := range []string{`\Seen`, `\Answered`, `\Flagged`, `\Draft`} {
				if r.IntN(10) < []int{6, 3, 2, 1}[k] {
					m.flags = append(m.flags, fl)
					letters = append(letters, "RAFT"[k])
				}
			}
			inNew := f.maildir && r.IntN(10) == 0
			if inNew {
				m.flags = nil // not yet seen by a client: no flags
			}
			sort.Strings(m.flags)
			lines := 5 + r.IntN(40)
			switch k := r.IntN(100); {
			case k >= 98:
				lines = 1400 + r.IntN(300)
			case k >= 90:
				lines = 150 + r.IntN(450)
			}
			var msg strings.Builder
			fmt.Fprintf(&msg, "From: Sender %d <sender%d@example.com>\n", i%7, i%7)
			fmt.Fprintf(&msg, "To: helpdesk@example.org\n")
			fmt.Fprintf(&msg, "Subject: %s message %d\n", f.target, i)
			fmt.Fprintf(&msg, "Date: %s\n", m.date.Format(time.RFC1123Z))
			if m.id != "" {
				fmt.Fprintf(&msg, "Message-ID: <%s>\n", m.id)
			}
			if !f.maildir {
				var status, xstatus []byte
				for _, c := range letters {
					if c == 'R' {
						status = append(status, 'R')
					} else {
						xstatus = append(xstatus, c)
					}
				}
				fmt.Fprintf(&msg, "Status: %sO\nX-Status: %s\n", status, xstatus)
			}
			fmt.Fprintf(&msg, "\nThis is %s, message %d of %s.\n", m.token, i, f.target)
			for l := 0; l < lines; l++ {
				fmt.Fprintf(&msg, "Line %d of %s: the quick brown fox jumps over the lazy dog.\n", l, m.token)
			}
			if f.maildir {
				sub, info := "cur", ":2,"
				for _, c := range letters {
					info += string("SRFD"[strings.IndexByte("RAFT", c)])
				}
				b := []byte(info[3:])
				sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
				info = ":2," + string(b)
				if inNew {
					sub, info = "new", ""
				}
				name := fmt.Sprintf("%d.M%dP%d.killtest%s", m.date.Unix(), i, 1000+i, info)
				writeFile(t, filepath.Join(p, sub, name), msg.String())
			} else {
				fmt.Fprintf(&mbox, "From sender%d@example.com %s\n%s\n", i%7, m.date.Format("Mon Jan _2 15:04:05 2006"), msg.String())
			}
			msgs = append(msgs, m)
		}
		if !f.maildir {
			writeFile(t, p, mbox.String())
		}
	}
	// The bytes to upload, as the importers give them; and the flags and
	// dates they read are those written (else the test checks nothing).
	opts := importers.Options{MboxLocation: time.UTC}
	byToken := make(map[string]*killMsg)
	for i := range msgs {
		byToken[msgs[i].token] = &msgs[i]
	}
	for _, s := range walkSource(t, dir, opts) {
		msg := s.read(t, opts)
		m := byToken[string(killTokenRe.Find(msg.Data))]
		if m == nil || m.data != nil {
			t.Fatalf("%s message %d: not one of the written messages, or read twice", s.Loc.Path, s.Loc.Index)
		}
		m.data, m.sum = msg.Data, sha(msg.Data)
		if s.Folder != m.target || !slices.Equal(s.Flags, m.flags) || !s.Date.Equal(m.date) || s.Deleted {
			t.Fatalf("the importers read %s as folder %q, flags %v, date %v, deleted %v; written: %q, %v, %v",
				m.token, s.Folder, s.Flags, s.Date, s.Deleted, m.target, m.flags, m.date)
		}
	}
	for _, m := range msgs {
		if m.data == nil {
			t.Fatalf("the importers did not read %s", m.token)
		}
	}
	return msgs
}

// killStats are what the iterations did, to check that the test covered
// what it claims to.
type killStats struct {
	mu          sync.Mutex
	iterations  int // iterations that ran to the end
	kills       int // SIGKILLs sent
	early       int // killed before the first message was on the server
	midUpload   int // killed with some but not all messages on the server
	finished    int // runs that finished before the kill came
	lockLeft    int // kills after which the lock file was there (and unlocked)
	tornNatural int // kills that left the ledger's last line torn
	tornMade    int // ledgers the test tore
	terms       int // runs stopped with SIGTERM (exit 130)
}

func (s *killStats) String() string {
	return fmt.Sprintf("%d SIGKILLs: %d before the upload, %d mid-upload; %d runs finished first; %d lock files left; %d torn ledgers (%d made by the test); %d SIGTERMs",
		s.kills, s.early, s.midUpload, s.finished, s.lockLeft, s.tornNatural+s.tornMade, s.tornMade, s.terms)
}

func (s *killStats) add(f func(s *killStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func TestBinaryKilled(t *testing.T) {
	t.Parallel()
	skipShort(t)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(killSeedEnv); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s: %v", killSeedEnv, err)
		}
	}
	t.Logf("seed %d (replay: %s=%d)", seed, killSeedEnv, seed)
	var users []dovecottest.User
	for i := 0; i < killRuns; i++ {
		users = append(users, dovecottest.User{Name: fmt.Sprintf("kill%02d", i), Password: fmt.Sprintf("Kill%02d-%s", i, randomHex(8))})
	}
	srv := dovecottest.Start(t, dovecottest.Options{Users: users})
	src := t.TempDir()
	msgs := writeKillArchive(t, src, rand.New(rand.NewPCG(seed, 0)))
	srcState := treeState(t, src)
	var stats killStats
	t.Run("runs", func(t *testing.T) {
		for i := 0; i < killRuns; i++ {
			t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
				t.Parallel()
				t.Cleanup(func() {
					if t.Failed() {
						t.Logf("replay: %s=%d go test -run 'TestBinaryKilled/runs/%02d' -v ./cmd/archive2imap", killSeedEnv, seed, i)
					}
				})
				// Where the first kill lands (the stage) is fixed per
				// iteration, so that every stage is covered whatever
				// the random numbers; when within it, and whether a
				// second kill follows, is random.
				k := killIteration{t: t, srv: srv, user: users[i], src: src, msgs: msgs,
					r: rand.New(rand.NewPCG(seed, uint64(i+1))), stats: &stats,
					first: []killStage{killAtStart, killUploading, killUploading, killUploading, killUploading,
						killScanning, killUploading, killUploading, killUploading, killUploading}[i%10],
					tear: i%2 == 0, sigterm: i%5 == 4}
				k.run()
				checkTreeUnchanged(t, srcState, treeState(t, src))
				stats.add(func(s *killStats) { s.iterations++ })
			})
		}
	})
	t.Logf("%v", &stats)
	if t.Failed() || stats.iterations < killRuns {
		return // failed, or some iterations only (-run)
	}
	// The kills landed where the test means them to, and the runs that
	// followed them met what kills leave behind.
	if stats.early == 0 || stats.midUpload < killRuns/4 || stats.lockLeft < killRuns/2 || stats.tornMade == 0 || stats.terms == 0 {
		t.Errorf("the kills did not cover what they should (some before the upload, %d or more mid-upload, %d or more leaving a lock file, a torn ledger, a SIGTERM): %v",
			killRuns/4, killRuns/2, &stats)
	}
}

// killIteration is one account's migration, killed and run again.
type killIteration struct {
	t       *testing.T
	srv     *dovecottest.Server
	user    dovecottest.User
	src     string
	msgs    []killMsg
	r       *rand.Rand
	stats   *killStats
	first   killStage // where the first kill lands
	tear    bool      // tear the ledger's last line after a kill that left it whole
	sigterm bool      // also stop a run with SIGTERM

	env    []string // XDG_STATE_HOME, shared by the runs
	args   []string
	state  string
	poll   *imapclient.Client
	seeded map[string]bool // sums of the source messages pre-seeded
}

func (k *killIteration) run() {
	t := k.t
	work := t.TempDir()
	k.state = filepath.Join(work, "state")
	k.env = []string{"XDG_STATE_HOME=" + k.state}
	pw := writeFile(t, filepath.Join(work, "pw"), k.user.Password+"\n")
	k.args = append([]string{"migrate", k.src, "--mbox-timezone", "UTC", "--connections", fmt.Sprint(1 + k.r.IntN(3))},
		plainConn(k.srv.Host, k.srv.Port, k.user.Name, pw)...)
	c := imapLogin(t, k.srv.Addr(), k.user.Name, k.user.Password)
	before := k.preseed(c)
	k.poll = imapLogin(t, k.srv.Addr(), k.user.Name, k.user.Password)

	if k.sigterm {
		k.termRun()
	}
	stages := []killStage{k.first}
	if k.r.IntN(3) == 0 {
		stages = append(stages, []killStage{killAtStart, killScanning, killUploading, killUploading}[k.r.IntN(4)])
	}
	for _, stage := range stages {
		if k.killRun(stage) {
			break // finished before the kill: nothing left to kill
		}
	}
	rp := filepath.Join(work, "final.json")
	o := runBin(t, binRun{env: k.env}, append(k.args, "--report", rp)...)
	checkNoTrace(t, o)
	if o.code != exitOK {
		t.Fatalf("the run after the kills: want exit 0:\n%s", o)
	}
	if rep := readReport(t, rp); rep.Status != "complete" || rep.Totals.Failed != 0 {
		t.Errorf("the run after the kills: status %q (%s), %d failed", rep.Status, rep.StatusText, rep.Totals.Failed)
	}
	k.checkAccount(before, snapshot(t, c))
	k.checkLedger()
}

// preseed puts on the account copies of a few source messages, in their
// target folders, with other flags and dates (they must stay as they
// are), and two unrelated messages; it returns the account's snapshot.
func (k *killIteration) preseed(c *imapclient.Client) map[string]*serverBox {
	t := k.t
	k.seeded = make(map[string]bool)
	date := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	noID := false
	for _, i := range k.r.Perm(len(k.msgs)) {
		m := k.msgs[i]
		if len(k.seeded) == 4 {
			break
		}
		if (m.target != "INBOX" && m.target != "Sent") || (m.id == "" && noID) || (m.id != "" && len(k.seeded) == 3 && !noID) {
			continue
		}
		noID = noID || m.id == ""
		appendMsg(t, c, m.target, m.data, []string{`\Flagged`, "$Preseeded"}, date)
		k.seeded[m.sum] = true
	}
	for i, box := range []string{"INBOX", "Sent"} {
		data := fmt.Sprintf("From: someone@example.com\r\nTo: %s\r\nSubject: already on the server\r\nMessage-ID: <unrelated-%d@example.com>\r\n\r\nThis message was on the server before the migration.\r\n", k.user.Name, i)
		appendMsg(t, c, box, []byte(data), []string{`\Seen`}, date)
	}
	return snapshot(t, c)
}

// settled counts the messages on the account once the count stops
// changing: Dovecot may still save the last APPENDs of a killed run.
func (k *killIteration) settled() int {
	n := k.onServer()
	for {
		time.Sleep(50 * time.Millisecond)
		m := k.onServer()
		if m == n {
			return n
		}
		n = m
	}
}

// onServer counts the messages on the account (LIST-STATUS).
func (k *killIteration) onServer() int {
	list, err := k.poll.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil {
		k.t.Fatalf("test client: LIST-STATUS: %v", err)
	}
	n := 0
	for _, l := range list {
		if l.Status != nil && l.Status.NumMessages != nil {
			n += int(*l.Status.NumMessages)
		}
	}
	return n
}

// started is the binary running in the background.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{}
}

// lockedBuffer is a bytes.Buffer that can be read while a process writes
// to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start starts the binary as runBin runs it, without waiting for it.
func (k *killIteration) start(args ...string) *started {
	s := &started{cmd: exec.Command(binPath, args...), done: make(chan struct{})}
	s.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + k.t.TempDir()}, k.env...)
	s.cmd.Dir = k.t.TempDir()
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	if err := s.cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	k.t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
	return s
}

// ended reports whether the process has ended.
func (s *started) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *started) outcome() outcome {
	return outcome{args: s.cmd.Args[1:], code: s.cmd.ProcessState.ExitCode(), stdout: s.stdout.String(), stderr: s.stderr.String()}
}

// waitFor waits until the run has put want more messages on the account
// than base, or has ended; it reports whether it ended.
func (k *killIteration) waitFor(s *started, base, want int) (ended bool) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-s.done:
			return true
		default:
		}
		if k.onServer()-base >= want {
			return false
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("%d messages not uploaded in 2 minutes:\n%s", want, s.stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// killStage says where a kill lands.
type killStage int

const (
	killAtStart   killStage = iota // within 20 ms of the start: before or while logging in
	killScanning                   // up to 50 ms after the first log line: reading the archive, planning
	killUploading                  // once a random number of messages is on the server
)

// killRun starts a run and kills it with SIGKILL at stage. It reports
// whether the run finished before the kill came.
func (k *killIteration) killRun(stage killStage) (finished bool) {
	t := k.t
	base := k.settled()
	left := len(k.msgs) + 2 - base
	s := k.start(k.args...)
	want := 0
	switch {
	case stage == killAtStart:
		time.Sleep(time.Duration(k.r.IntN(20)) * time.Millisecond)
	case stage == killScanning || left < 2:
		for s.stderr.String() == "" && !s.ended() {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(k.r.IntN(50)) * time.Millisecond)
	default:
		want = 1 + k.r.IntN(left-1)
		k.waitFor(s, base, want)
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	o := s.outcome()
	if strings.Contains(o.stderr, "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in the binary:\n%s", o)
	}
	ws := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() {
		// It ended before the kill: then it must have finished.
		if o.code != exitOK {
			t.Fatalf("a run ended by itself before it was killed, without success:\n%s", o)
		}
		k.stats.add(func(s *killStats) { s.finished++ })
		return true
	}
	if ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the run ended by signal %v, not the SIGKILL sent", ws.Signal())
	}
	got := k.settled() - base
	t.Logf("killed after %d of %d messages (aimed at %d)", got, left, want)
	lock := k.lockReleased()
	torn := k.tearLedger(k.tear)
	k.stats.add(func(s *killStats) {
		s.kills++
		switch {
		case got == 0:
			s.early++
		case got < left:
			s.midUpload++
		}
		if lock {
			s.lockLeft++
		}
		if torn == "natural" {
			s.tornNatural++
		} else if torn == "made" {
			s.tornMade++
		}
	})
	return false
}

// termRun starts a run and stops it with SIGTERM once some messages are
// on the server: exit 130, the last line saying it was interrupted.
func (k *killIteration) termRun() {
	t := k.t
	base := k.settled()
	left := len(k.msgs) + 2 - base
	if left < 20 {
		return // too little left to stop it mid-upload
	}
	s := k.start(k.args...)
	// Its first log line comes after its signal handler is in place.
	for s.stderr.String() == "" && !s.ended() {
		time.Sleep(time.Millisecond)
	}
	if k.waitFor(s, base, 1+k.r.IntN(left/2)) {
		t.Fatalf("the run ended before SIGTERM:\n%s", s.outcome())
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM:\n%s", s.stderr.String())
	}
	o := s.outcome()
	checkNoTrace(t, o)
	if l := lines(o.stderr); o.code != exitInterrupted || len(l) == 0 || l[len(l)-1] != "archive2imap: interrupted" {
		t.Errorf("after SIGTERM: want exit %d and the last line \"archive2imap: interrupted\":\n%s", exitInterrupted, o)
	}
	k.stats.add(func(s *killStats) { s.terms++ })
}

// accountFile is the path of the account's file in the state directory
// (kind "locks" or "ledgers").
func (k *killIteration) accountFile(kind, ext string) string {
	name := accountName(&uploader.Config{User: k.user.Name, Host: k.srv.Host, Port: k.srv.Port})
	return filepath.Join(k.state, "archive2imap", kind, name+ext)
}

// lockReleased checks that the account's lock file, when the killed run
// left one, is locked by nobody: flock(2) locks die with their process.
// It reports whether there was one.
func (k *killIteration) lockReleased() bool {
	p := k.accountFile("locks", ".lock")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		k.t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		k.t.Errorf("the killed run's lock %s is still held: %v", p, err)
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}

// tearLedger looks at the ledger a killed run left: when its last line is
// torn it says "natural"; else, when tear is set, it appends half of its
// last entry (or of an entry like those, when the killed run had synced
// none yet), as a kill mid-write leaves it, and says "made".
func (k *killIteration) tearLedger(tear bool) string {
	p := k.accountFile("ledgers", ".ledger.jsonl")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		k.t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return "natural"
	}
	if !tear {
		return ""
	}
	var last []byte
	if len(b) > 0 {
		last = b[bytes.LastIndexByte(b[:len(b)-1], '\n')+1:]
	} else {
		last, _ = json.Marshal(uploader.LedgerEntry{Time: time.Now(), Folder: "INBOX", Path: filepath.Join(k.src, "Inbox"),
			Offset: 1234, Key: "mid:torn@kill.example.org", Target: "INBOX", UIDValidity: 1, UID: 99, Size: 2000})
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		k.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(last[:len(last)/2]); err != nil {
		k.t.Fatal(err)
	}
	return "made"
}

// checkLedger checks that after the final run every ledger line is an
// entry, but for torn ones the kills left, which are whole lines of their
// own (the next run did not glue its entries onto them).
func (k *killIteration) checkLedger() {
	b, err := os.ReadFile(k.accountFile("ledgers", ".ledger.jsonl"))
	if err != nil {
		k.t.Fatalf("the ledger after the final run: %v", err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		k.t.Errorf("the ledger does not end with a whole line")
	}
	torn := 0
	for i, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		var e uploader.LedgerEntry
		if err := json.Unmarshal(l, &e); err != nil {
			torn++
			if bytes.Count(l, []byte(`"time"`)) > 1 {
				k.t.Errorf("ledger line %d glues two entries: %s", i+1, l)
			}
		}
	}
	if torn > 2 {
		k.t.Errorf("%d ledger lines are not entries; two kills leave at most two", torn)
	}
}

// checkAccount checks the account after the final run against before:
// every source message exactly once (by its bytes), in its folder; those
// that were pre-seeded as they were, the others with the source's flags
// and delivery date; everything that was there untouched; nothing else
// there; every target folder subscribed.
func (k *killIteration) checkAccount(before, after map[string]*serverBox) {
	t := k.t
	where := make(map[string][]string) // sum -> mailboxes
	for name, b := range after {
		for _, m := range b.Msgs {
			where[m.Sum] = append(where[m.Sum], name)
		}
	}
	old := make(map[string]bool) // "mailbox/UID" of what was there
	for name, b := range before {
		a := after[name]
		if a == nil {
			t.Errorf("mailbox %q disappeared", name)
			continue
		}
		if a.UIDValidity != b.UIDValidity {
			t.Errorf("mailbox %q: UIDVALIDITY changed from %d to %d", name, b.UIDValidity, a.UIDValidity)
		}
		had := make(map[uint32]bool)
		for _, m := range b.Msgs {
			had[m.UID] = true
			old[fmt.Sprintf("%s/%d", name, m.UID)] = true
		}
		var aOld []serverMsg
		for _, m := range a.Msgs {
			if had[m.UID] {
				aOld = append(aOld, m)
			}
		}
		if d := diffMsgs(name, b.Msgs, aOld); len(d) > 0 {
			t.Errorf("messages that were on the server changed:\n  %s", strings.Join(d, "\n  "))
		}
	}
	bySum := make(map[string]*killMsg)
	for i := range k.msgs {
		m := &k.msgs[i]
		bySum[m.sum] = m
		if got := where[m.sum]; len(got) != 1 || got[0] != m.target {
			t.Errorf("%s (Message-ID %q) is in %q, want once in %q", m.token, m.id, got, m.target)
		}
	}
	for name, a := range after {
		for _, s := range a.Msgs {
			if old[fmt.Sprintf("%s/%d", name, s.UID)] {
				continue
			}
			m := bySum[s.Sum]
			switch {
			case m == nil:
				t.Errorf("%q UID %d (sha256 %.12s) is not a source message: %.200q", name, s.UID, s.Sum, s.Data)
			case k.seeded[s.Sum]:
				t.Errorf("%q UID %d: %s was pre-seeded but uploaded again", name, s.UID, m.token)
			case !slices.Equal(s.Flags, m.flags):
				t.Errorf("%q UID %d: %s has flags %v, want the source's %v", name, s.UID, m.token, s.Flags, m.flags)
			case !s.Date.Equal(m.date):
				t.Errorf("%q UID %d: %s has INTERNALDATE %v, want the source's %v", name, s.UID, m.token, s.Date, m.date)
			}
		}
	}
	for _, f := range killFolders {
		switch a := after[f.target]; {
		case a == nil:
			t.Errorf("mailbox %q does not exist", f.target)
		case before[f.target] == nil && !a.Subscribed:
			t.Errorf("mailbox %q was created but is not subscribed", f.target)
		}
	}
}
