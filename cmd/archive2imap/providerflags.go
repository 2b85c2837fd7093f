package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/archive2imap/archive2imap/report"
	"github.com/archive2imap/archive2imap/uploader"
)

// providerFlags choose the provider profile (Gmail, Microsoft 365,
// generic) and the upload budget; migrate and batch share them.
type providerFlags struct {
	provider   string
	perDay     sizeValue
	perSecond  sizeValue
	budgetWait bool
	mdnSent    bool
}

func (f *providerFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.provider, "provider", uploader.ProviderAuto, "the provider's profile: auto (recognised by the host name and the capabilities after login), gmail, m365 (Microsoft 365) or generic")
	fs.Var(&f.perDay, "max-bytes-per-day", "upload at most `SIZE` in 24 hours (500MB, 2GiB, or bytes; the ledger's uploads of earlier runs count); 0: no limit (default: the provider's limit, Gmail's 500MB; none for other servers)")
	fs.Var(&f.perSecond, "max-bytes-per-second", "send at most `SIZE` a second on average (1MB, 500KiB, or bytes); 0: no limit")
	fs.BoolVar(&f.budgetWait, "budget-wait", false, "when the daily budget is reached, wait until it frees up (hours) instead of stopping with exit code 5")
	fs.BoolVar(&f.mdnSent, "mdn-sent", false, "upload read messages that asked for a read receipt with the $MDNSent keyword, so that the new mail client sends no receipt for an old message (default: on for Gmail and Microsoft 365, off for other servers; --mdn-sent=false turns it off)")
}

// choice checks the flags and returns what they ask for.
func (f *providerFlags) choice(fs *pflag.FlagSet) (providerChoice, error) {
	p, err := uploader.ParseProvider(f.provider)
	if err != nil {
		return providerChoice{}, usagef(fmt.Errorf("--provider: %w", err))
	}
	c := providerChoice{forced: p, perSecond: f.perSecond.n, wait: f.budgetWait}
	if fs.Changed("max-bytes-per-day") {
		n := f.perDay.n
		c.perDay = &n
	}
	if fs.Changed("mdn-sent") {
		v := f.mdnSent
		c.mdnSent = &v
	}
	return c, nil
}

// providerChoice is what the command line asks of the profile and the
// budget; the profile itself is known only after login.
type providerChoice struct {
	// forced is the --provider value: auto, gmail, m365 or generic.
	forced string
	// detectedBy, when set, replaces the profile's DetectedBy (the
	// approved plan's profile).
	detectedBy string
	// perDay is --max-bytes-per-day; nil: the profile's.
	perDay    *int64
	perSecond int64
	wait      bool
	// mdnSent is --mdn-sent; nil: the profile's default.
	mdnSent *bool
}

// profile picks the profile for the server logged in to.
func (c providerChoice) profile(host string, info uploader.ServerInfo) uploader.Profile {
	p := uploader.DetectProvider(c.forced, host, info)
	if c.detectedBy != "" {
		p.DetectedBy = c.detectedBy
	}
	return p
}

// markMDNSent reports whether read messages that asked for a receipt get
// $MDNSent with profile p.
func (c providerChoice) markMDNSent(p uploader.Profile) bool {
	if c.mdnSent != nil {
		return *c.mdnSent
	}
	return p.MDNSent
}

// budget is the run's upload budget with profile p, or nil for none.
func (c providerChoice) budget(p uploader.Profile) *uploader.Budget {
	perDay := p.BytesPerDay
	if c.perDay != nil {
		perDay = *c.perDay
	}
	b := uploader.NewBudget(perDay, c.perSecond)
	if b == nil {
		return nil
	}
	b.Wait = c.wait
	if c.perDay == nil || *c.perDay == p.BytesPerDay {
		b.Label = p.BudgetLabel
	}
	return b
}

