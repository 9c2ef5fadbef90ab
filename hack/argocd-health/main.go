// Command argocd-health writes the Argo CD health checks from their one source,
// config/argocd/health: every kind's resource_customizations/caseload.dev/<Kind>/health.lua (a
// real file: Argo CD embeds its customizations with go:embed, which leaves symbolic links out),
// config/argocd/argocd-cm.yaml, and the copy of that ConfigMap in docs/gitops.md.
//
//	go run ./hack/argocd-health          # writes them (run from the repository's root)
//	go run ./hack/argocd-health -check   # fails when a committed file differs
//
// test/gitops/argocd fails the same way, and runs every script as Argo CD does.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"caseload.dev/caseload-operator/test/gitops/argocd"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	check := flag.Bool("check", false, "compare with the committed files instead of writing them")
	flag.Parse()

	files, err := argocd.Generate(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "argocd-health:", err)
		os.Exit(1)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	stale := false
	for _, name := range names {
		path := filepath.Join(*root, name)
		old, err := os.ReadFile(path)
		info, lerr := os.Lstat(path)
		current := err == nil && lerr == nil && info.Mode().IsRegular() && bytes.Equal(old, files[name])
		if current {
			continue
		}
		if *check {
			fmt.Fprintf(os.Stderr, "argocd-health: %s is out of date: run go run ./hack/argocd-health\n", name)
			stale = true
			continue
		}
		// A link is replaced, never written through: writing would change the file it points at.
		if lerr == nil && !info.Mode().IsRegular() {
			if err := os.Remove(path); err != nil {
				fmt.Fprintln(os.Stderr, "argocd-health:", err)
				os.Exit(1)
			}
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "argocd-health:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "argocd-health:", err)
			os.Exit(1)
		}
		fmt.Println("argocd-health: wrote", name)
	}
	if stale {
		os.Exit(1)
	}
}
