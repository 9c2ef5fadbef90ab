package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/testenv"
)

// operatorUser is who the manager processes are to the apiserver (harness.OperatorKubeconfig).
const operatorUser = "system:serviceaccount:default:caseload-operator"

// auditEvent is what checkRoleIsWhatTheOperatorUses reads of the apiserver's audit log.
type auditEvent struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		APIGroup    string `json:"apiGroup"`
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// notUsedInThisRun are the writes the operator's role grants that the end-to-end run does not
// exercise, each with the code that needs it. Any other write the role grants and the run never
// makes is more than the operator needs. (Reads are not counted: get, list and watch come
// together for every kind the manager's cache holds, and with streaming lists an informer may
// never send a plain list.)
var notUsedInThisRun = map[string]string{
	"create exceptionapprovals.caseload.dev": "recording an approved exception's reason (controllers/case_controller.go)",
	"patch cases.caseload.dev":               "removing a consumed caseload.dev/exception-reason annotation (controllers/case_controller.go, consumeReason)",
	"create events.events.k8s.io":            "Events about approved exceptions, unknown time zones and refused statuses (controllers, internal/webhook/v1alpha1)",
	"patch events.events.k8s.io":             "the event recorder, when it folds a repeated Event into a series",
	"patch events":                           "leader election's event recorder, when it folds a repeated Event into a series",
}

// checkRoleIsWhatTheOperatorUses reads every request the operator made in this run from the
// apiserver's audit log: none may have been refused (403), and every write the shipped role
// (config/rbac/role.yaml and leader_election_role.yaml) grants must have been made, or be named
// in notUsedInThisRun with the code that needs it.
func checkRoleIsWhatTheOperatorUses(t *testing.T, env *testenv.Env, auditLog string) {
	t.Helper()
	f, err := os.Open(auditLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	used, refused := map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit log: %v", err)
		}
		if e.User.Username != operatorUser {
			continue
		}
		p := permissionOf(e)
		if e.ResponseStatus.Code == 403 && !refused[p] {
			t.Errorf("the operator was refused %s (%s, first of its kind): its role does not grant what its code needs", p, e.RequestURI)
			refused[p] = true
		}
		used[p] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var unused []string
	for _, file := range []string{"role.yaml", "leader_election_role.yaml"} {
		objs, err := manifest.DecodeFile(filepath.Join(env.Root, "config", "rbac", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			for _, p := range granted(rulesOf(t, o.Object)) {
				if verb, _, _ := strings.Cut(p, " "); verb == "get" || verb == "list" || verb == "watch" {
					continue
				}
				if !used[p] && notUsedInThisRun[p] == "" {
					unused = append(unused, p)
				}
			}
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("the operator's role grants writes it never made in this run (drop the +kubebuilder:rbac marker, or name the code that needs it in notUsedInThisRun): %v", unused)
	}
}

// permissionOf names the permission a request needed, as granted() names a rule's.
func permissionOf(e auditEvent) string {
	if e.ObjectRef == nil {
		return e.Verb + " " + e.RequestURI
	}
	res := e.ObjectRef.Resource
	if e.ObjectRef.Subresource != "" {
		res += "/" + e.ObjectRef.Subresource
	}
	if e.ObjectRef.APIGroup != "" {
		res += "." + e.ObjectRef.APIGroup
	}
	return e.Verb + " " + res
}

// granted lists a role's rules as "verb resource.group" (or "verb /url").
func granted(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, v := range r.Verbs {
			for _, url := range r.NonResourceURLs {
				out = append(out, v+" "+url)
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					p := v + " " + res
					if g != "" {
						p += "." + g
					}
					if !slices.Contains(out, p) {
						out = append(out, p)
					}
				}
			}
		}
	}
	return out
}

func rulesOf(t *testing.T, obj map[string]any) []rbacv1.PolicyRule {
	t.Helper()
	raw, err := json.Marshal(obj["rules"])
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	if err := json.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("rules: %v", err)
	}
	return rules
}
