// Package krew checks the krew manifest of `kubectl caseload` against the archives
// hack/krew/release.sh builds.
package krew

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type manifest struct {
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		Version   string
		Platforms []struct {
			Selector struct{ MatchLabels map[string]string }
			URI      string
			SHA256   string `json:"sha256"`
			Bin      string
		}
	}
}

// TestManifestMatchesTheReleaseArchives: every platform the release script builds has an
// entry in the manifest, whose archive name, sha256 placeholder and binary are the ones the script
// fills in and packs, and no entry names a platform the script does not build.
func TestManifestMatchesTheReleaseArchives(t *testing.T) {
	data, err := os.ReadFile("caseload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Kind != "Plugin" || m.Metadata.Name != "caseload" || m.Spec.Version != "VERSION" {
		t.Errorf("manifest %s %q version %q: want Plugin caseload (kubectl caseload), version filled in by the release", m.Kind, m.Metadata.Name, m.Spec.Version)
	}
	script, err := os.ReadFile("release.sh")
	if err != nil {
		t.Fatal(err)
	}
	built := regexp.MustCompile(`(?m)^platforms="([^"]+)"$`).FindSubmatch(script)
	if built == nil {
		t.Fatal("release.sh names no platforms")
	}
	want := map[string]bool{}
	for _, p := range strings.Fields(string(built[1])) {
		want[p] = true
	}
	for _, p := range m.Spec.Platforms {
		os, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		key := os + "/" + arch
		if !want[key] {
			t.Errorf("the manifest names %s, which release.sh does not build", key)
			continue
		}
		delete(want, key)
		bin := "kubectl-caseload"
		if os == "windows" {
			bin += ".exe"
		}
		if p.Bin != bin || p.URI != "URI_BASE/kubectl-caseload_VERSION_"+os+"_"+arch+".tar.gz" || p.SHA256 != "SHA256_"+os+"_"+arch {
			t.Errorf("%s: bin %q, uri %q, sha256 %q: not what release.sh packs and fills in", key, p.Bin, p.URI, p.SHA256)
		}
	}
	for key := range want {
		t.Errorf("release.sh builds %s but the manifest has no entry for it", key)
	}
}
