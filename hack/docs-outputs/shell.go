package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"caseload.dev/caseload-operator/internal/plugin"
)

// The pages' commands are read as a shell reads them, for the little shell they use:
//
//	kubectl caseload ARGS... [2>/dev/null] [| FILTER ARGS...]...
//	kubectl ARGS...    [2>/dev/null] [| FILTER ARGS...]...
//	echo $?            the last command's exit status
//	cat FILE           the file; one the page shows but nobody has is written from the page
//	cd DIR             for the rest of the block (each block starts at the repository's root)
//	export ...         prints nothing (the plugin runs in process, on the sandbox, whatever PATH says);
//	                   KUBECONFIG may be set only to bin/sandbox.kubeconfig, the sandbox's
//	COMMAND; COMMAND   one after the other
//
// with words quoted '...' or "...", and a backslash ending a line going on to the next. The
// plugin runs in this process, on the sandbox and the fixed clock; so does kubectl, with its own
// command and the sandbox's kubeconfig; a filter is one of filters, run as a program. Anything
// else is an error naming the command, not a guess.

// filters are the programs a pipeline may send the plugin's output through.
var filters = map[string]bool{"head": true, "tail": true, "grep": true, "sed": true, "sort": true, "wc": true, "cut": true}

// word is a word of a command line; special is set when it holds, unquoted, a character this
// reader gives no meaning to (redirections, globs, separators).
type word struct {
	text    string
	special bool
}

// pipeline is a command line: its stages (separated by unquoted |), words unquoted.
type pipeline struct {
	stages [][]string
	// dropStderr is 2>/dev/null on the first stage.
	dropStderr bool
}

