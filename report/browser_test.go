//go:build unix

package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The browser check opens HTML reports in Debian's Chromium, headless:
// the DOM holds the summary numbers where they belong, the page renders
// (a screenshot kept as a CI artifact), and no request leaves the page.

const chromiumTimeout = 60 * time.Second

// chromium returns the Chromium binary. Without one the test is skipped,
// loudly, unless CI is set: CI installs Chromium, so there it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium"} {
		if bin, err := exec.LookPath(p); err == nil {
			return bin
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found and CI is set: CI must run the HTML report's browser check (apt-get install chromium)")
	}
	t.Skip("SKIPPING THE BROWSER CHECK OF THE HTML REPORT: chromium not found (apt-get install chromium to run it)")
	return ""
}

// recordingProxy is an HTTP proxy that refuses everything and remembers
// every request it was asked to make (plain requests and CONNECT tunnels).
type recordingProxy struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []proxied
	own  []proxied // what Chromium asked for showing a blank page
}

type proxied struct{ method, host, path string }

func (p proxied) String() string { return p.method + " " + p.host + p.path }

// chromiumOwn are requests Chromium makes for itself, whatever page it
// shows, even with --disable-background-networking and
// --disable-component-update (an on-demand component check, the sign-in
// cookie check): they are not the page's. A page request to one of these
// endpoints would go unnoticed; the Content-Security-Policy of the report
// forbids it anyway.
var chromiumOwn = []proxied{
	{"CONNECT", "accounts.google.com:443", ""},
	{"CONNECT", "update.googleapis.com:443", ""},
	{"POST", "update.googleapis.com", "/service/update2/json"},
	{"GET", "clients2.google.com", "/time/1/current"},
}

func newRecordingProxy(t *testing.T) *recordingProxy {
	p := &recordingProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := proxied{method: r.Method, host: r.Host}
		if r.Method != http.MethodConnect {
			req.path = r.URL.Path
		}
		p.mu.Lock()
		p.seen = append(p.seen, req)
		p.mu.Unlock()
		http.Error(w, "blocked by the report test", http.StatusBadGateway)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// pageRequests are the requests seen since the last reset that Chromium
// did not make for itself.
func (p *recordingProxy) pageRequests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, r := range p.seen {
		if !slices.Contains(chromiumOwn, r) && !slices.Contains(p.own, r) {
			out = append(out, r.String())
		}
	}
	return out
}

// learnOwn takes the requests seen since the last reset as Chromium's
// own: they were made for a blank page.
func (p *recordingProxy) learnOwn() []proxied {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.own = append(p.own, p.seen...)
	return p.seen
}

func (p *recordingProxy) reset() {
	p.mu.Lock()
	p.seen = nil
	p.mu.Unlock()
}

// runChromium runs headless Chromium on the file at path with extra
// arguments, every request going through proxy, and returns its standard
// output. It is killed, with its whole process group, after
// chromiumTimeout and in any case when it returns.
func runChromium(t *testing.T, bin string, proxy *recordingProxy, path string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-features=NetworkTimeServiceQuerying",
		"--user-data-dir=" + t.TempDir(),
		"--proxy-server=" + proxy.srv.URL, "--proxy-bypass-list=<-loopback>",
	}
	args = append(append(args, extra...), "file://"+path)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers left behind
	}
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within %v; stderr:\n%s", chromiumTimeout, tail(stderr.String()))
	}
	if err != nil {
		t.Fatalf("chromium: %v; stderr:\n%s", err, tail(stderr.String()))
	}
	return stdout.Bytes()
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

