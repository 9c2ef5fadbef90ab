package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// sandboxKubeconfig is the kubeconfig `make run` writes, the one the pages export as KUBECONFIG.
const sandboxKubeconfig = "bin/sandbox.kubeconfig"

// fatal is how kubectl's fatal error handler leaves a command here: with the message and the
// exit status kubectl would have printed and exited with.
type fatal struct {
	msg  string
	code int
}

// kubectl runs `kubectl args` with kubectl's own command in this process, on the sandbox: its
// kubeconfig is given with --kubeconfig (whatever KUBECONFIG says), the user's kuberc is not
// read and the discovery cache is the session's, not the user's. Standard output and standard
// error both go to the terminal, unless 2>/dev/null drops the latter. What kubectl prints when it
// fails ("Error from server (NotFound): ...") is printed as it would be, and its exit status
// kept for echo $?. After a command that changes objects it waits for the operator to act on
// the change, so that the page's next command sees what a reader's would.
func (s *session) kubectl(args []string, p pipeline) (string, error) {
	if err := os.Chdir(s.dir); err != nil {
		return "", err
	}
	// kuberc would let the user's aliases and defaults change what the page's commands print.
	if err := os.Setenv("KUBERC", "off"); err != nil {
		return "", err
	}
	var terminal, stdout bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &terminal, ErrOut: &terminal}
	if len(p.stages) > 1 {
		streams.Out = &stdout
	}
	if p.dropStderr {
		streams.ErrOut = &bytes.Buffer{}
	}
	change := changing(args)
	s.status = runKubectl(append(append([]string{}, s.kubectlArgs...), args...), streams)
	if s.status == 0 && change {
		if err := s.settler.settle(s.ctx); err != nil {
			return "", err
		}
	}
	if len(p.stages) == 1 {
		return terminal.String(), nil
	}
	return s.filter(p, stdout.Bytes(), &terminal)
}

// runKubectl runs kubectl's command and returns its exit status. kubectl ends a failed command
// with os.Exit through cmdutil's fatal error handler: here the handler prints the message, as
// kubectl does, and unwinds to this function instead.
func runKubectl(args []string, streams genericiooptions.IOStreams) (status int) {
	cmdutil.BehaviorOnFatal(func(msg string, code int) { panic(fatal{msg: msg, code: code}) })
	defer cmdutil.DefaultBehaviorOnFatal()
	// kubectl makes its warning writer the process's default; the plugin and the operator set
	// their own, and nothing after this command should write to its terminal.
	defer rest.SetDefaultWarningHandler(rest.WarningLogger{})
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		f, ok := r.(fatal)
		if !ok {
			panic(r)
		}
		if f.msg != "" && !strings.HasSuffix(f.msg, "\n") {
			f.msg += "\n"
		}
		fmt.Fprint(streams.ErrOut, f.msg)
		status = f.code
	}()
	cmd := kubectlcmd.NewKubectlCommand(kubectlcmd.KubectlOptions{
		Arguments: append([]string{"kubectl"}, args...),
		IOStreams: streams,
	})
	cmd.SetArgs(args)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	if err := cmd.Execute(); err != nil {
		// What kubectl's main does with an error its command returns.
		cmdutil.CheckErr(err)
	}
	return 0
}
