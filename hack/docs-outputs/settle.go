package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// changes are the kubectl commands that change objects: after one, the operator is given time
// to act on the change before the page's next command, as a reader typing it would.
var changes = map[string]bool{"patch": true, "apply": true, "create": true, "delete": true, "replace": true, "edit": true, "annotate": true, "label": true}

// settledKinds are the kinds whose status the operator keeps, and the approvals it records.
var settledKinds = []string{"CaseList", "TeamList", "PractitionerList", "CaseloadQuotaList", "ExceptionApprovalList"}

// settler waits, after a command that changed something, until the operator has acted on it.
type settler struct {
	c client.Client
}

func newSettler(kubeconfig string) (*settler, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, err
	}
	return &settler{c: c}, nil
}

// changing reports whether kubectl's args (flags and all) run a command that changes objects.
func changing(args []string) bool {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-n" || a == "--namespace" || a == "--kubeconfig" || a == "--context":
			i++ // the flag's value
		case strings.HasPrefix(a, "-"):
		default:
			return changes[a]
		}
	}
	return false
}

// settle returns when every object with a status has it for its generation, no Case still
// carries an exception reason (the operator removes it once it has recorded the approval), every
// Case an approval in force names shows its exception, and nothing of them has changed for a
// second.
func (s *settler) settle(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	last, still := "", 0
	for {
		state, pending, err := s.state(ctx)
		switch {
		case err != nil:
			return err
		case pending != "":
			still = 0
		case state == last:
			still++
		default:
			last, still = state, 0
		}
		if still >= 4 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the operator had not acted on the change after 30s: %s", pending)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// state is the resource versions of the objects, and what is still pending ("" when nothing is).
func (s *settler) state(ctx context.Context) (string, string, error) {
	var versions, pending []string
	shown := map[string]bool{}    // the cases whose status shows an exception
	approved := map[string]bool{} // the cases an approval in force names
	for _, kind := range settledKinds {
		l := list(kind)
		if err := s.c.List(ctx, l); err != nil {
			return "", "", err
		}
		for _, o := range l.Items {
			versions = append(versions, kind+"/"+o.GetNamespace()+"/"+o.GetName()+"@"+o.GetResourceVersion())
			if g, found, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration"); found && g != o.GetGeneration() {
				pending = append(pending, fmt.Sprintf("%s %s/%s has no status for generation %d", strings.TrimSuffix(kind, "List"), o.GetNamespace(), o.GetName(), o.GetGeneration()))
			}
			if _, ok, _ := unstructured.NestedMap(o.Object, "status", "exception"); ok {
				shown[o.GetNamespace()+"/"+o.GetName()] = true
			}
			if kind == "ExceptionApprovalList" {
				c, _, _ := unstructured.NestedString(o.Object, "spec", "case")
				until, _, _ := unstructured.NestedString(o.Object, "spec", "expiresAt")
				if t, err := time.Parse(time.RFC3339, until); err == nil && t.After(day) {
					approved[o.GetNamespace()+"/"+c] = true
				}
			}
			if _, ok := o.GetAnnotations()[v1alpha1.ExceptionReasonAnnotation]; ok {
				pending = append(pending, fmt.Sprintf("Case %s/%s still carries %s", o.GetNamespace(), o.GetName(), v1alpha1.ExceptionReasonAnnotation))
			}
		}
	}
	for _, c := range slices.Sorted(maps.Keys(approved)) {
		if !shown[c] {
			pending = append(pending, fmt.Sprintf("Case %s does not show its approved exception yet", c))
		}
	}
	slices.Sort(versions)
	return strings.Join(versions, " "), strings.Join(pending, "; "), nil
}

func list(kind string) *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion("caseload.dev/v1alpha1")
	l.SetKind(kind)
	return l
}