// writeHTMLFile writes rep's HTML report to a file in dir.
func writeHTMLFile(t *testing.T, dir, name string, rep *Report) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := WriteFile(path, rep); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHTMLInBrowser(t *testing.T) {
	bin := chromium(t)
	proxy := newRecordingProxy(t)
	dir := t.TempDir()

	// What Chromium asks for itself, whatever the page (beyond the known
	// chromiumOwn), is learnt from a blank page.
	t.Run("blank page", func(t *testing.T) {
		proxy.reset()
		blank := filepath.Join(dir, "blank.html")
		if err := os.WriteFile(blank, []byte("<!DOCTYPE html><title>blank</title>"), 0o644); err != nil {
			t.Fatal(err)
		}
		runChromium(t, bin, proxy, blank, "--dump-dom")
		t.Logf("Chromium's own requests: %v", proxy.learnOwn())
	})

	// The proxy must see what a page asks from the network, or the check
	// that reports ask nothing would prove nothing.
	t.Run("proxy sees a leaking page", func(t *testing.T) {
		proxy.reset()
		leak := filepath.Join(dir, "leak.html")
		page := `<!DOCTYPE html><html><head><link rel="stylesheet" href="http://leak.example/style.css"></head>` +
			`<body><img src="http://leak.example/pixel.png" alt=""><p>leak</p></body></html>`
		if err := os.WriteFile(leak, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
		runChromium(t, bin, proxy, leak, "--dump-dom")
		seen := proxy.pageRequests()
		if !strings.Contains(strings.Join(seen, "\n"), "leak.example") {
			t.Fatalf("the proxy saw no request for leak.example (saw %q): it cannot catch a leaking report", seen)
		}
	})

	for _, f := range []struct {
		name string
		rep  *Report
	}{
		{"dryrun", dryRunReport()},
		{"run-incomplete", runIncompleteReport()},
		{"verify", verifyReport()},
		{"scan", scanReport()},
	} {
		t.Run("DOM of "+f.name, func(t *testing.T) {
			proxy.reset()
			path := writeHTMLFile(t, dir, f.name+".html", f.rep)
			out := runChromium(t, bin, proxy, path, "--dump-dom")
			if seen := proxy.pageRequests(); len(seen) > 0 {
				t.Errorf("the page made requests: %q", seen)
			}
			doc, err := parseDOM(out)
			if err != nil {
				t.Fatalf("parsing the DOM Chromium dumped: %v", err)
			}
			checkDOM(t, doc, f.rep)
		})
	}

	t.Run("screenshot", func(t *testing.T) {
		proxy.reset()
		path := writeHTMLFile(t, dir, "screenshot.html", dryRunReport())
		shot := screenshotPath(t)
		runChromium(t, bin, proxy, path, "--screenshot="+shot, "--window-size=1280,2000", "--hide-scrollbars")
		if seen := proxy.pageRequests(); len(seen) > 0 {
			t.Errorf("the page made requests: %q", seen)
		}
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot %s: %v", shot, err)
		}
		b := img.Bounds()
		if b.Dx() != 1280 || b.Dy() != 2000 {
			t.Errorf("screenshot is %dx%d, want 1280x2000", b.Dx(), b.Dy())
		}
		// A rendered report has many colours (text, figures, charts); a
		// blank or error page has a handful.
		colours := map[[4]uint32]bool{}
		for y := b.Min.Y; y < b.Max.Y; y += 4 {
			for x := b.Min.X; x < b.Max.X; x += 4 {
				r, g, bl, a := img.At(x, y).RGBA()
				colours[[4]uint32{r >> 8, g >> 8, bl >> 8, a >> 8}] = true
			}
		}
		if len(colours) < 50 {
			t.Errorf("screenshot has %d colours: not a rendered report", len(colours))
		}
		t.Logf("screenshot: %s (%d colours sampled)", shot, len(colours))
	})
}

// screenshotPath is where the screenshot is kept: $ARTIFACTS_DIR, else
// artifacts/ at the repository root (ignored by git).
func screenshotPath(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		root, err := filepath.Abs("..")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
			t.Fatalf("repository root not found above the report package: %v", err)
		}
		dir = filepath.Join(root, "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, "report-screenshot.png"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	return path
}

