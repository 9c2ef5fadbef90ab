package importer

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"caseload.dev/caseload-operator/internal/plugin/kit"
)

// progress shows how far the writes of an import have gone: a bar redrawn in place on a
// terminal, otherwise a line at every tenth (for a log that a person reads later). In a dry run
// nothing is written: it counts the objects admission was asked about.
type progress struct {
	out    io.Writer
	tty    bool
	now    func() time.Time
	dryRun bool
	mu     sync.Mutex
	what   string
	total  int
	done   int
	// refused and rejected count the writes the cluster did not take.
	refused, rejected int
	start, drawn      time.Time
	tenth             int
}

func newProgress(out io.Writer, now func() time.Time, dryRun bool) *progress {
	return &progress{out: out, tty: kit.IsTerminal(out), now: now, dryRun: dryRun}
}

// begin starts counting total writes of what ("practitioners", "cases").
func (p *progress) begin(what string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.what, p.total, p.done, p.refused, p.rejected, p.tenth = what, total, 0, 0, 0, 0
	p.start = p.now()
	if total > 0 && !p.tty {
		verb := "writing"
		if p.dryRun {
			verb = "asking admission about"
		}
		fmt.Fprintf(p.out, "%s: %s %d\n", what, verb, total)
	}
}

// step counts one write done.
func (p *progress) step(o writeOutcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	switch o {
	case outcomeRefused:
		p.refused++
	case outcomeRejected:
		p.rejected++
	}
	if p.tty {
		if now := p.now(); now.Sub(p.drawn) >= 100*time.Millisecond || p.done == p.total {
			p.drawn = now
			fmt.Fprintf(p.out, "\r\x1b[K%s", p.bar())
		}
		return
	}
	if tenth := p.done * 10 / p.total; tenth > p.tenth && p.done < p.total {
		p.tenth = tenth
		fmt.Fprintf(p.out, "%s: %s\n", p.what, p.counts())
	}
}

// end finishes the bar, or writes the last line.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.total == 0 {
		return
	}
	if p.tty {
		fmt.Fprintf(p.out, "\r\x1b[K%s\n", p.bar())
		return
	}
	fmt.Fprintf(p.out, "%s: %s\n", p.what, p.counts())
}

func (p *progress) counts() string {
	done := "written"
	if p.dryRun {
		done = "asked"
	}
	s := fmt.Sprintf("%d of %d %s (%d%%)", p.done, p.total, done, p.done*100/max(p.total, 1))
	if p.refused > 0 {
		s += fmt.Sprintf(", %d refused by admission", p.refused)
	}
	if p.rejected > 0 {
		s += fmt.Sprintf(", %d rejected", p.rejected)
	}
	return s + fmt.Sprintf(" in %s", p.now().Sub(p.start).Round(time.Second))
}

func (p *progress) bar() string {
	const cells = 30
	filled := p.done * cells / max(p.total, 1)
	return fmt.Sprintf("%-13s %s%s %s", p.what, strings.Repeat("█", filled), strings.Repeat("░", cells-filled), p.counts())
}