// settings records the choices the user made in the report's settings
// (what a plan carries).
func (c providerChoice) settings(s *report.Settings) {
	if c.detectedBy != "" { // the approved plan's settings stand
		return
	}
	if c.forced != uploader.ProviderAuto {
		s.Provider = c.forced
	}
	if c.mdnSent != nil {
		v := *c.mdnSent
		s.MDNSent = &v
	}
}

// budgetStop is the error of a run that stopped at its daily upload
// budget: the one line the user sees, with how many messages are left and
// when to run again.
type budgetStop struct {
	be    *uploader.BudgetError
	label string // the budget's name ("Gmail's ~500 MB/day"), or ""
	left  int    // messages not uploaded yet
}

func (e *budgetStop) Unwrap() error { return e.be }

func (e *budgetStop) Error() string {
	return fmt.Sprintf("stopped at the daily upload budget (%s); %s left; %s", e.budget(), plural2(e.left, "message", "messages"), e.rerun())
}

// budget names the budget: the provider's words, or the amount.
func (e *budgetStop) budget() string {
	switch {
	case e.be.ServerText != "":
		return "the server refuses more uploads for now: " + e.be.ServerText
	case e.label != "":
		return fmt.Sprintf("%s; %s uploaded in the last 24 h", e.label, report.HumanBytes(e.be.Used))
	}
	return fmt.Sprintf("%s in 24 h", report.HumanBytes(e.be.PerDay))
}

// rerun says when to run again.
func (e *budgetStop) rerun() string {
	if e.be.ResumeAt.IsZero() {
		return "run the same command again in a few hours (Gmail lifts this block within 24 hours)"
	}
	return "run the same command again after " + e.be.ResumeAt.Local().Format("2006-01-02 15:04 MST")
}

// statusText is the report's explanation of the stop.
func (e *budgetStop) statusText(t report.Totals) string {
	r := e.rerun()
	return fmt.Sprintf("Stopped at the daily upload budget (%s): %d of %d messages uploaded, %d left. %s; nothing will be uploaded twice.",
		e.budget(), t.Uploaded, t.ToUpload, e.left, strings.ToUpper(r[:1])+r[1:])
}

// plural2 is "1 message", "2 messages".
func plural2(n int, one, many string) string { return strconv.Itoa(n) + " " + plural(n, one, many) }

// stopAtBudget records a budget stop in the report (rep.Budget reached,
// when it frees up) and returns the error the command exits with.
func stopAtBudget(rep *report.Report, b *uploader.Budget, runErr error) error {
	var be *uploader.BudgetError
	if !errors.As(runErr, &be) {
		return runErr
	}
	if rep.Budget == nil {
		rep.Budget = &report.Budget{BytesToUpload: rep.Totals.BytesToUpload, BytesPerDay: be.PerDay}
	}
	rep.Budget.Reached, rep.Budget.ResumeAfter = true, be.ResumeAt
	left := 0
	for i := range rep.Messages {
		if rep.Messages[i].Outcome == report.DecisionPending {
			left++
		}
	}
	label := ""
	if b != nil {
		label = b.Label
	}
	return &budgetStop{be: be, label: label, left: left}
}

// sizeValue is a size flag: plain bytes or a number with a unit (KB, MB,
// GB, TB: powers of 1000; KiB, MiB, GiB, TiB: powers of 1024).
type sizeValue struct {
	n   int64
	set bool
}

func (v *sizeValue) String() string {
	if !v.set {
		return ""
	}
	return strconv.FormatInt(v.n, 10)
}

func (v *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	v.n, v.set = n, true
	return nil
}

func (v *sizeValue) Type() string { return "SIZE" }

// sizeUnits are the units parseSize knows, lower case.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "tib": 1 << 40,
}

// parseSize reads a size: "500000000", "500MB", "500 MB", "1.5GiB".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size (want bytes, or a number with KB, MB, GB, KiB, MiB or GiB)", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size (want bytes, or a number with KB, MB, GB, KiB, MiB or GiB)", s)
	}
	return int64(math.Round(f * mult)), nil
}