// checkDOM finds the numbers of rep where the page puts them.
func checkDOM(t *testing.T, doc *node, rep *Report) {
	t.Helper()
	if h := doc.byID("headline"); h == nil || h.text() != headline(rep) {
		t.Errorf("#headline is %q, want %q", textOf(h), headline(rep))
	}
	if s := doc.byID("status"); s == nil || s.attr["data-status"] != rep.Status {
		t.Errorf("#status does not say %q", rep.Status)
	}
	tt := rep.Totals
	want := map[string]int64{"found": int64(tt.Found)}
	v := verifyTotals(rep)
	switch {
	case rep.Command == CommandScan:
		want["bytes"] = tt.Bytes
		want["duplicates"] = int64(tt.DuplicatesInSource)
		want["skipped"] = int64(tt.Skipped)
		want["no_message_id"] = int64(tt.MissingMessageID)
		want["problems"] = int64(len(rep.Problems))
	case rep.Command == CommandVerify:
		want["checked"] = int64(v.Checked)
		want["present"] = int64(v.Present)
		want["missing"] = int64(v.Missing)
		want["flags_differ"] = int64(v.FlagsDiffer)
		want["not_checked"] = int64(v.NotExpected)
	case rep.DryRun:
		want["to_upload"] = int64(tt.ToUpload)
		want["already_on_server"] = int64(tt.AlreadyOnServer)
		want["duplicates"] = int64(tt.DuplicatesInSource)
		want["skipped"] = int64(tt.Skipped)
		want["failed"] = int64(tt.Failed)
		want["bytes"] = tt.BytesToUpload
	default:
		want["uploaded"] = int64(tt.Uploaded)
		want["already_on_server"] = int64(tt.AlreadyOnServer)
		want["duplicates"] = int64(tt.DuplicatesInSource)
		want["skipped"] = int64(tt.Skipped)
		want["failed"] = int64(tt.Failed)
		want["bytes"] = tt.BytesUploaded
	}
	summary := doc.byID("summary")
	if summary == nil {
		t.Fatal("no #summary section")
	}
	for id, n := range want {
		fig := summary.find(func(e *node) bool { return e.attr["data-figure"] == id })
		if fig == nil {
			t.Errorf("no figure %q in #summary", id)
			continue
		}
		val := fig.find(func(e *node) bool { return e.hasClass("value") })
		if val == nil {
			t.Errorf("figure %q has no .value", id)
			continue
		}
		if got := val.attr["data-value"]; got != strconv.FormatInt(n, 10) {
			t.Errorf("figure %q: data-value %q, want %d", id, got, n)
		}
		shown := num(n)
		if id == "bytes" {
			shown = HumanBytes(n)
		}
		if got := val.text(); got != shown {
			t.Errorf("figure %q shows %q, want %q", id, got, shown)
		}
	}

	// Problems come first when there are any.
	main := doc.find(func(e *node) bool { return e.name == "main" })
	var sections []string
	for _, k := range main.kids {
		if k.name == "section" {
			sections = append(sections, k.attr["id"])
		}
	}
	if n := len(problemItems(rep)); n > 0 {
		if len(sections) == 0 || sections[0] != "problems" {
			t.Errorf("sections %v: the problems are not first", sections)
		}
		rows := doc.byID("problems").findAll(func(e *node) bool { return e.name == "tr" && e.parent.name == "tbody" })
		if len(rows) != n {
			t.Errorf("%d problem rows, want %d", len(rows), n)
		}
	} else if doc.byID("problems") != nil {
		t.Error("a problems section without problems")
	}

	// The folder table has a row per folder; every message is listed.
	folders := doc.byID("folders").findAll(func(e *node) bool { return e.name == "tr" && e.parent.name == "tbody" })
	if len(folders) != len(rep.Folders) {
		t.Errorf("%d folder rows, want %d", len(folders), len(rep.Folders))
	}
	for i, r := range folders {
		if th := r.find(func(e *node) bool { return e.name == "th" }); th == nil || !strings.HasPrefix(th.text(), rep.Folders[i].Source) {
			t.Errorf("folder row %d is %q, want %q", i, textOf(r), rep.Folders[i].Source)
		}
	}
	msgs := doc.byID("messages").findAll(func(e *node) bool { return e.name == "tr" && e.parent.name == "tbody" })
	if len(msgs) != len(rep.Messages) {
		t.Errorf("%d message rows, want %d", len(msgs), len(rep.Messages))
	}
	for i, r := range msgs {
		if !strings.Contains(r.text(), rep.Messages[i].Subject) {
			t.Errorf("message row %d lacks its subject %q: %q", i, rep.Messages[i].Subject, r.text())
		}
	}

	// The charts are images with a text alternative.
	for _, id := range []string{"chart-folders", "chart-years"} {
		svg := doc.byID(id)
		if svg == nil {
			t.Errorf("no #%s", id)
			continue
		}
		if svg.attr["role"] != "img" || svg.attr["aria-labelledby"] == "" {
			t.Errorf("#%s: role %q, aria-labelledby %q", id, svg.attr["role"], svg.attr["aria-labelledby"])
		}
		for _, ref := range strings.Fields(svg.attr["aria-labelledby"]) {
			if e := doc.byID(ref); e == nil || e.text() == "" {
				t.Errorf("#%s is labelled by #%s, which is missing or empty", id, ref)
			}
		}
	}
}

