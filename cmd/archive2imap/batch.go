package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/archive2imap/archive2imap/plan"
	"github.com/archive2imap/archive2imap/report"
	"github.com/archive2imap/archive2imap/uploader"
)

// Limits of --parallel.
const (
	defaultParallel = 2
	maxParallel     = 8
)

// maxBatchFile caps the size of a batch file, which is read whole: a
// list of mailboxes, not mail.
const maxBatchFile = 16 << 20

// The columns of a batch file.
const (
	colSource       = "source"
	colHost         = "host"
	colPort         = "port"
	colTLS          = "tls"
	colUser         = "user"
	colPasswordFile = "password_file"
	colTokenFile    = "oauth2_token_file"
	colFolderMap    = "folder_map"
	colTargetPrefix = "target_prefix"
)

// batchColumns are the columns a batch file may have, in the order the
// help lists them.
var batchColumns = []string{colSource, colHost, colPort, colTLS, colUser, colPasswordFile, colTokenFile, colFolderMap, colTargetPrefix}

type batchOptions struct {
	sources     sourceFlags
	dedupe      string
	dryRun      bool
	parallel    int
	connections int
	retries     int
	reportDir   string
	quiet       bool
	caFile      string
	timeout     time.Duration
	provider    providerFlags
	// choice is what the provider flags ask for, checked before any row
	// runs.
	choice providerChoice
}

func newBatchCmd(s *streams) *cobra.Command {
	var opts batchOptions
	cmd := &cobra.Command{
		Use:   "batch FILE.csv [--parallel N] [--report-dir DIR] [--dry-run]",
		Short: "Migrate many mailboxes listed in a CSV file (start with --dry-run)",
		Long: `batch runs a migration (as migrate does) for every row of a CSV file: one
row per mailbox, or per source of a mailbox. The first row names the columns,
in any order:

  source             the archive: one path, or several separated by ";" (required)
  host               the IMAP server (required)
  user               the login name (required)
  password_file      a file whose first line is the password
  oauth2_token_file  or a file holding an OAuth2 access token (one of the two)
  port               default 993, or 143 with tls starttls or none
  tls                implicit (the default), starttls, or none
  folder_map         a file of "source folder = target folder" lines
  target_prefix      put every folder under this server folder

Only source, host and user are required columns, plus password_file or
oauth2_token_file. Empty cells take migrate's defaults. Relative paths are
relative to the CSV file's directory. Secrets come only from the files: a
batch runs unattended and never asks. Rows that are entirely empty are
skipped. A malformed file (an unknown column, a row with the wrong number
of cells, without source, host or user, or with both secrets) stops the
batch before anything runs, naming the line.

--parallel mailboxes run at once; rows of the same account (user, host and
port) never run at the same time: they run one after the other. One row
failing never stops the others. With --report-dir DIR, each row's report is
written as DIR/NNN-USER@HOST.json and .html (NNN: the row number), and the
summary as DIR/batch.json, batch.csv and batch.html; the summary table is
always printed.

The rows that did not finish (an error, failed messages, unreadable parts
of a source, interrupted, or not started) are written, unchanged and with
the same header, to FILE.failures.csv next to FILE.csv: fix them and run
"archive2imap batch FILE.failures.csv", which rewrites that file with the
rows still unfinished and deletes it once every row finished. When every
row of FILE.csv finished, an old FILE.failures.csv is deleted. A dry run
writes no failures file and leaves an existing one alone.

Exit codes: 0 every row finished; 1 some row did not finish (see the
summary); 2 a malformed CSV file or a bad flag (nothing ran); 130
interrupted (the running rows stop as migrate does; the reports, the
summary and the failures file are written).`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 0:
				return usagef(fmt.Errorf("missing FILE.csv, the list of mailboxes (see %s --help)", cmd.CommandPath()))
			case len(args) > 1:
				return usagef(fmt.Errorf("one batch file at a time, not %d (see %s --help)", len(args), cmd.CommandPath()))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			choice, err := opts.provider.choice(cmd.Flags())
			if err != nil {
				return err
			}
			opts.choice = choice
			return runBatch(cmd.Context(), opts, args[0], s)
		},
	}
	fs := cmd.Flags()
	opts.sources.register(fs)
	fs.Int64Var(&opts.sources.maxSize, "max-size", 0, "skip messages larger than this many bytes (0: no limit besides the server's)")
	fs.StringVar(&opts.dedupe, "dedupe", uploader.DedupeFolder, "skip a message already on the server in its target folder (folder), or in any folder (account)")
	fs.BoolVarP(&opts.dryRun, "dry-run", "n", false, "write nothing: plan every row and report what a run would do")
	fs.IntVar(&opts.parallel, "parallel", defaultParallel, fmt.Sprintf("mailboxes migrated at once (1-%d); rows of one account never run at once", maxParallel))
	fs.IntVar(&opts.connections, "connections", uploader.DefaultConnections, fmt.Sprintf("parallel upload connections per mailbox (1-%d)", uploader.MaxConnections))
	fs.IntVar(&opts.retries, "retries", 5, "reconnect this many times when a connection breaks before giving a folder up")
	fs.StringVar(&opts.reportDir, "report-dir", "", "write each mailbox's report (NNN-USER@HOST.json and .html) and the summary (batch.json, batch.csv, batch.html) into this `DIR`")
	fs.BoolVarP(&opts.quiet, "quiet", "q", false, "no log lines; only the summary and errors")
	fs.StringVar(&opts.caFile, "ca-file", "", "PEM file of the certificate authority that signed the servers' certificates (rows with tls none ignore it)")
	fs.DurationVar(&opts.timeout, "timeout", 60*time.Second, "give up on a connection when the server does not answer for this long")
	opts.provider.register(fs)
	return cmd
}

