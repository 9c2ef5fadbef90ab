package main

import (
	"fmt"
	"strings"
)

// skipMarker, on the line just before a block's opening fence, keeps the block as it is written:
// for a session that the sandbox cannot replay (a council deleted first, one it does not hold).
// The rest of the comment says why, for whoever reads the page's source.
const skipMarker = "<!-- docs-outputs: skip"

// prompt begins a command line in a block; a kubectl command (the plugin's too) begins with
// kubectlPrompt.
const (
	prompt        = "$ "
	kubectlPrompt = "$ kubectl"
)

// block is a fenced block of a page that shows kubectl commands (`kubectl caseload` or plain
// kubectl) and what they print.
type block struct {
	// line is the opening fence's line number (from 1), to name the block in messages.
	line int
	// first and end are the body's lines in the page's lines: [first, end).
	first, end int
	// skip is set by skipMarker.
	skip bool
	// steps are the body's commands, each with the output the page shows.
	steps []step
}

// step is one command of a block: its lines as written (a command may go on over lines ending in
// a backslash) and the lines the page shows it printing.
type step struct {
	command []string
	output  []string
}

// text is the command as a shell reads it, the prompt removed.
func (s step) text() string {
	return strings.TrimPrefix(strings.Join(s.command, "\n"), prompt)
}

// findBlocks returns the fenced blocks of a page (its lines) that show a kubectl command. A block whose first line is not a command, or an unclosed fence, is an error: the
// page would be rewritten wrongly.
func findBlocks(page string, lines []string) ([]block, error) {
	var blocks []block
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") {
			continue
		}
		open := i
		i++
		for i < len(lines) && strings.TrimSpace(lines[i]) != "```" {
			i++
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s:%d: this fence is never closed", page, open+1)
		}
		b := block{line: open + 1, first: open + 1, end: i, skip: open > 0 && strings.HasPrefix(strings.TrimSpace(lines[open-1]), skipMarker)}
		if !showsKubectl(lines[b.first:b.end]) {
			continue
		}
		steps, err := splitSteps(lines[b.first:b.end])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", page, b.line, err)
		}
		b.steps = steps
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// showsKubectl reports whether a block's body runs kubectl, the plugin or kubectl's own commands.
func showsKubectl(body []string) bool {
	for _, l := range body {
		if l == kubectlPrompt || strings.HasPrefix(l, kubectlPrompt+" ") {
			return true
		}
	}
	return false
}

// splitSteps cuts a block's body into its commands and what each printed: a command's output
// runs up to the next command line or the end of the block.
func splitSteps(body []string) ([]step, error) {
	var steps []step
	for i := 0; i < len(body); {
		if !strings.HasPrefix(body[i], prompt) {
			return nil, fmt.Errorf("the block's line %q comes before any command: begin it with a command (%q) or mark the block %s -->", body[i], prompt, skipMarker)
		}
		var s step
		for {
			s.command = append(s.command, body[i])
			i++
			if !strings.HasSuffix(s.command[len(s.command)-1], `\`) || i == len(body) {
				break
			}
		}
		for i < len(body) && !strings.HasPrefix(body[i], prompt) {
			s.output = append(s.output, body[i])
			i++
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// body is the block's body with each command followed by outputs[i].
func body(steps []step, outputs [][]string) []string {
	var out []string
	for i, s := range steps {
		out = append(append(out, s.command...), outputs[i]...)
	}
	return out
}

// outputLines are the lines a terminal shows for what a command printed.
func outputLines(printed string) []string {
	if printed == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(printed, "\n"), "\n")
}

// lineDiff shows how the lines now differ from shown, line by line: "-" for a line shown that
// is not printed now, "+" for one printed now that is not shown, two spaces for a line in both.
func lineDiff(shown, now []string) string {
	// common[i][j] is the length of the longest common subsequence of shown[i:] and now[j:].
	common := make([][]int, len(shown)+1)
	for i := range common {
		common[i] = make([]int, len(now)+1)
	}
	for i := len(shown) - 1; i >= 0; i-- {
		for j := len(now) - 1; j >= 0; j-- {
			if shown[i] == now[j] {
				common[i][j] = common[i+1][j+1] + 1
			} else {
				common[i][j] = max(common[i+1][j], common[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < len(shown) || j < len(now) {
		switch {
		case i < len(shown) && j < len(now) && shown[i] == now[j]:
			b.WriteString("  " + shown[i] + "\n")
			i, j = i+1, j+1
		case i < len(shown) && (j == len(now) || common[i+1][j] >= common[i][j+1]):
			b.WriteString("- " + shown[i] + "\n")
			i++
		default:
			b.WriteString("+ " + now[j] + "\n")
			j++
		}
	}
	return b.String()
}
