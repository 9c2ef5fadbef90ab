package gitops

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/internal/manifest"
)

const gitops = "../../examples/gitops"

// TestCouncilOverlaysApply builds every council's overlay of examples/gitops with the kustomize
// API, as Argo CD and Flux would, and has the apiserver (with the operator's webhooks) accept
// every object by server-side dry run; the councils' quotas differ; and every Flux Kustomization
// and Argo CD Application points at an overlay there is.
func TestCouncilOverlaysApply(t *testing.T) {
	ctx := context.Background()
	overlays, _ := filepath.Glob(filepath.Join(gitops, "councils", "*"))
	if len(overlays) < 2 {
		t.Fatalf("%d council overlays, want two at least", len(overlays))
	}
	quotas := map[string]string{}
	for _, dir := range overlays {
		council := filepath.Base(dir)
		res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		out, err := res.AsYaml()
		if err != nil {
			t.Fatal(err)
		}
		objs, err := manifest.Decode(out)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.GetKind()]++
			if o.GetKind() == "Namespace" {
				// Created for real: the objects in it are then tried by dry run.
				if err := env.Client.Create(ctx, o.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatal(err)
				}
				continue
			}
			if o.GetNamespace() != council {
				t.Errorf("%s: %s %s is in namespace %q", council, o.GetKind(), o.GetName(), o.GetNamespace())
			}
			if o.GetKind() == "CaseloadQuota" {
				spec, _ := yaml.Marshal(o.Object["spec"])
				quotas[council] += string(spec)
			}
			if err := env.Client.Create(ctx, o.DeepCopy(), client.DryRunAll, client.FieldValidation("Strict")); err != nil {
				t.Errorf("%s: the apiserver refuses %s %s: %v", council, o.GetKind(), o.GetName(), err)
			}
		}
		if kinds["Team"] != 3 || kinds["CaseloadQuota"] == 0 || kinds["Namespace"] != 1 {
			t.Errorf("%s builds %v, want its namespace, the base's three teams and its quotas", council, kinds)
		}
		for _, tool := range []string{"flux", "argocd"} {
			data, err := os.ReadFile(filepath.Join(gitops, "clusters", tool, council+".yaml"))
			if err != nil {
				t.Errorf("no %s object applies %s: %v", tool, council, err)
				continue
			}
			if !bytes.Contains(data, []byte("examples/gitops/councils/"+council+"\n")) {
				t.Errorf("clusters/%s/%s.yaml does not point at the overlay councils/%s", tool, council, council)
			}
		}
	}
	if quotas["brookfield"] == quotas["harbourside"] {
		t.Error("the two councils' overlays hold the same quotas")
	}
	var ns corev1.Namespace
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "harbourside"}, &ns); err != nil || !strings.Contains(ns.Annotations["caseload.dev/time-zone"], "Europe/") {
		t.Errorf("harbourside's namespace %v (%v), want its time zone", ns.Annotations, err)
	}
}