// A batchFile is a parsed batch CSV file.
type batchFile struct {
	path   string   // as given
	header []string // the header cells as read
	raw    []byte   // the header line as read
	bom    bool     // the file started with a UTF-8 byte order mark
	crlf   bool     // lines end in CRLF
	rows   []*batchRow
}

// A batchRow is one mailbox of a batch file, checked and with its paths
// resolved.
type batchRow struct {
	num    int      // 1: the first row after the header
	line   int      // the line of the file it starts on
	record []string // the cells as read
	raw    []byte   // the row's lines as read, for the failures file

	sources         []string
	host            string
	port            int
	tls             uploader.TLSMode
	user            string
	passwordFile    string
	oauth2TokenFile string
	folderMap       string
	targetPrefix    string
}

// account names the row's account for people and file names: user@host.
func (r *batchRow) account() string { return r.user + "@" + r.host }

// accountKey is the same for the rows that log in to the same account,
// which must never run at once. Names are compared without case: a
// server that tells them apart costs only some parallelism.
func (r *batchRow) accountKey() string {
	return strings.ToLower(r.user) + "\x00" + strings.ToLower(r.host) + "\x00" + strconv.Itoa(r.port)
}

// readBatchFile reads and checks a batch file.
func readBatchFile(path string) (*batchFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, usagef(fmt.Errorf("batch file: %w", err))
	}
	defer fh.Close()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, usagef(fmt.Errorf("batch file %s: %w", path, err))
	}
	bf, err := parseBatch(fh, path, filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	bf.path = path
	return bf, nil
}

