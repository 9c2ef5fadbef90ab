package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/manifest"
)

// readQuotas reads the CaseloadQuotas of files and directories (YAML or JSON, several documents
// to a file), each validated offline against the CRD's schema and rules as the apiserver would. A
// file named on its own must hold quotas only; in a directory, as a GitOps repository holds them,
// other kinds are left alone. A quota with no namespace is of namespace.
func readQuotas(paths []string, namespace string) ([]v1alpha1.CaseloadQuota, error) {
	schema, err := loadQuotaSchema()
	if err != nil {
		return nil, err
	}
	quotaKind := v1alpha1.GroupVersion.WithKind("CaseloadQuota")
	var out []v1alpha1.CaseloadQuota
	for _, p := range paths {
		files, err := yamlFiles(p)
		if err != nil {
			return nil, err
		}
		named := len(files) == 1 && files[0] == p
		for _, f := range files {
			objs, err := manifest.DecodeFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for _, u := range objs {
				if gvk := u.GroupVersionKind(); gvk != quotaKind {
					if named {
						return nil, fmt.Errorf("%s holds %s %s, not a CaseloadQuota (%s)", f, gvk.Kind, u.GetName(), quotaKind.GroupVersion())
					}
					continue
				}
				if errs := schema.validate(context.Background(), u.Object); len(errs) > 0 {
					return nil, fmt.Errorf("%s: CaseloadQuota %s would be refused by the cluster: %w", f, u.GetName(), errs.ToAggregate())
				}
				var q v1alpha1.CaseloadQuota
				if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &q, true); err != nil {
					return nil, fmt.Errorf("%s: CaseloadQuota %s: %w", f, u.GetName(), err)
				}
				if q.Namespace == "" {
					q.Namespace = namespace
				}
				out = append(out, q)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no CaseloadQuota in %s", strings.Join(paths, ", "))
	}
	return out, nil
}

// yamlFiles is path, a file, or the YAML and JSON files under path, a directory.
func yamlFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && slices.Contains([]string{".yaml", ".yml", ".json"}, filepath.Ext(p)) {
			files = append(files, p)
		}
		return err
	})
	return files, err
}
