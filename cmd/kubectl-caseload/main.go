// Command kubectl-caseload is the kubectl plugin of caseload-operator: on the PATH it runs as
// `kubectl caseload`. See internal/plugin.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"caseload.dev/caseload-operator/internal/plugin"
)

func main() {
	os.Exit(plugin.Run(os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