// parseBatch parses a batch file named name; relative paths in it are
// resolved against dir. Every error is a usage error naming the line.
func parseBatch(r io.Reader, name, dir string) (*batchFile, error) {
	fail := func(line int, format string, args ...any) error {
		return usagef(fmt.Errorf("%s line %d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	data, err := io.ReadAll(io.LimitReader(r, maxBatchFile+1))
	if err != nil {
		return nil, usagef(fmt.Errorf("batch file %s: %w", name, err))
	}
	if len(data) > maxBatchFile {
		return nil, usagef(fmt.Errorf("batch file %s: larger than %d MB: not a list of mailboxes", name, maxBatchFile>>20))
	}
	bf := &batchFile{}
	if rest, ok := bytes.CutPrefix(data, []byte("\ufeff")); ok { // Excel's "CSV UTF-8"
		data, bf.bom = rest, true
	}
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		bf.crlf = true
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	csvErr := func(err error) error {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return fail(pe.Line, "%v", pe.Err)
		}
		return usagef(fmt.Errorf("batch file %s: %w", name, err))
	}
	// raw is the text of the record just read, without the empty lines
	// the reader skipped before it, and with its line end.
	raw := func(from int64) []byte {
		b := bytes.TrimLeft(data[from:cr.InputOffset()], "\r\n")
		if !bytes.HasSuffix(b, []byte("\n")) { // the last line, without one
			b = append(b[:len(b):len(b)], map[bool]string{false: "\n", true: "\r\n"}[bf.crlf]...)
		}
		return b
	}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, usagef(fmt.Errorf("%s is empty: want a header row naming the columns (%s)", name, strings.Join(batchColumns, ", ")))
	}
	if err != nil {
		return nil, csvErr(err)
	}
	headLine, _ := cr.FieldPos(0)
	bf.header, bf.raw = header, raw(0)
	col := make(map[string]int)
	known := make(map[string]bool)
	for _, c := range batchColumns {
		known[c] = true
	}
	for i, h := range header {
		c := strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(strings.TrimSpace(h)))
		switch {
		case c == "":
			return nil, fail(headLine, "column %d of the header has no name (the columns are: %s)", i+1, strings.Join(batchColumns, ", "))
		case !known[c]:
			hint := ""
			switch {
			case len(header) == 1 && strings.Contains(h, ";"):
				hint = `; the file seems to be separated by ";" (as Excel saves CSV in some languages): save it separated by commas`
			case len(header) == 1 && strings.Contains(h, "\t"):
				hint = "; the file seems to be separated by tabs: save it as CSV, separated by commas"
			}
			return nil, fail(headLine, "unknown column %q (the columns are: %s)%s", strings.TrimSpace(h), strings.Join(batchColumns, ", "), hint)
		}
		if _, dup := col[c]; dup {
			return nil, fail(headLine, "column %q appears twice", c)
		}
		col[c] = i
	}
	for _, c := range []string{colSource, colHost, colUser} {
		if _, ok := col[c]; !ok {
			return nil, fail(headLine, "no %q column: every row needs source, host and user", c)
		}
	}
	_, hasPw := col[colPasswordFile]
	_, hasTok := col[colTokenFile]
	if !hasPw && !hasTok {
		return nil, fail(headLine, "no %q or %q column: a batch reads every secret from a file (it never asks)", colPasswordFile, colTokenFile)
	}
	path := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	for num := 1; ; {
		from := cr.InputOffset()
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvErr(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			return nil, fail(line, "%d cells, but the header has %d columns", len(rec), len(header))
		}
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue // an empty spreadsheet row
		}
		cell := func(c string) string {
			if i, ok := col[c]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		for _, c := range []string{colSource, colHost, colUser} {
			if cell(c) == "" {
				return nil, fail(line, "the %s cell is empty: every row needs source, host and user", c)
			}
		}
		row := &batchRow{
			num: num, line: line, record: rec, raw: raw(from),
			host: cell(colHost), user: cell(colUser),
			passwordFile: path(cell(colPasswordFile)), oauth2TokenFile: path(cell(colTokenFile)),
			folderMap: path(cell(colFolderMap)), targetPrefix: cell(colTargetPrefix),
		}
		for _, p := range strings.Split(cell(colSource), ";") {
			if p = strings.TrimSpace(p); p != "" {
				row.sources = append(row.sources, path(p))
			}
		}
		if len(row.sources) == 0 {
			return nil, fail(line, "the source cell names no path")
		}
		switch {
		case row.passwordFile != "" && row.oauth2TokenFile != "":
			return nil, fail(line, "both %s and %s are set: give one", colPasswordFile, colTokenFile)
		case row.passwordFile == "" && row.oauth2TokenFile == "":
			return nil, fail(line, "no %s or %s: a batch reads every secret from a file (it never asks)", colPasswordFile, colTokenFile)
		}
		if p := cell(colPort); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, fail(line, "port %q is not a port number (1-65535)", p)
			}
			row.port = n
		}
		switch t := strings.ToLower(cell(colTLS)); {
		case t != "":
			m, err := uploader.ParseTLSMode(t)
			if err != nil {
				return nil, fail(line, "tls: %v", err)
			}
			row.tls = m
		case row.port == 143:
			row.tls = uploader.TLSStartTLS
		default:
			row.tls = uploader.TLSImplicit
		}
		if row.port == 0 {
			row.port = row.tls.DefaultPort()
		}
		bf.rows = append(bf.rows, row)
		num++
	}
	if len(bf.rows) == 0 {
		return nil, usagef(fmt.Errorf("%s has a header but no rows", name))
	}
	return bf, nil
}

