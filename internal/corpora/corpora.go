// Package corpora locates the shared real-world mail archives that tests
// read by reference (they are third-party files and are never copied into
// this repository). They live in ../shared/corpora next to the checkout, or
// wherever ARCHIVE2IMAP_CORPORA points.
package corpora

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the corpora directory. Where it is absent, the test is
// skipped with a message saying so, unless the CI environment variable is
// set: CI must run these tests, so there it fails.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := find()
	if err == nil {
		return dir
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("shared corpora not found (%v) and CI is set: CI must run the real-archive tests", err)
	}
	t.Skipf("skipping: shared corpora not found (%v); they live in ../shared/corpora next to the checkout, or set ARCHIVE2IMAP_CORPORA", err)
	return ""
}

// Path returns the path of a file or directory inside the corpora, as Dir.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{Dir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("corpus file missing: %v", err)
	}
	return p
}

func find() (string, error) {
	if d := os.Getenv("ARCHIVE2IMAP_CORPORA"); d != "" {
		if _, err := os.Stat(d); err != nil {
			return "", err
		}
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			c := filepath.Join(filepath.Dir(dir), "shared", "corpora")
			if _, err := os.Stat(c); err != nil {
				return "", err
			}
			return filepath.Abs(c)
		}
		if filepath.Dir(dir) == dir {
			return "", os.ErrNotExist
		}
	}
}