// parse reads a command line.
func parse(line string) (pipeline, error) {
	var p pipeline
	var stage []word
	var cur strings.Builder
	inWord, special := false, false
	end := func() {
		if inWord {
			stage = append(stage, word{text: cur.String(), special: special})
		}
		cur.Reset()
		inWord, special = false, false
	}
	endStage := func() error {
		end()
		if len(stage) == 0 {
			return errors.New("a pipe with no command on one side")
		}
		var words []string
		for i, w := range stage {
			switch {
			case w.text == "2>/dev/null" && len(p.stages) == 0 && i > 0:
				p.dropStderr = true
			case w.special:
				return fmt.Errorf("%q: only 2>/dev/null after a kubectl command is understood", w.text)
			default:
				words = append(words, w.text)
			}
		}
		p.stages = append(p.stages, words)
		stage = nil
		return nil
	}
	r := []rune(line)
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '\\' && i+1 < len(r) && r[i+1] == '\n':
			i++ // a line that goes on
		case c == '\\' && i+1 < len(r):
			i++
			cur.WriteRune(r[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			end()
		case c == '|':
			if err := endStage(); err != nil {
				return p, err
			}
		case c == '\'':
			j := i + 1
			for j < len(r) && r[j] != '\'' {
				j++
			}
			if j == len(r) {
				return p, errors.New("a quote (') is never closed")
			}
			cur.WriteString(string(r[i+1 : j]))
			inWord, i = true, j
		case c == '"':
			j := i + 1
			for ; j < len(r) && r[j] != '"'; j++ {
				switch {
				case r[j] == '$' || r[j] == '`':
					return p, fmt.Errorf("%q in double quotes: expansions are not understood", r[j])
				case r[j] == '\\' && j+1 < len(r) && strings.ContainsRune(`"\`, r[j+1]):
					j++
				}
				cur.WriteRune(r[j])
			}
			if j == len(r) {
				return p, errors.New(`a quote (") is never closed`)
			}
			inWord, i = true, j
		case c == '$':
			if i+1 >= len(r) || r[i+1] != '?' {
				return p, errors.New("$: of the shell's expansions only $? (echo $?) is understood")
			}
			cur.WriteString("$?")
			inWord, i = true, i+1
		default:
			if strings.ContainsRune("<>;&`()*~", c) {
				special = true
			}
			cur.WriteRune(c)
			inWord = true
		}
	}
	if err := endStage(); err != nil {
		return p, err
	}
	return p, nil
}

// session runs a page's commands one after another, as a terminal at the repository's root
// would: in work, a copy of the repository, so that what the commands write stays out of it.
type session struct {
	ctx context.Context
	// settler waits for the operator after a kubectl command that changed something.
	settler *settler
	// work is the copy of the repository the commands run in; dir is where the block has cd'd.
	work, dir string
	// pluginArgs go before every plugin command's own: the sandbox's kubeconfig; kubectlArgs
	// before every kubectl command's: the sandbox's kubeconfig and a discovery cache of its own.
	pluginArgs, kubectlArgs []string
	opts                    []plugin.Option
	// status is the last command's exit status, for echo $?.
	status int
}

// run runs a step and returns what a terminal shows of it; shown is the page's output of the
// step, which `cat` writes when the page shows a file nobody has yet.
func (s *session) run(text string, shown []string) (string, error) {
	if strings.HasPrefix(text, "export ") {
		// Setting the environment (PATH, for kubectl to find the plugin; KUBECONFIG, for the
		// sandbox's, which every command here is given anyway): nothing to print.
		if v, ok := strings.CutPrefix(text, "export KUBECONFIG="); ok && v != sandboxKubeconfig {
			return "", fmt.Errorf("KUBECONFIG=%s: the commands here run on the sandbox, whose kubeconfig is %s", v, sandboxKubeconfig)
		}
		s.status = 0
		return "", nil
	}
	var printed strings.Builder
	for _, c := range commands(text) {
		out, err := s.command(c, shown)
		if err != nil {
			return "", err
		}
		printed.WriteString(out)
	}
	return printed.String(), nil
}

// commands cuts a line at each unquoted ";" into the commands it runs one after the other.
func commands(line string) []string {
	var out []string
	start, quote := 0, rune(0)
	for i, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'', c == '"':
			quote = c
		case c == ';':
			out = append(out, line[start:i])
			start = i + 1
		}
	}
	return append(out, line[start:])
}

// command runs one command of a line.
func (s *session) command(text string, shown []string) (string, error) {
	p, err := parse(text)
	if err != nil {
		return "", err
	}
	first := p.stages[0]
	simple := len(p.stages) == 1 && !p.dropStderr
	switch {
	case len(first) >= 2 && first[0] == "kubectl" && first[1] == "caseload":
		return s.plugin(first[2:], p)
	case first[0] == "kubectl":
		return s.kubectl(first[1:], p)
	case !simple:
		return "", fmt.Errorf("only kubectl's output is piped or redirected here, not %s's", first[0])
	case first[0] == "echo":
		out := strings.Join(first[1:], " ")
		out = strings.ReplaceAll(out, "$?", strconv.Itoa(s.status))
		s.status = 0
		return out + "\n", nil
	case first[0] == "cat" && len(first) == 2:
		return s.cat(first[1], shown)
	case first[0] == "cd" && len(first) == 2:
		dir, err := s.path(first[1])
		if err != nil {
			return "", err
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("cd %s: no such directory in the repository", first[1])
		}
		s.dir, s.status = dir, 0
		return "", nil
	}
	return "", fmt.Errorf("%s: not a command this tool runs (kubectl caseload, kubectl, echo, cat, cd, export)", first[0])
}

// plugin runs `kubectl caseload args` in process, then the filters of the pipeline over its
// standard output. Standard error goes straight to the terminal unless 2>/dev/null drops it.
func (s *session) plugin(args []string, p pipeline) (string, error) {
	if err := os.Chdir(s.dir); err != nil {
		return "", err
	}
	var terminal, stdout bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &terminal, ErrOut: &terminal}
	if len(p.stages) > 1 {
		streams.Out = &stdout
	}
	if p.dropStderr {
		streams.ErrOut = io.Discard
	}
	s.status = plugin.Run(append(append([]string{}, s.pluginArgs...), args...), streams, s.opts...)
	if len(p.stages) == 1 {
		return terminal.String(), nil
	}
	return s.filter(p, stdout.Bytes(), &terminal)
}

// filter runs the filters of the pipeline after its first stage over in, what that stage wrote to
// standard output, and returns the terminal with the last filter's output after it.
func (s *session) filter(p pipeline, in []byte, terminal *bytes.Buffer) (string, error) {
	for _, f := range p.stages[1:] {
		if !filters[f[0]] {
			return "", fmt.Errorf("%s: a command's output may be piped only through %s", f[0], strings.Join(slices.Sorted(maps.Keys(filters)), ", "))
		}
		cmd := exec.Command(f[0], f[1:]...)
		cmd.Dir, cmd.Stdin = s.dir, bytes.NewReader(in)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, terminal
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			s.status = exit.ExitCode()
		case err != nil:
			return "", err
		default:
			s.status = 0
		}
		in = out.Bytes()
	}
	return terminal.String() + string(in), nil
}

// cat prints a file. A file the page shows that is not in the repository is one the reader is
// to have (an extract, say): it is written from the page, so the commands after it can read it.
func (s *session) cat(name string, shown []string) (string, error) {
	path, err := s.path(name)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		data = []byte(strings.Join(shown, "\n") + "\n")
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		return "", err
	}
	s.status = 0
	return string(data), nil
}

// path is name from the block's directory, which must stay in the copy of the repository.
func (s *session) path(name string) (string, error) {
	path := filepath.Clean(filepath.Join(s.dir, name))
	if filepath.IsAbs(name) || (path != s.work && !strings.HasPrefix(path, s.work+string(filepath.Separator))) {
		return "", fmt.Errorf("%s: outside the repository", name)
	}
	return path, nil
}