// failuresPath is where the rows of in that did not finish go:
// FILE.failures.csv next to FILE.csv. A failures file is its own: a rerun
// of it rewrites it with the rows still unfinished.
func failuresPath(in string) string {
	if strings.HasSuffix(strings.ToLower(in), ".failures.csv") {
		return in
	}
	base := in
	if strings.EqualFold(filepath.Ext(in), ".csv") {
		base = in[:len(in)-len(".csv")]
	}
	return base + ".failures.csv"
}

// encode writes the header and rows of bf as they were read, byte for
// byte (with the byte order mark, if any; a last line without a line end
// gets one).
func (bf *batchFile) encode(rows []*batchRow) ([]byte, error) {
	var b bytes.Buffer
	if bf.bom {
		b.WriteString("\ufeff")
	}
	b.Write(bf.raw)
	for _, r := range rows {
		b.Write(r.raw)
	}
	return b.Bytes(), nil
}

// writeRows writes the header and rows of bf (encode) to path, whole or
// not at all, with the permissions of the batch file.
func (bf *batchFile) writeRows(path string, rows []*batchRow) error {
	data, err := bf.encode(rows)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(bf.path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return err
}

// batchScheduler hands out the rows of a batch in order, never two rows
// of one account at once, until there are none left or it is stopped.
type batchScheduler struct {
	mu      sync.Mutex
	cond    *sync.Cond
	rows    []*batchRow
	pending []int // indexes into rows, in order
	busy    map[string]bool
	stopped bool
}

func newBatchScheduler(rows []*batchRow) *batchScheduler {
	s := &batchScheduler{rows: rows, busy: make(map[string]bool)}
	s.cond = sync.NewCond(&s.mu)
	for i := range rows {
		s.pending = append(s.pending, i)
	}
	return s
}

// next returns the first pending row whose account is not busy, waiting
// while every pending row's account is; false when there is nothing left
// to start.
func (s *batchScheduler) next() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.stopped || len(s.pending) == 0 {
			return 0, false
		}
		for i, r := range s.pending {
			if k := s.rows[r].accountKey(); !s.busy[k] {
				s.busy[k] = true
				s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
				return r, true
			}
		}
		s.cond.Wait()
	}
}

// done frees the account of row r.
func (s *batchScheduler) done(r int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.busy, s.rows[r].accountKey())
	s.cond.Broadcast()
}

// stop starts no more rows.
func (s *batchScheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.cond.Broadcast()
}

// batchLog writes the batch's log lines to standard error, one at a time.
type batchLog struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
}

func (l *batchLog) printf(format string, args ...any) {
	if l.quiet {
		return
	}
	l.always(format, args...)
}

