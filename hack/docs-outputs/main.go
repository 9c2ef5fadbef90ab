// Command docs-outputs is `make docs-outputs`: it keeps the output shown after every `$ kubectl`
// command (the plugin's, `kubectl caseload`, and kubectl's own) in README.md and docs/plugin.md
// true. It starts what `make run` starts (internal/sandbox: a local control plane, the CRDs, the
// sample council, the operator with its TLS webhook), waits until the operator has given
// everything its status, runs each page's commands in page order with the plugin and kubectl in
// this process, on the sandbox's kubeconfig, and writes what they printed under them: a change a
// page makes (a patch) is there for the commands after it, as for a reader following the page.
// The operator and the plugin both tell the time by one fixed day, so the outputs are the same
// on every run, whatever the date, but for the few things volatile.go masks. With -check it
// changes nothing: it lists the blocks whose output differs and exits 1.
//
// Other blocks and all prose are left as they are, and so is a block marked with the line
// "<!-- docs-outputs: skip: WHY -->" before its fence: a session the sandbox cannot replay.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // councils' time zones, whatever the machine holds

	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/plugin"
	"caseload.dev/caseload-operator/internal/sandbox"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/internal/words"
)

// day is the instant the operator and the plugin tell the time by: 2026-11-30, ten days after
// the day the sample council describes (hack/gen-samples), so that cases have waited and some
// are past their timescale. It is a Monday, the first day of forecast's weeks. The pages say
// which day their outputs are for; change them with it.
var day = time.Date(2026, time.November, 30, 12, 0, 0, 0, time.UTC)

// pages are the pages whose outputs are generated, from the repository's root, in the order
// their commands run: a page may use what an earlier one left in the sandbox.
var pages = []string{"README.md", filepath.Join("docs", "plugin.md")}

// options say where the repository is and what to do.
type options struct {
	// Root is the repository's top directory; Assets holds kube-apiserver and etcd.
	Root, Assets string
	// Check compares instead of writing.
	Check bool
	// LogFile is where the operator's log goes, named in the progress lines.
	LogFile string
	// Out receives the progress lines.
	Out io.Writer
}

// stale is a block whose output differs from what its commands print now.
type stale struct {
	page string
	line int
	diff string
}

func (s stale) String() string {
	return fmt.Sprintf("%s:%d (- shown, + printed now):\n%s", s.page, s.line, s.diff)
}

func main() {
	check := flag.Bool("check", false, "Change nothing: list the blocks whose output differs and exit 1 if any does.")
	logFile := flag.String("log", "bin/docs-outputs.log", "Where the operator's log goes.")
	flag.Parse()
	os.Exit(exitCode(*check, *logFile))
}

func exitCode(check bool, logFile string) int {
	ctx, cancel := sandbox.SignalContext("docs-outputs")
	defer cancel()

	fail := func(err error) int { fmt.Fprintln(os.Stderr, "docs-outputs:", err); return 1 }
	if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
		return fail(err)
	}
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fail(err)
	}
	defer log.Close()
	ctrl.SetLogger(zap.New(zap.WriteTo(log)))

	o := options{Check: check, LogFile: logFile, Out: os.Stdout}
	if o.Root, err = testenv.Root(); err != nil {
		return fail(err)
	}
	if o.Assets, err = testenv.Assets(o.Root); err != nil {
		return fail(err)
	}
	found, err := run(ctx, o)
	if err != nil {
		return fail(err)
	}
	if len(found) > 0 {
		for _, s := range found {
			fmt.Fprintln(os.Stderr, s)
		}
		fmt.Fprintf(os.Stderr, "docs-outputs: what the commands print now differs from what the page shows in %s: run make docs-outputs and commit the pages\n", words.Count(len(found), "block"))
		return 1
	}
	return 0
}

