package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"caseload.dev/caseload-operator/internal/testenv"
)

// TestPagesShowWhatTheCommandsPrint runs make docs-outputs CHECK=1: it fails, naming each block
// and how it differs, when README.md or docs/plugin.md shows a `kubectl caseload` output that the
// command no longer prints on the sample council. It needs kube-apiserver and etcd, as every
// envtest test does, and never skips.
func TestPagesShowWhatTheCommandsPrint(t *testing.T) {
	log.SetLogger(logr.Discard()) // the operator's log is not what the test is about
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := testenv.Assets(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	found, err := run(ctx, options{Root: root, Assets: assets, Check: true, LogFile: "(discarded)", Out: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	for _, s := range found {
		t.Errorf("%s", s)
	}
	if len(found) > 0 {
		t.Log("the pages show output the commands no longer print: run make docs-outputs and commit README.md and docs/plugin.md")
	}
}

func TestFindBlocks(t *testing.T) {
	page := strings.Join([]string{
		"Prose with `$ kubectl caseload top` in it.",
		"```",
		"$ kubectl -n brookfield get tm",
		"NAME",
		"```",
		"<!-- docs-outputs: skip: a council the sandbox does not hold -->",
		"```",
		"$ kubectl caseload restore -f walsall.snapshot.yaml",
		"old",
		"```",
		"```sh",
		"$ export PATH=\"$PWD/bin:$PATH\"",
		"$ kubectl caseload -n brookfield plan -f a.yaml \\",
		"    --snapshot b.yaml",
		"plan",
		"",
		"$ echo $?",
		"2",
		"```",
	}, "\n")
	blocks, err := findBlocks("page.md", strings.Split(page, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []block{
		{line: 2, first: 2, end: 4, steps: []step{{command: []string{"$ kubectl -n brookfield get tm"}, output: []string{"NAME"}}}},
		{line: 7, first: 7, end: 9, skip: true, steps: []step{{command: []string{"$ kubectl caseload restore -f walsall.snapshot.yaml"}, output: []string{"old"}}}},
		{line: 11, first: 11, end: 18, steps: []step{
			{command: []string{`$ export PATH="$PWD/bin:$PATH"`}},
			{command: []string{`$ kubectl caseload -n brookfield plan -f a.yaml \`, "    --snapshot b.yaml"}, output: []string{"plan", ""}},
			{command: []string{"$ echo $?"}, output: []string{"2"}},
		}},
	}
	if diff := cmp.Diff(want, blocks, cmp.AllowUnexported(block{}, step{})); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}

	for _, bad := range []string{"```\n$ kubectl caseload top\n", "```\nout\n$ kubectl caseload top\n```"} {
		if _, err := findBlocks("page.md", strings.Split(bad, "\n")); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestLineDiff(t *testing.T) {
	got := lineDiff([]string{"$ kubectl caseload top", "a", "b", "c"}, []string{"$ kubectl caseload top", "a", "B", "c", "d"})
	want := "  $ kubectl caseload top\n  a\n- b\n+ B\n  c\n+ d\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		line string
		want pipeline
	}{
		{"kubectl caseload -n brookfield top", pipeline{stages: [][]string{{"kubectl", "caseload", "-n", "brookfield", "top"}}}},
		{"kubectl caseload plan -f a.yaml \\\n    --snapshot b.yaml", pipeline{stages: [][]string{{"kubectl", "caseload", "plan", "-f", "a.yaml", "--snapshot", "b.yaml"}}}},
		{"kubectl caseload report --publish | grep -A5 'Team | Green'", pipeline{stages: [][]string{{"kubectl", "caseload", "report", "--publish"}, {"grep", "-A5", "Team | Green"}}}},
		{`kubectl caseload import --csv "my cases.csv" 2>/dev/null`, pipeline{stages: [][]string{{"kubectl", "caseload", "import", "--csv", "my cases.csv"}}, dropStderr: true}},
		{"echo $?", pipeline{stages: [][]string{{"echo", "$?"}}}},
	} {
		got, err := parse(c.line)
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(pipeline{})); diff != "" {
			t.Errorf("%q (-want +got):\n%s", c.line, diff)
		}
	}
	for _, bad := range []string{"kubectl caseload top > out.txt", "kubectl caseload top && echo done", "echo $HOME", "kubectl caseload top 'open", "kubectl caseload top |"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestKeepSeparator(t *testing.T) {
	for _, c := range []struct{ printed, shown, want []string }{
		{[]string{"a"}, []string{"old", ""}, []string{"a", ""}},
		{[]string{"a", ""}, []string{"old", ""}, []string{"a", ""}},
		{[]string{"a"}, []string{"old"}, []string{"a"}},
		{nil, []string{""}, []string{""}},
	} {
		if diff := cmp.Diff(c.want, keepSeparator(c.printed, c.shown)); diff != "" {
			t.Errorf("keepSeparator(%q, %q) (-want +got):\n%s", c.printed, c.shown, diff)
		}
	}
}

func TestCommands(t *testing.T) {
	got := commands(`kubectl get case c-2090 -o jsonpath='{.a};{"\n"}'; echo`)
	want := []string{`kubectl get case c-2090 -o jsonpath='{.a};{"\n"}'`, " echo"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}