// always writes a line even with --quiet: warnings.
func (l *batchLog) always(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// rowProgress shows no progress (a batch has no bars) but logs the lines
// a migration logs, marked with the row.
type rowProgress struct {
	log    *batchLog
	prefix string
}

func (rowProgress) Start(string, int, int64) {}
func (rowProgress) Add(int, int64)           {}
func (rowProgress) Finish()                  {}
func (p rowProgress) Logf(format string, args ...any) {
	p.log.printf("%s%s", p.prefix, fmt.Sprintf(format, args...))
}

var _ report.Progress = rowProgress{}

// batchError is the error a batch ends with: its own message, and the
// error that decides the exit code.
type batchError struct {
	msg string
	err error
}

func (e batchError) Error() string { return e.msg }
func (e batchError) Unwrap() error { return e.err }

// batchRunner runs the rows of one batch.
type batchRunner struct {
	opts   batchOptions
	popts  plan.Options
	dedupe string
	log    *batchLog
}

func runBatch(ctx context.Context, opts batchOptions, file string, s *streams) error {
	started := time.Now()
	if opts.parallel < 1 || opts.parallel > maxParallel {
		return usagef(fmt.Errorf("--parallel: want 1 to %d", maxParallel))
	}
	if opts.connections < 1 || opts.connections > uploader.MaxConnections {
		return usagef(fmt.Errorf("--connections: want 1 to %d", uploader.MaxConnections))
	}
	popts, err := opts.sources.planOptions()
	if err != nil {
		return err
	}
	if _, err := (&targetFlags{dedupe: opts.dedupe}).planOptions(); err != nil {
		return err
	}
	bf, err := readBatchFile(file)
	if err != nil {
		return err
	}
	if opts.reportDir != "" {
		if err := os.MkdirAll(opts.reportDir, 0o755); err != nil {
			return usagef(fmt.Errorf("--report-dir: %w", err))
		}
	}
	log := &batchLog{w: s.errOut, quiet: opts.quiet}
	for _, r := range bf.rows {
		if r.tls == uploader.TLSNone && !isLoopback(r.host) {
			log.always("warning: %s line %d: tls none: the password and every message for %s cross the network unencrypted", file, r.line, r.account())
		}
	}
	workers := min(opts.parallel, len(bf.rows))
	what := "migrating"
	if opts.dryRun {
		what = "dry run of"
	}
	log.printf("batch %s: %s %d %s, %d at a time", file, what, len(bf.rows), plural(len(bf.rows), "mailbox", "mailboxes"), workers)

	br := &batchRunner{opts: opts, popts: popts, dedupe: opts.dedupe, log: log}
	results := make([]report.BatchMailbox, len(bf.rows))
	for i, r := range bf.rows {
		results[i] = r.mailbox()
		results[i].Status = report.StatusNotRun
		results[i].Reason = "the batch was interrupted before this row started"
	}
	sched := newBatchScheduler(bf.rows)
	stopSched := context.AfterFunc(ctx, sched.stop)
	defer stopSched()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i, ok := sched.next()
				if !ok {
					return
				}
				results[i] = br.runRow(ctx, bf.rows[i])
				sched.done(i)
			}
		})
	}
	wg.Wait()

	abs, err := filepath.Abs(file)
	if err != nil {
		abs = file
	}
	b := &report.Batch{
		Tool: "archive2imap", Version: toolVersion(), Command: report.CommandBatch, DryRun: opts.dryRun,
		Started: started, File: abs, Parallel: workers, Mailboxes: results,
	}
	b.Recount()
	unfinished := b.Totals.ByStatus.Unfinished()
	switch {
	case ctx.Err() != nil:
		b.Status = report.StatusInterrupted
	case unfinished == 0:
		b.Status = report.StatusComplete
	default:
		b.Status = report.StatusIncomplete
	}
	var errs []error
	if !opts.dryRun {
		fp := failuresPath(file)
		if unfinished > 0 {
			var rows []*batchRow
			for i := range results {
				if !results[i].Complete() {
					rows = append(rows, bf.rows[i])
				}
			}
			if err := bf.writeRows(fp, rows); err != nil {
				errs = append(errs, fmt.Errorf("writing the rows that did not finish to %s: %w", fp, err))
			} else {
				b.FailuresFile = fp
			}
		} else if err := os.Remove(fp); err == nil {
			log.printf("every row finished: removed %s, which listed rows to rerun", fp)
		} else if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("every row finished, but the old failures file could not be removed (delete it: it would rerun finished rows): %w", err))
		}
	}
	b.Finished = time.Now()
	if opts.reportDir != "" {
		var written []string
		for _, name := range []string{"batch.json", "batch.csv", "batch.html"} {
			p := filepath.Join(opts.reportDir, name)
			if err := report.WriteBatchFile(p, b); err != nil {
				errs = append(errs, err)
			} else {
				written = append(written, p)
			}
		}
		if len(written) > 0 {
			log.printf("summary written to %s", strings.Join(written, ", "))
		}
	}
	if err := report.WriteBatchSummary(s.out, b); err != nil {
		errs = append(errs, fmt.Errorf("writing to standard output: %w", err))
	}
	switch {
	case ctx.Err() != nil:
		return batchError{"interrupted", context.Canceled}
	case len(errs) > 0:
		return errors.Join(errs...)
	case unfinished > 0 && opts.dryRun:
		return batchError{fmt.Sprintf("%d of %d mailboxes could not be planned completely (see the summary)", unfinished, len(results)), errFailures}
	case unfinished > 0:
		return batchError{fmt.Sprintf("%d of %d mailboxes did not finish (see the summary); fix them and run: archive2imap batch %s", unfinished, len(results), b.FailuresFile), errFailures}
	}
	return nil
}

// mailbox is the row's entry of the summary, before it runs.
func (r *batchRow) mailbox() report.BatchMailbox {
	return report.BatchMailbox{
		Row: r.num, Line: r.line, User: r.user, Host: r.host, Port: r.port, TLS: string(r.tls),
		Sources: append([]string(nil), r.sources...),
	}
}