// A node is an element of the DOM Chromium dumped, read with encoding/xml
// in its lenient HTML mode.
type node struct {
	name   string
	attr   map[string]string
	kids   []*node
	parent *node
	chunks []any // string or *node, in document order
}

func parseDOM(b []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	root := &node{name: "#document", attr: map[string]string{}}
	cur := root
	inRaw := 0 // inside <script> or <style>
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: strings.ToLower(tok.Name.Local), attr: map[string]string{}, parent: cur}
			for _, a := range tok.Attr {
				name := a.Name.Local
				if a.Name.Space != "" {
					name = a.Name.Space + ":" + name
				}
				n.attr[strings.ToLower(name)] = a.Value
			}
			cur.kids = append(cur.kids, n)
			cur.chunks = append(cur.chunks, n)
			cur = n
			if n.name == "script" || n.name == "style" {
				inRaw++
			}
		case xml.EndElement:
			if cur.name == "script" || cur.name == "style" {
				inRaw--
			}
			if cur.parent != nil {
				cur = cur.parent
			}
		case xml.CharData:
			if inRaw == 0 {
				cur.chunks = append(cur.chunks, string(tok))
			}
		}
	}
	return root, nil
}

// text is the element's text, whitespace collapsed.
func (n *node) text() string {
	var b strings.Builder
	var walk func(*node)
	walk = func(n *node) {
		for _, c := range n.chunks {
			switch c := c.(type) {
			case string:
				b.WriteString(c)
			case *node:
				walk(c)
			}
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func textOf(n *node) string {
	if n == nil {
		return "<missing>"
	}
	return n.text()
}

func (n *node) hasClass(c string) bool {
	for _, f := range strings.Fields(n.attr["class"]) {
		if f == c {
			return true
		}
	}
	return false
}

func (n *node) find(match func(*node) bool) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if match(k) {
			return k
		}
		if f := k.find(match); f != nil {
			return f
		}
	}
	return nil
}

func (n *node) findAll(match func(*node) bool) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, k := range n.kids {
		if match(k) {
			out = append(out, k)
		}
		out = append(out, k.findAll(match)...)
	}
	return out
}

func (n *node) byID(id string) *node {
	return n.find(func(e *node) bool { return e.attr["id"] == id })
}

// externalRef finds a reference to another origin in an HTML page: a src,
// href, action, poster, srcset or xlink:href attribute, or a CSS url() or
// @import, whose target starts with http:, https: or // (protocol-relative).
var externalRef = regexp.MustCompile(`(?i)(?:\b(?:src|href|action|poster|srcset|data)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)\s*(?:https?:|//)`)

// TestHTMLNoExternalReferences checks every HTML report for references a
// browser would fetch from the network, and that the check catches them.
func TestHTMLNoExternalReferences(t *testing.T) {
	for _, bad := range []string{
		`<img src="http://x.example/a.png">`,
		`<a href='https://x.example/'>`,
		`<script src=//cdn.example/x.js>`,
		`<style>body{background:url( "https://x.example/bg.png")}</style>`,
		`<style>@import "//fonts.example/font.css";</style>`,
		`<svg><image xlink:href="http://x.example/i.svg"/></svg>`,
	} {
		if !externalRef.MatchString(bad) {
			t.Errorf("the check misses %s", bad)
		}
	}
	for _, f := range fixtures {
		var b bytes.Buffer
		if err := WriteHTML(&b, f.rep()); err != nil {
			t.Fatal(err)
		}
		if m := externalRef.FindAllString(b.String(), -1); m != nil {
			t.Errorf("%s: external references %q", f.name, m)
		}
		for _, tag := range []string{"<link", "<img", "<iframe", "<object", "<embed", "@font-face", "<base"} {
			if strings.Contains(b.String(), tag) {
				t.Errorf("%s: the page has %s", f.name, tag)
			}
		}
	}
}
