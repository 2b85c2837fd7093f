package report

import (
	"bytes"
	"strings"
	"testing"
)

// Tests of what the documents say about provider profiles: the budget
// sentence of a dry run, Gmail's labels, and the profile's notes.

func TestBudgetSentence(t *testing.T) {
	const gb = 1 << 30
	tests := []struct {
		name   string
		budget *Budget
		want   string
	}{
		{"Gmail's daily IMAP upload limit: 2.1 GB takes 5 days",
			&Budget{BytesPerDay: 500_000_000, Label: "Gmail's ~500 MB/day", BytesToUpload: 21 * gb / 10, Days: 5},
			"2.1 GB to upload; at Gmail's ~500 MB/day this takes 5 days: each run stops at the budget, run the same command again the next day."},
		{"fits in one day",
			&Budget{BytesPerDay: 500_000_000, Label: "Gmail's ~500 MB/day", BytesToUpload: 10 << 20, Days: 1},
			"10.0 MB to upload; at Gmail's ~500 MB/day this takes 1 day."},
		{"--max-bytes-per-day, with earlier runs' uploads and --wait-for-budget",
			&Budget{BytesPerDay: 100 << 20, UsedLast24h: 60 << 20, BytesToUpload: 150 << 20, Days: 3, Wait: true},
			"150.0 MB to upload; at the budget of 100.0 MB/day this takes 3 days (counting the 60.0 MB uploaded in the last 24 hours), waiting for the budget between days."},
		{"--max-bytes-per-second alone",
			&Budget{BytesPerSecond: 1 << 20, BytesToUpload: 90 << 20},
			"At most 1.0 MB/s, sending takes at least 2 min."},
		{"no budget", &Budget{BytesToUpload: 90 << 20}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := dryRunReport()
			rep.Budget = tt.budget
			if got := budgetSentence(rep); got != tt.want {
				t.Errorf("budget sentence:\n got %s\nwant %s", got, tt.want)
			}
			// Every document shows it, in the headline.
			if tt.want == "" {
				return
			}
			if h := headline(rep); !strings.HasSuffix(h, "nothing was written. "+tt.want) {
				t.Errorf("headline does not end with the budget: %s", h)
			}
			for _, w := range []func(*bytes.Buffer, *Report) error{
				func(b *bytes.Buffer, r *Report) error { return WriteSummary(b, r) },
				func(b *bytes.Buffer, r *Report) error { return WriteMarkdown(b, r) },
				func(b *bytes.Buffer, r *Report) error { return WriteHTML(b, r) },
			} {
				var b bytes.Buffer
				if err := w(&b, rep); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(b.String(), "this takes") && !strings.Contains(b.String(), "sending takes") {
					t.Errorf("a document does not state the budget:\n%s", b.String())
				}
			}
		})
	}
}

func TestLabelsCounted(t *testing.T) {
	rep := dryRunReport()
	n := 0
	for i := range rep.Messages {
		if m := &rep.Messages[i]; m.Plan == DecisionUpload && n < 2 {
			m.AddsLabel = true
			n++
		}
	}
	rep.Recount()
	if rep.Totals.Labels != 2 {
		t.Fatalf("Totals.Labels = %d, want 2", rep.Totals.Labels)
	}
	want := "Dry run: 8 messages (19.2 KB) would be uploaded to alice@example.com on imap.example.com into 5 folders (1 new); 2 of them add a label to a message in another folder, not another copy (Gmail stores it once); 2 are already there; 1 cannot be uploaded (see the problems); nothing was written."
	if got := headline(rep); got != want {
		t.Errorf("headline:\n got %s\nwant %s", got, want)
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| Of which labels (a message stored once, in several folders) | 2 |") {
		t.Errorf("the Markdown totals do not count the labels:\n%s", md.String())
	}
}

func TestProviderNotesShown(t *testing.T) {
	rep := dryRunReport()
	rep.Server.Provider = "gmail"
	rep.Server.ProviderNotes = []string{"Gmail (recognised by its capability X-GM-EXT-1)", "a message in several folders is stored once, with a label per folder"}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"- **Provider profile:**\n  - Gmail (recognised by its capability X-GM-EXT-1)\n  - a message in several folders", ", gmail"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the Markdown report does not say %q:\n%s", want, md.String())
		}
	}
}