// config is the row's server configuration, with its secret read from
// its file.
func (br *batchRunner) config(r *batchRow) (*uploader.Config, error) {
	cfg := &uploader.Config{
		Host: r.host, Port: r.port, TLS: r.tls, User: r.user,
		Timeout: br.opts.timeout, DryRun: br.opts.dryRun,
	}
	if r.tls != uploader.TLSNone {
		cfg.CAFile = br.opts.caFile
	}
	var err error
	if r.oauth2TokenFile != "" {
		cfg.OAuth2Token, err = readSecretFile(r.oauth2TokenFile, colTokenFile)
	} else {
		cfg.Password, err = readSecretFile(r.passwordFile, colPasswordFile)
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// job makes the row's migration job.
func (br *batchRunner) job(r *batchRow, cfg *uploader.Config) (*migrateJob, error) {
	topts := uploader.PlanOptions{Dedupe: br.dedupe, Folders: uploader.FolderOptions{Prefix: r.targetPrefix}}
	if r.folderMap != "" {
		fh, err := os.Open(r.folderMap)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", colFolderMap, err)
		}
		m, err := uploader.ParseFolderMap(fh, r.folderMap)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", colFolderMap, err)
		}
		topts.Folders.Map = m
	}
	prefix := fmt.Sprintf("row %d %s: ", r.num, r.account())
	sf := br.opts.sources
	return &migrateJob{
		paths: r.sources, sources: br.popts, target: topts, cfg: cfg, dryRun: br.opts.dryRun,
		exec:     uploader.ExecOptions{Connections: br.opts.connections, Retries: br.opts.retries},
		provider: br.opts.choice,
		ledger:   defaultLedger(cfg),
		warn:     func(f string, a ...any) { br.log.always("%s%s", prefix, fmt.Sprintf(f, a...)) },
		settings: report.Settings{
			Format: sf.format, MboxTimezone: sf.mboxTimezone, IncludeDeleted: sf.includeDeleted, MaxSize: sf.maxSize,
			FolderMap: topts.Folders.Map, TargetPrefix: topts.Folders.Prefix, CAFile: cfg.CAFile,
		},
	}, nil
}

// runRow migrates one row and returns its entry of the summary, having
// written its reports. It never fails: what went wrong is the row's
// status and reason.
func (br *batchRunner) runRow(ctx context.Context, r *batchRow) report.BatchMailbox {
	mb := r.mailbox()
	start := time.Now()
	prefix := fmt.Sprintf("row %d %s: ", r.num, r.account())
	br.log.printf("%sstarted (%s)", prefix, strings.Join(r.sources, ", "))
	var (
		rep    *report.Report
		runErr error
		secret string
	)
	cfg, err := br.config(r)
	if err != nil {
		runErr = err
	} else {
		secret = cfg.Password + cfg.OAuth2Token
		job, err := br.job(r, cfg)
		if err != nil {
			runErr = err
		} else {
			if br.opts.reportDir != "" && !br.opts.dryRun {
				// As migrate --report does: the run's own uploads also
				// go to a ledger next to the row's report.
				job.runLedger = filepath.Join(br.opts.reportDir, rowReportBase(r)+".ledger.jsonl")
			}
			rep, runErr = job.run(ctx, rowProgress{log: br.log, prefix: prefix})
		}
	}
	if rep == nil { // stopped before the plan: a report of the failure
		rep = &report.Report{
			DryRun: br.opts.dryRun, Dedupe: br.dedupe,
			Server: &report.Server{Host: r.host, Port: r.port, TLS: string(r.tls), User: r.user},
		}
		for _, p := range r.sources {
			rep.Sources = append(rep.Sources, report.Source{Path: p, Format: br.opts.sources.format})
		}
	}
	// finishRun decides the status as migrate does; its summary goes
	// nowhere, the reports are written below.
	out := &output{s: &streams{in: strings.NewReader(""), out: io.Discard, errOut: io.Discard}, started: start, progress: report.NoProgress}
	finErr := finishRun(ctx, out, rep, report.CommandMigrate, runErr)
	rep.StatusText = scrubSecret(rep.StatusText, secret)

	mb.Status = rep.Status
	mb.Counters = rep.Totals.Counters
	mb.Problems = len(rep.Problems)
	for i := range rep.Messages {
		if rep.Messages[i].Outcome == report.DecisionPending {
			mb.Pending++
		}
	}
	mb.Started, mb.Finished = rep.Started, rep.Finished
	mb.Seconds = report.Seconds(rep.Finished.Sub(rep.Started))
	mb.Reason = scrubSecret(oneLine(rowReason(rep, runErr, finErr)), secret)

	if br.opts.reportDir != "" {
		base := rowReportBase(r)
		for _, ext := range []string{".json", ".html"} {
			p := filepath.Join(br.opts.reportDir, base+ext)
			if err := report.WriteFile(p, rep); err != nil {
				br.log.always("%swarning: %v", prefix, err)
				continue
			}
			mb.Reports = append(mb.Reports, base+ext)
		}
	}
	c := mb.Counters
	counts := fmt.Sprintf("%d found, %d uploaded, %d already on the server, %d failed", c.Found, c.Uploaded, c.AlreadyOnServer, c.Failed)
	if br.opts.dryRun {
		counts = fmt.Sprintf("%d found, %d to upload, %d already on the server, %d cannot be uploaded", c.Found, c.ToUpload, c.AlreadyOnServer, c.Failed)
	}
	line := fmt.Sprintf("%s%s in %s: %s", prefix, mb.Status, time.Duration(mb.Seconds*float64(time.Second)).Round(time.Millisecond), counts)
	if mb.Reason != "" {
		line += "; " + mb.Reason
	}
	br.log.printf("%s", line)
	return mb
}