// run starts the sandbox on the fixed day, regenerates (or, with Check, compares) every page's
// outputs, and stops the sandbox, whatever happened.
func run(ctx context.Context, o options) ([]stale, error) {
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, "docs-outputs: "+format+"\n", args...) }
	tmp, err := os.MkdirTemp("", "docs-outputs")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// The commands run in a copy of the repository: what they write (a report, a snapshot, an
	// extract the page shows) stays there, and the kubeconfig is the sandbox's, never the user's.
	work := filepath.Join(tmp, "repository")
	if err := copyRepository(o.Root, work); err != nil {
		return nil, err
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.Chdir(wd) }()

	var found []stale
	say("starting the sandbox as make run does, its operator's clock set to %s (the pages' outputs are for that day)", day.Format(time.RFC3339))
	err = sandbox.Run(ctx, sandbox.Options{
		Root:       o.Root,
		Assets:     o.Assets,
		Kubeconfig: filepath.Join(tmp, "sandbox.kubeconfig"),
		Samples:    filepath.Join(o.Root, "config", "samples", "council"),
		LogFile:    o.LogFile,
		// As cmd/sandbox starts it, but for the clock: metrics and probes off, days in UTC where
		// a council names no zone.
		Operator: operator.Options{MetricsBindAddress: "0", HealthProbeBindAddress: "0", TimeZone: "UTC", ClockOffset: time.Until(day)},
		Out:      o.Out,
		Then: func(ctx context.Context, kubeconfig string) error {
			settler, err := newSettler(kubeconfig)
			if err != nil {
				return err
			}
			s := &session{
				ctx:        ctx,
				settler:    settler,
				work:       work,
				pluginArgs: []string{"--kubeconfig", kubeconfig},
				// kubectl's discovery cache stays with the sandbox, out of the user's ~/.kube.
				kubectlArgs: []string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(tmp, "kube-cache")},
				opts:        []plugin.Option{plugin.WithClock(clocktesting.NewFakePassiveClock(day))},
			}
			for _, page := range pages {
				f, err := regenerate(ctx, o, s, page, say)
				if err != nil {
					return err
				}
				found = append(found, f...)
			}
			return nil
		},
	})
	if err == nil && ctx.Err() != nil {
		err = errors.New("interrupted: the pages are as they were")
	}
	return found, err
}

// regenerate runs the commands of one page's blocks and writes their output into it, or, with
// Check, returns the blocks whose output differs.
func regenerate(ctx context.Context, o options, s *session, page string, say func(string, ...any)) ([]stale, error) {
	path := filepath.Join(o.Root, page)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	blocks, err := findBlocks(page, lines)
	if err != nil {
		return nil, err
	}
	var found []stale
	var out []string
	next := 0 // the first line of the page not yet copied to out
	for _, b := range blocks {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if b.skip {
			say("%s:%d: marked to skip, left as it is", page, b.line)
			continue
		}
		s.dir = s.work
		outputs := make([][]string, len(b.steps))
		for i, st := range b.steps {
			printed, err := s.run(st.text(), st.output)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", page, b.line, st.text(), err)
			}
			outputs[i] = keepSeparator(outputLines(printed), st.output)
		}
		shown, now := lines[b.first:b.end], body(b.steps, outputs)
		// A block that differs only in what varies from run to run (volatile.go) is left as it
		// is: what it shows was printed by a run, and rewriting it would change the page for
		// nothing.
		if slices.Equal(masked(shown), masked(now)) {
			say("%s:%d: %s, output as shown", page, b.line, words.Count(len(b.steps), "command"))
			continue
		}
		if o.Check {
			say("%s:%d: %s, output DIFFERS", page, b.line, words.Count(len(b.steps), "command"))
			found = append(found, stale{page: page, line: b.line, diff: lineDiff(shown, now)})
			continue
		}
		say("%s:%d: %s, output regenerated", page, b.line, words.Count(len(b.steps), "command"))
		out = append(append(out, lines[next:b.first]...), now...)
		next = b.end
	}
	if o.Check || next == 0 {
		return found, nil
	}
	out = append(out, lines[next:]...)
	tmp := path + ".docs-outputs"
	if err := os.WriteFile(tmp, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		return nil, err
	}
	return nil, os.Rename(tmp, path)
}

// keepSeparator is what a command printed followed by the blank lines that end what the page
// shows of it: the page's space between one command's output and the next.
func keepSeparator(printed, shown []string) []string {
	for trailingBlanks(shown) > trailingBlanks(printed) {
		printed = append(printed, "")
	}
	return printed
}

// trailingBlanks is how many blank lines lines end with.
func trailingBlanks(lines []string) int {
	n := 0
	for n < len(lines) && lines[len(lines)-1-n] == "" {
		n++
	}
	return n
}

// copyRepository copies the repository's files (not .git, not bin/) to dir.
func copyRepository(root, dir string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if d.Name() == ".git" || rel == "bin" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
	})
}
