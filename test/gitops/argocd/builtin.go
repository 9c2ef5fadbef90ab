package argocd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// HealthScript finds obj's health script as Argo CD's VM.GetHealthScript does: argocd-cm's
// script for its group/kind first, with argocd-cm's useOpenLibs; else the built-in script
// <group>/<kind>/health.lua of builtin, with the libraries open; else none ("").
func HealthScript(obj *unstructured.Unstructured, overrides map[string]Override, builtin fs.FS) (script string, useOpenLibs bool, err error) {
	key := ConfigMapKey(obj)
	if o, ok := overrides[key]; ok && o.HealthLua != "" {
		return o.HealthLua, o.UseOpenLibs, nil
	}
	if builtin == nil {
		return "", false, nil
	}
	data, err := fs.ReadFile(builtin, path.Join(key, "health.lua"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(data), true, nil
}

// EmbeddedFS is dir as Argo CD's binary holds it: resource_customizations/embed.go says
// `//go:embed all:*`, and the go command (cmd/go/internal/load, resolveEmbed) then embeds every
// regular file under each entry of the directory, names starting with . or _ included (that is
// what all: means), but never a symbolic link nor anything under a directory holding a go.mod,
// nor a version-control directory. A health.lua that is a link is not in Argo CD at all.
// A link among the top-level entries is an error, as it is for the go command.
func EmbeddedFS(dir string) (fs.FS, error) {
	out := fstest.MapFS{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, top := range entries {
		name := top.Name()
		if name == "embed.go" {
			continue // Argo CD's own source file; embedded too, of no interest here
		}
		switch {
		case top.Type().IsRegular():
			if err := addFile(out, dir, name); err != nil {
				return nil, err
			}
			continue
		case !top.IsDir():
			return nil, fmt.Errorf("cannot embed irregular file %s", name)
		}
		count := 0
		err := filepath.WalkDir(filepath.Join(dir, name), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			if rel != name && vcsDir[d.Name()] {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil // a link, a device, a pipe: never embedded
			}
			count++
			return addFile(out, dir, rel)
		})
		if err != nil {
			return nil, err
		}
		if count == 0 {
			return nil, fmt.Errorf("cannot embed directory %s: contains no embeddable files", name)
		}
	}
	return out, nil
}

var vcsDir = map[string]bool{".bzr": true, ".hg": true, ".git": true, ".svn": true}

func addFile(out fstest.MapFS, dir, rel string) error {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	out[rel] = &fstest.MapFile{Data: data, Mode: 0o444}
	return nil
}

// Files lists the regular files of fsys, sorted.
func Files(fsys fs.FS) ([]string, error) {
	var out []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	sort.Strings(out)
	return out, err
}
