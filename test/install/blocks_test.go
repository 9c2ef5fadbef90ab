package install

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// block is one fenced code block of a Markdown file.
type block struct {
	// line is the line of the opening fence, counted from 1.
	line int
	// lang is the first word of the info string ("sh", "console", "yaml").
	lang string
	// walkthrough is set by the word "walkthrough" in the info string: the test runs the block.
	walkthrough bool
	// file is the path named by a "<!-- file: PATH -->" comment on the line before the fence: the
	// block shows that file of the repository, whole.
	file string
	text string
}

// name says where a block is, for messages.
func (b block) name() string { return fmt.Sprintf("docs/install.md:%d (```%s)", b.line, b.lang) }

// firstLine is the block's first line that is neither blank nor a comment, without a prompt.
func (b block) firstLine() string {
	for _, l := range strings.Split(b.text, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(l, "$ "))
		if l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

var fileComment = regexp.MustCompile(`^<!--\s*file:\s*(\S+)\s*-->$`)

// readBlocks returns the fenced code blocks of a Markdown file, in order.
func readBlocks(path string) ([]block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks []block
		open   *block
		body   []string
		prev   string
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if open != nil {
			if strings.TrimSpace(line) == "```" {
				open.text = strings.Join(body, "\n")
				blocks = append(blocks, *open)
				open, body = nil, nil
			} else {
				body = append(body, line)
			}
			continue
		}
		if info, ok := strings.CutPrefix(line, "```"); ok {
			words := strings.Fields(info)
			b := block{line: n}
			if len(words) > 0 {
				b.lang = words[0]
			}
			for _, w := range words[1:] {
				if w == "walkthrough" {
					b.walkthrough = true
				}
			}
			if m := fileComment.FindStringSubmatch(strings.TrimSpace(prev)); m != nil {
				b.file = m[1]
			}
			open = &b
		}
		if strings.TrimSpace(line) != "" {
			prev = line
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if open != nil {
		return nil, fmt.Errorf("%s: the block opened on line %d is never closed", path, open.line)
	}
	return blocks, nil
}

// step is one command of a console block and the output it shows.
type step struct {
	line    int
	command string
	want    []string
}

// steps splits a console block into its commands (lines after "$ ", continued by a trailing
// backslash) and the output shown after each.
func steps(b block) ([]step, error) {
	var out []step
	continued := false
	for i, l := range strings.Split(b.text, "\n") {
		switch {
		case continued:
			out[len(out)-1].command += "\n" + l
		case strings.HasPrefix(l, "$ "):
			out = append(out, step{line: b.line + 1 + i, command: strings.TrimPrefix(l, "$ ")})
		case len(out) == 0:
			if strings.TrimSpace(l) == "" {
				continue
			}
			return nil, fmt.Errorf("%s: output before the first command (a line starting with \"$ \")", b.name())
		default:
			out[len(out)-1].want = append(out[len(out)-1].want, l)
		}
		continued = strings.HasSuffix(l, `\`) && (continued || strings.HasPrefix(l, "$ "))
	}
	return out, nil
}

// age is how long ago kubectl says an object was made ("33s", "2m10s", "5d"), and how long a
// command says it took: it differs from run to run.
var age = regexp.MustCompile(`\b[0-9]+(ms|s|m|h|d)([0-9]+(ms|s|m|h))?\b`)

// normalise makes a line of output comparable: runs of blanks are one space (column widths
// follow the widest cell) and ages and durations are one word.
func normalise(l string) string {
	return age.ReplaceAllString(strings.Join(strings.Fields(l), " "), "AGE")
}

// linePattern turns a line of expected output into a pattern: "..." stands for any text.
func linePattern(want string) *regexp.Regexp {
	parts := strings.Split(normalise(want), "...")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// matches says whether got is the output want shows. A line of want that is only "..." stands
// for any number of lines; "..." in a line, for any text; ages and widths are ignored.
func matches(want, got []string) bool {
	want, got = trimBlank(want), trimBlank(got)
	pats := make([]*regexp.Regexp, len(want))
	for i, w := range want {
		if strings.TrimSpace(w) != "..." {
			pats[i] = linePattern(w)
		}
	}
	memo := map[[2]int]bool{}
	var match func(i, j int) bool
	match = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var ok bool
		switch {
		case i == len(want):
			ok = j == len(got)
		case pats[i] == nil:
			ok = match(i+1, j) || (j < len(got) && match(i, j+1))
		default:
			ok = j < len(got) && pats[i].MatchString(normalise(got[j])) && match(i+1, j+1)
		}
		memo[key] = ok
		return ok
	}
	return match(0, 0)
}

// trimBlank drops blank lines at the start and the end.
func trimBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func TestExpectedOutputMatching(t *testing.T) {
	for _, tc := range []struct {
		name      string
		want, got string
		ok        bool
	}{
		{"same", "a b\nc", "a b\nc\n", true},
		{"widths and ages", "NAME   AGE\nnorth  33s", "NAME AGE\nnorth     2m10s", true},
		{"elided lines", "first\n...\nlast", "first\nx\ny\nlast", true},
		{"elided nothing", "first\n...\nlast", "first\nlast", true},
		{"elided text", "until ...: case c-1", "until 2026-12-28T17:58:26Z: case c-1", true},
		{"a line missing", "first\nlast", "first", false},
		{"a line too many", "first", "first\nsecond", false},
		{"another figure", "sw-1 7.25", "sw-1 7.5", false},
		{"dots are not a pattern", "1.5", "125", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := matches(strings.Split(tc.want, "\n"), strings.Split(tc.got, "\n")); got != tc.ok {
				t.Errorf("matches(%q, %q) = %v, want %v", tc.want, tc.got, got, tc.ok)
			}
		})
	}
}

func TestConsoleSteps(t *testing.T) {
	b := block{line: 10, lang: "console", text: "$ kubectl get tm \\\n    -n x\nNAME\n$ true\n"}
	got, err := steps(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].command != "kubectl get tm \\\n    -n x" || got[0].line != 11 ||
		strings.Join(got[0].want, "|") != "NAME" || got[1].command != "true" {
		t.Errorf("steps = %+v", got)
	}
	if _, err := steps(block{lang: "console", text: "output\n$ true"}); err == nil {
		t.Error("output before the first command was accepted")
	}
}
