package plan

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"caseload.dev/caseload-operator/internal/plugin/kit"
)

// VerifyOptions are `kubectl caseload verify`'s: the directory whose suites it runs.
type VerifyOptions struct {
	*kit.Flags
	// Dir holds the suites: every YAML file under it that is one.
	Dir string
}

// NewVerifyCommand is `kubectl caseload verify`.
func NewVerifyCommand(f *kit.Flags) *cobra.Command {
	o := &VerifyOptions{Flags: f}
	return &cobra.Command{
		Use:   "verify DIR",
		Short: "Run a council's policy tests: suites of allocations and what admission should make of them",
		Long: "kubectl caseload verify runs every suite (apiVersion " + SuiteVersion + ", kind Suite) in the YAML files under " +
			"DIR, offline, with the policy engine the admission webhook uses: each test changes a case of the suite's " +
			"inventory (allocates it, moves it to another team, or patches it) or creates one, under the suite's quotas, " +
			"and says whether admission allows or refuses it as expected, with a message matching. Each suite names the " +
			"day its tests are decided on and the time zone each council's days are counted in. Output like go test; " +
			"exit status 1 when any test fails.",
		Args: cobra.ExactArgs(1),
		RunE: kit.RunE(o),
	}
}

// Complete takes the directory from the arguments.
func (o *VerifyOptions) Complete(args []string) error {
	o.Dir = ""
	if len(args) == 1 {
		o.Dir = args[0]
	}
	return nil
}

// Validate refuses a directory that is not there before any suite is looked for.
func (o *VerifyOptions) Validate() error {
	info, err := os.Stat(o.Dir)
	switch {
	case err != nil:
		return err
	case !info.IsDir():
		return fmt.Errorf("%s is not a directory: verify runs the suites under a directory", o.Dir)
	}
	return nil
}

// Run runs every suite under the directory and prints, as go test does, each test and each
// suite's verdict; it ends with exit status 1 when any test failed.
func (o *VerifyOptions) Run(ctx context.Context) error {
	suites, err := findSuites(o.Dir)
	if err != nil {
		return err
	}
	if len(suites) == 0 {
		return fmt.Errorf("no suite (apiVersion %s, kind Suite) under %s", SuiteVersion, o.Dir)
	}
	out := o.Streams.Out
	failed := 0
	for _, path := range suites {
		// How long a suite took, as go test says it, by the command's clock.
		start := o.Now()
		s, err := ReadSuite(path)
		var ran *suiteRun
		if err == nil {
			ran, err = s.run(ctx, path, o.Flags)
		}
		if err != nil {
			fmt.Fprintf(out, "FAIL\t%s\t%v\n", path, err)
			failed++
			continue
		}
		for _, c := range ran.councils {
			fmt.Fprintf(out, "%s: %s\n", s.Metadata.Name, c)
		}
		bad := 0
		for _, r := range ran.results {
			fmt.Fprintf(out, "=== RUN   %s/%s\n", s.Metadata.Name, r.name)
			if r.failure == "" {
				fmt.Fprintf(out, "--- PASS: %s/%s\n", s.Metadata.Name, r.name)
				continue
			}
			bad++
			fmt.Fprintf(out, "--- FAIL: %s/%s\n    %s\n", s.Metadata.Name, r.name, strings.ReplaceAll(r.failure, "\n", "\n    "))
		}
		took := o.Now().Sub(start).Seconds()
		if bad > 0 {
			failed++
			fmt.Fprintf(out, "FAIL\t%s\t%.3fs (%d of %d tests failed)\n", path, took, bad, len(ran.results))
		} else {
			fmt.Fprintf(out, "ok  \t%s\t%.3fs (%d tests)\n", path, took, len(ran.results))
		}
	}
	if failed > 0 {
		return &kit.ExitError{Code: 1, Err: fmt.Errorf("%d suites failed", failed)}
	}
	return nil
}
