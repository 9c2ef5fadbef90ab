package argocd

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const root = "../../.."

var customizations = filepath.Join(root, CustomizationsDir)

// suite is a health_test.yaml, in Argo CD's format.
type suite struct {
	Tests []struct {
		InputPath    string        `json:"inputPath"`
		HealthStatus *HealthStatus `json:"healthStatus"`
	} `json:"tests"`
}

func readSuite(t *testing.T, dir string) suite {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var s suite
	if err := yaml.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s/health_test.yaml: %v", dir, err)
	}
	return s
}

func readObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &unstructured.Unstructured{Object: obj}
}

// TestGeneratedFilesAreCurrent fails when a kind's health.lua, argocd-cm.yaml or the ConfigMap
// in docs/gitops.md differs from what config/argocd/health writes.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	files, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is out of date (%v): run go run ./hack/argocd-health and commit it", name, err)
		}
	}
}

// TestNoSymbolicLinks: Argo CD embeds resource_customizations with go:embed, which leaves links
// out, and a repository's raw view of a link is the path it points at, which Lua cannot parse.
// Every file under config/argocd is a real file, and every file of resource_customizations is
// one Argo CD would embed.
func TestNoSymbolicLinks(t *testing.T) {
	var onDisk []string
	err := filepath.WalkDir(filepath.Join(root, "config", "argocd"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			t.Errorf("%s is a symbolic link: Argo CD would not see it; run go run ./hack/argocd-health", p)
		} else if !d.IsDir() && !d.Type().IsRegular() {
			t.Errorf("%s is not a regular file", p)
		}
		if rel, err := filepath.Rel(customizations, p); err == nil && !strings.HasPrefix(rel, "..") && !d.IsDir() {
			onDisk = append(onDisk, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := EmbeddedFS(customizations)
	if err != nil {
		t.Fatal(err)
	}
	inArgo, err := Files(embedded)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range onDisk {
		if !slices.Contains(inArgo, f) {
			t.Errorf("Argo CD would not embed %s", f)
		}
	}
}

// TestEveryKindHasAHealthCheck: every kind of the API (config/crd/bases) has its script, its
// health_test.yaml with a test at least, and its key in argocd-cm; and no path or key is one of
// Argo CD's wildcards.
func TestEveryKindHasAHealthCheck(t *testing.T) {
	crds, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	var api []string
	for _, f := range crds {
		var crd struct {
			Spec struct {
				Group string
				Names struct{ Kind string }
			}
		}
		data, err := os.ReadFile(f)
		if err != nil || yaml.Unmarshal(data, &crd) != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if crd.Spec.Group != Group {
			t.Errorf("%s serves group %s, the health checks are for %s", f, crd.Spec.Group, Group)
		}
		api = append(api, crd.Spec.Names.Kind)
	}
	slices.Sort(api)
	if !slices.Equal(api, SortedKinds()) {
		t.Errorf("the API has kinds %v, the health checks cover %v", api, SortedKinds())
	}
	dirs, _ := os.ReadDir(filepath.Join(customizations, Group))
	var laidOut []string
	for _, d := range dirs {
		laidOut = append(laidOut, d.Name())
	}
	if !slices.Equal(laidOut, SortedKinds()) {
		t.Errorf("resource_customizations/%s holds %v, want %v", Group, laidOut, SortedKinds())
	}
	for _, kind := range SortedKinds() {
		if strings.ContainsAny(Group+kind, "*_") {
			t.Errorf("%s/%s would be one of Argo CD's wildcards", Group, kind)
		}
		if s := readSuite(t, filepath.Join(customizations, Group, kind)); len(s.Tests) == 0 {
			t.Errorf("%s/health_test.yaml has no test", kind)
		}
	}
}

// TestLuaHealthScript is Argo CD's own test of its built-in scripts (util/lua/health_test.go,
// v3.6.2) run on config/argocd/resource_customizations as if it were Argo CD's: it walks the
// directory, requires a health_test.yaml beside every path containing health.lua, and runs each
// test's object through the script Argo CD's binary holds for its kind (see EmbeddedFS), with
// the libraries open as Argo CD opens them for a built-in script, for exactly the health
// recorded.
func TestLuaHealthScript(t *testing.T) {
	embedded, err := EmbeddedFS(customizations)
	if err != nil {
		t.Fatal(err)
	}
	walked := 0
	err = filepath.Walk(customizations, func(path string, _ os.FileInfo, err error) error {
		if !strings.Contains(path, "health.lua") {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		walked++
		dir := filepath.Dir(path)
		if _, err := os.Stat(filepath.Join(dir, "health_test.yaml")); err != nil {
			t.Fatalf("%s: Argo CD's walker stops here: %v", path, err)
		}
		for _, tc := range readSuite(t, dir).Tests {
			rel, _ := filepath.Rel(customizations, dir)
			t.Run(filepath.Join(rel, tc.InputPath), func(t *testing.T) {
				obj := readObject(t, filepath.Join(dir, tc.InputPath))
				script, _, err := HealthScript(obj, nil, embedded)
				if err != nil {
					t.Fatal(err)
				}
				if script == "" {
					t.Errorf("Argo CD would hold no health.lua for %s", ConfigMapKey(obj))
				}
				vm := VM{UseOpenLibs: true}
				got, err := vm.ExecuteHealthLua(obj, script)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tc.HealthStatus) {
					t.Errorf("%s: got %+v, want %+v", tc.InputPath, got, tc.HealthStatus)
				}
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if walked != len(Kinds) {
		t.Errorf("the walk met %d health.lua, want one for each of the %d kinds", walked, len(Kinds))
	}
}

// TestArgoCDConfigMap reads config/argocd/argocd-cm.yaml as Argo CD reads argocd-cm: it is
// named argocd-cm and labelled part of Argo CD, holds the health script of every kind and nothing
// else, needs no useOpenLibs, and for every health_test.yaml gives the health recorded, the
// script run as Argo CD runs a script from argocd-cm.
func TestArgoCDConfigMap(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, ConfigMapFile))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" || cm.Labels["app.kubernetes.io/part-of"] != "argocd" {
		t.Errorf("%s is %s %s %s labelled %v: Argo CD reads only v1 ConfigMap argocd-cm labelled app.kubernetes.io/part-of: argocd",
			ConfigMapFile, cm.APIVersion, cm.Kind, cm.Name, cm.Labels)
	}
	overrides, err := OverridesFromConfigMap(cm.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.Data) != len(Kinds) || len(overrides) != len(Kinds) {
		t.Errorf("argocd-cm has keys %d and customizations %d, want one for each of the %d kinds", len(cm.Data), len(overrides), len(Kinds))
	}
	for _, kind := range SortedKinds() {
		o := overrides[Group+"/"+kind]
		file, err := os.ReadFile(filepath.Join(root, HealthFile(kind)))
		if err != nil {
			t.Fatal(err)
		}
		if o.HealthLua != string(file) {
			t.Errorf("argocd-cm's script for %s differs from %s", kind, HealthFile(kind))
		}
		if o.UseOpenLibs {
			t.Errorf("argocd-cm opens the libraries for %s: the scripts must not need them", kind)
		}
		dir := filepath.Join(customizations, Group, kind)
		for _, tc := range readSuite(t, dir).Tests {
			t.Run(kind+"/"+tc.InputPath, func(t *testing.T) {
				obj := readObject(t, filepath.Join(dir, tc.InputPath))
				if obj.GetKind() != kind || obj.GroupVersionKind().Group != Group {
					t.Fatalf("%s is a %s, in %s's tests", tc.InputPath, obj.GroupVersionKind(), kind)
				}
				script, useOpenLibs, err := HealthScript(obj, overrides, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := VM{UseOpenLibs: useOpenLibs}.ExecuteHealthLua(obj, script)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tc.HealthStatus) {
					t.Errorf("got %+v, want %+v", got, tc.HealthStatus)
				}
			})
		}
	}
}

// TestLibrariesArgoCDOpens: a script from argocd-cm sees the base, package and table libraries,
// and os.time and os.date only through require("os"); a built-in script (or one with useOpenLibs)
// sees every library of gopher-lua.
func TestLibrariesArgoCDOpens(t *testing.T) {
	all := []string{"string", "math", "io", "os", "debug", "coroutine", "channel", "table", "package", "require", "pairs", "ipairs", "tostring", "tonumber", "pcall", "error"}
	for _, tc := range []struct {
		openLibs bool
		want     []string
	}{
		{false, []string{"table", "package", "require", "pairs", "ipairs", "tostring", "tonumber", "pcall", "error"}},
		{true, all},
	} {
		obj := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "north"}}}
		l, err := VM{UseOpenLibs: tc.openLibs}.run(obj, `return require("os")`)
		if err != nil {
			t.Fatalf("useOpenLibs %v: %v", tc.openLibs, err)
		}
		var got []string
		for _, name := range all {
			if l.GetGlobal(name) != lua.LNil {
				got = append(got, name)
			}
		}
		var osFuncs []string
		l.Get(-1).(*lua.LTable).ForEach(func(k, _ lua.LValue) { osFuncs = append(osFuncs, k.String()) })
		slices.Sort(osFuncs)
		l.Close()
		if !slices.Equal(got, tc.want) {
			t.Errorf("useOpenLibs %v: globals %v, want %v", tc.openLibs, got, tc.want)
		}
		if !tc.openLibs && !slices.Equal(osFuncs, []string{"date", "time"}) {
			t.Errorf(`require("os") gives %v, want Argo CD's safe os: date, time`, osFuncs)
		}
	}
	_, err := VM{}.ExecuteHealthLua(&unstructured.Unstructured{Object: map[string]any{}}, `return {status = ("x"):upper()}`)
	if err == nil {
		t.Error("a string method ran without the string library")
	}
}

// TestExecuteHealthLuaAsArgoCD holds the reproduction to Argo CD's own tests of its VM
// (util/lua/lua_test.go, v3.6.2).
func TestExecuteHealthLuaAsArgoCD(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "caseload.dev/v1alpha1", "kind": "Team",
		"metadata": map[string]any{"name": "north", "namespace": "argo", "generation": int64(2)},
	}}
	for _, tc := range []struct {
		name, script string
		want         *HealthStatus
		err          string
	}{
		{"reads obj", `local hs = {} hs.status = "Healthy" hs.message = obj.metadata.name .. " " .. obj.metadata.generation return hs`, &HealthStatus{Status: "Healthy", Message: "north 2"}, ""},
		{"a status Argo CD does not know", `return {status = "Fine"}`, &HealthStatus{Status: "Unknown", Message: "Lua returned an invalid health status"}, ""},
		{"nothing returned", `local hs = {} return`, nil, ""},
		{"nil returned", `return nil`, nil, ""},
		{"an empty table", `return {}`, &HealthStatus{}, ""},
		{"not a table", `return 1`, nil, "expect table output from Lua script, not number"},
		{"the os library", `os.getenv("HOME")`, nil, "attempt to index a non-table object(nil)"},
		{"a message that is not a string", `return {status = "Healthy", message = 1}`, nil, "cannot unmarshal number"},
		{"a syntax error", `../Team/health.lua`, nil, "syntax error"},
		{"a loop that never ends", `while true do end`, nil, "context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			got, err := VM{}.ExecuteHealthLua(obj, tc.script)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
			var apiErr *lua.ApiError
			if err != nil && tc.name != "not a table" && tc.name != "a message that is not a string" && !errors.As(err, &apiErr) {
				t.Errorf("%v is not a Lua error", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %v: Argo CD stops a script after a second", time.Since(start))
			}
		})
	}
}
