package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// TestImagePinnedByDigest: the manager runs repository:appVersion by default, repository:tag
// when a tag is set, and repository@digest when a digest is set (as the released chart sets it,
// hack/chart/release.sh), whatever the tag; the schema refuses a digest that is not sha256.
func TestImagePinnedByDigest(t *testing.T) {
	const repo = "ghcr.io/caseload-dev/caseload-operator"
	digest := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	data, err := os.ReadFile(filepath.Join(env.Root, chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct{ AppVersion string }
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"defaults", nil, repo + ":" + chart.AppVersion},
		{"a tag", []string{"image.tag=0.1.1"}, repo + ":0.1.1"},
		{"a digest", []string{"image.digest=" + digest}, repo + "@" + digest},
		{"a digest and a tag", []string{"image.digest=" + digest, "image.tag=0.1.1"}, repo + "@" + digest},
		{"a mirror's repository and a digest", []string{"image.repository=registry.council.example/caseload-operator", "image.digest=" + digest}, "registry.council.example/caseload-operator@" + digest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := helmTemplate(t, "helm template ("+tc.name+")", tc.set...)
			c := managerContainer(t, r.source, only[appsv1.Deployment](t, r, "Deployment"))
			if c.Image != tc.want {
				t.Errorf("%s: the manager runs %q, want %q", r.source, c.Image, tc.want)
			}
		})
	}
	for _, bad := range []string{"latest", "sha256:abc", "sha512:" + strings.Repeat("0", 128)} {
		_, err := run(helm(t), "template", releaseName, chartDir, "-n", releaseNamespace, "--set", "image.digest="+bad)
		if err == nil || !strings.Contains(err.Error(), "digest") {
			t.Errorf("helm template --set image.digest=%s: %v; want the schema to refuse it", bad, err)
		}
	}
}
