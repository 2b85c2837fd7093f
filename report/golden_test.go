package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenFormats are the renderings compared with testdata/golden/<fixture>.<ext>.
var goldenFormats = []struct {
	ext   string
	write func(*bytes.Buffer, *Report) error
}{
	{"json", func(b *bytes.Buffer, r *Report) error { return WriteJSON(b, r) }},
	{"csv", func(b *bytes.Buffer, r *Report) error { return WriteCSV(b, r) }},
	{"md", func(b *bytes.Buffer, r *Report) error { return WriteMarkdown(b, r) }},
	{"html", func(b *bytes.Buffer, r *Report) error { return WriteHTML(b, r) }},
	{"txt", func(b *bytes.Buffer, r *Report) error { return WriteSummary(b, r) }},
}

// TestGolden renders every fixture in every format and compares with the
// golden file. Run `go test ./report -update` after a deliberate change and
// review the diff.
func TestGolden(t *testing.T) {
	for _, f := range fixtures {
		for _, g := range goldenFormats {
			name := f.name + "." + g.ext
			t.Run(name, func(t *testing.T) {
				var b bytes.Buffer
				if err := g.write(&b, f.rep()); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", "golden", name)
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./report -update to create it)", err)
				}
				if !bytes.Equal(b.Bytes(), want) {
					t.Errorf("%s differs from the golden file (run go test ./report -update and review the diff):\n%s", name, firstDiff(want, b.Bytes()))
				}
			})
		}
	}
}

// firstDiff shows the first differing line of want and got.
func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + itoa(i+1) + ":\n want: " + string(w) + "\n  got: " + string(g)
		}
	}
	return "(same lines, different bytes)"
}

func itoa(i int) string { return fmt.Sprint(i) }