// rowReportBase names the row's report files, without the extension:
// NNN-USER@HOST.
func rowReportBase(r *batchRow) string { return fmt.Sprintf("%03d-%s", r.num, fileSafe(r.account())) }

// rowReason says in one line why a row did not finish; "" when it did.
func rowReason(rep *report.Report, runErr, finErr error) string {
	t := rep.Totals
	switch rep.Status {
	case report.StatusComplete:
		return ""
	case report.StatusFailed:
		if runErr != nil {
			return userMessage(runErr)
		}
		return rep.StatusText
	case report.StatusInterrupted:
		switch {
		case errors.Is(runErr, uploader.ErrOverQuota):
			return fmt.Sprintf("the account on the server is full: %d of %d messages uploaded", t.Uploaded, t.ToUpload)
		case errors.Is(runErr, uploader.ErrBudgetReached):
			// The error says how much and when to run again.
			return fmt.Sprintf("stopped at the daily upload budget: %d of %d messages uploaded; %v", t.Uploaded, t.ToUpload, runErr)
		case rep.DryRun || len(rep.Folders) == 0:
			return "interrupted before the plan was made"
		}
		return fmt.Sprintf("%d of %d messages uploaded before the stop", t.Uploaded, t.ToUpload)
	}
	var parts []string
	if t.Failed > 0 {
		verb := "not migrated"
		if rep.DryRun {
			verb = "cannot be uploaded"
		}
		parts = append(parts, fmt.Sprintf("%d %s %s", t.Failed, plural(t.Failed, "message", "messages"), verb))
	}
	if n := len(rep.Problems); n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s of the source could not be read", n, plural(n, "part", "parts")))
	}
	first := ""
	switch {
	case len(rep.Problems) > 0:
		p := rep.Problems[0]
		first = p.Error
		if p.Path != "" {
			first = p.Path + ": " + p.Error
		}
	default:
		for i := range rep.Messages {
			if m := &rep.Messages[i]; m.Decision() == report.DecisionFailed {
				first = m.Location() + ": " + m.Reason
				break
			}
		}
	}
	if len(parts) == 0 { // not expected: say what finishRun said
		if finErr != nil {
			return userMessage(finErr)
		}
		return rep.Status
	}
	s := strings.Join(parts, " and ")
	if first != "" {
		s += " (first: " + first + ")"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// oneLine makes s one line: line breaks and runs of white space become
// one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// scrubSecret removes a secret from a text that should never hold it
// (errors never quote one; this is a second guard). Very short secrets
// are left alone: replacing them would garble the text.
func scrubSecret(s, secret string) string {
	if len(secret) < 4 {
		return s
	}
	return strings.ReplaceAll(s, secret, "[secret]")
}

// fileSafe makes an account name a file name on every system: letters,
// digits and ".@+-_" stay, anything else becomes "_".
func fileSafe(s string) string {
	out := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".@+-_", r) {
			return r
		}
		return '_'
	}, s)
	if r := []rune(out); len(r) > 120 {
		out = string(r[:120])
	}
	return out
}
