// Package offline is councils held in a file: the snapshot `kubectl caseload snapshot` takes of
// their Teams, Practitioners, Cases and CaseloadQuotas, which plan, verify, report and restore
// read without a cluster, served to the engine through the operator's own indexes, as its cache
// serves a cluster.
package offline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// SnapshotVersion is the apiVersion of a snapshot file. A file of another version is refused
// rather than misread.
const SnapshotVersion = "snapshot.caseload.dev/v1"

// World is one or more councils as the engine needs them: their Namespaces (for the time zone a
// council's calendar runs on), Teams, Practitioners, Cases and CaseloadQuotas. It is what
// `kubectl caseload snapshot` writes, with status and managedFields stripped, and what plan and
// verify read.
type World struct {
	APIVersion    string                   `json:"apiVersion"`
	Kind          string                   `json:"kind"`
	TakenAt       metav1.Time              `json:"takenAt"`
	Namespaces    []corev1.Namespace       `json:"namespaces"`
	Teams         []v1alpha1.Team          `json:"teams"`
	Practitioners []v1alpha1.Practitioner  `json:"practitioners"`
	Cases         []v1alpha1.Case          `json:"cases"`
	Quotas        []v1alpha1.CaseloadQuota `json:"caseloadQuotas"`
	// ExceptionApprovals are the councils' records of exceptions, reasons included: only in a
	// snapshot taken for a backup (snapshot --exception-approvals), by someone who may read them.
	ExceptionApprovals []v1alpha1.ExceptionApproval `json:"exceptionApprovals,omitempty"`
}

// Read lists the councils of namespaces (every one when nil) from c, stripped as a
// snapshot keeps them.
func Read(ctx context.Context, c client.Client, namespaces []string, now time.Time) (*World, error) {
	w := &World{APIVersion: SnapshotVersion, Kind: "CaseloadSnapshot", TakenAt: metav1.NewTime(now.UTC().Truncate(time.Second))}
	scopes := [][]client.ListOption{nil}
	if namespaces != nil {
		scopes = nil
		for _, ns := range namespaces {
			scopes = append(scopes, []client.ListOption{client.InNamespace(ns)})
		}
	}
	for _, opts := range scopes {
		var teams v1alpha1.TeamList
		var prs v1alpha1.PractitionerList
		var cases v1alpha1.CaseList
		var quotas v1alpha1.CaseloadQuotaList
		for _, l := range []client.ObjectList{&teams, &prs, &cases, &quotas} {
			if err := c.List(ctx, l, opts...); err != nil {
				return nil, err
			}
		}
		w.Teams = append(w.Teams, teams.Items...)
		w.Practitioners = append(w.Practitioners, prs.Items...)
		w.Cases = append(w.Cases, cases.Items...)
		w.Quotas = append(w.Quotas, quotas.Items...)
	}
	seen := map[string]bool{}
	for _, o := range w.Objects() {
		if ns := o.GetNamespace(); !seen[ns] {
			seen[ns] = true
			var n corev1.Namespace
			switch err := c.Get(ctx, client.ObjectKey{Name: ns}, &n); {
			case apierrors.IsForbidden(err):
				// A team manager may read their council but not its Namespace object, which holds
				// the council's time zone: days are then counted on the default calendar (UTC).
				n = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
			case err != nil:
				return nil, fmt.Errorf("read namespace %s: %w", ns, err)
			}
			w.Namespaces = append(w.Namespaces, n)
		}
	}
	w.strip()
	return w, nil
}

// ReadApprovals adds the ExceptionApprovals of the world's councils, read from c.
func (w *World) ReadApprovals(ctx context.Context, c client.Client) error {
	for _, ns := range w.Councils() {
		var l v1alpha1.ExceptionApprovalList
		if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil {
			if apierrors.IsForbidden(err) {
				return fmt.Errorf("read the exception approvals of %s: only an approver (caseload-approver) may: %w", ns, err)
			}
			return err
		}
		w.ExceptionApprovals = append(w.ExceptionApprovals, l.Items...)
	}
	w.strip()
	return nil
}

// strip drops what a snapshot does not keep: status, managedFields and the server's bookkeeping.
func (w *World) strip() {
	meta := func(m *metav1.ObjectMeta) {
		*m = metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, Labels: m.Labels, Annotations: m.Annotations, Generation: m.Generation}
		delete(m.Annotations, "kubectl.kubernetes.io/last-applied-configuration")
		if len(m.Annotations) == 0 {
			m.Annotations = nil
		}
	}
	for i := range w.Namespaces {
		meta(&w.Namespaces[i].ObjectMeta)
		w.Namespaces[i].Spec, w.Namespaces[i].Status = corev1.NamespaceSpec{}, corev1.NamespaceStatus{}
	}
	for i := range w.Teams {
		meta(&w.Teams[i].ObjectMeta)
		w.Teams[i].Status = v1alpha1.TeamStatus{}
	}
	for i := range w.Practitioners {
		meta(&w.Practitioners[i].ObjectMeta)
		w.Practitioners[i].Status = v1alpha1.PractitionerStatus{}
	}
	for i := range w.Cases {
		meta(&w.Cases[i].ObjectMeta)
		// A case's wait for a worker starts when it was last unallocated, and an exception in
		// force lets its practitioner stay over the cap until it expires: both kept (an
		// exception's status names who approved it and until when, never the reason).
		st := w.Cases[i].Status
		w.Cases[i].Status = v1alpha1.CaseStatus{UnallocatedSince: st.UnallocatedSince, Exception: st.Exception}
	}
	for i := range w.Quotas {
		meta(&w.Quotas[i].ObjectMeta)
		w.Quotas[i].Status = v1alpha1.CaseloadQuotaStatus{}
	}
	for i := range w.ExceptionApprovals {
		meta(&w.ExceptionApprovals[i].ObjectMeta)
	}
}

// Marshal is the snapshot file, with no status but a case's unallocatedSince and exception,
// and no empty metadata: YAML, or JSON when asJSON (which a council of hundreds of thousands of
// cases should prefer: it is read without building a document tree first).
func (w *World) Marshal(asJSON bool) ([]byte, error) {
	data, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	for _, list := range []string{"namespaces", "teams", "practitioners", "cases", "caseloadQuotas", "exceptionApprovals"} {
		items, _ := doc[list].([]any)
		for _, item := range items {
			obj, _ := item.(map[string]any)
			status, _ := obj["status"].(map[string]any)
			delete(obj, "status")
			if list == "cases" {
				kept := map[string]any{}
				for _, k := range []string{"unallocatedSince", "exception"} {
					if v, ok := status[k]; ok {
						kept[k] = v
					}
				}
				if len(kept) > 0 {
					obj["status"] = kept
				}
			}
			if meta, ok := obj["metadata"].(map[string]any); ok {
				delete(meta, "creationTimestamp")
			}
		}
	}
	if asJSON {
		return json.Marshal(doc)
	}
	return yaml.Marshal(doc)
}

// Objects are the world's objects, namespaces first.
func (w *World) Objects() []client.Object {
	var out []client.Object
	for i := range w.Namespaces {
		out = append(out, &w.Namespaces[i])
	}
	for i := range w.Teams {
		out = append(out, &w.Teams[i])
	}
	for i := range w.Practitioners {
		out = append(out, &w.Practitioners[i])
	}
	for i := range w.Cases {
		out = append(out, &w.Cases[i])
	}
	for i := range w.Quotas {
		out = append(out, &w.Quotas[i])
	}
	return out
}

// Councils are the namespaces the world holds teams in, sorted.
func (w *World) Councils() []string {
	var out []string
	for _, t := range w.Teams {
		if !slices.Contains(out, t.Namespace) {
			out = append(out, t.Namespace)
		}
	}
	slices.Sort(out)
	return out
}

// Reader serves the world to the engine as the operator's cache would, through the operator's
// indexes, so package snapshot reads it the way the reconcilers and the webhook read a cluster.
func (w *World) Reader() client.Reader { return newWorldReader(w) }

// ReadFile reads a snapshot file, YAML or JSON.
func ReadFile(path string) (*World, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	in := bufio.NewReaderSize(f, 1<<20)
	var w World
	if first, _ := in.Peek(64); bytes.HasPrefix(bytes.TrimSpace(first), []byte("{")) {
		dec := json.NewDecoder(in)
		dec.DisallowUnknownFields()
		err = dec.Decode(&w)
	} else {
		var data []byte
		if data, err = io.ReadAll(in); err == nil {
			err = yaml.UnmarshalStrict(data, &w)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not a snapshot: %w", path, err)
	}
	if w.APIVersion != SnapshotVersion || w.Kind != "CaseloadSnapshot" {
		return nil, fmt.Errorf("%s is a %s %s, not a CaseloadSnapshot of %s: take it again with this version of kubectl caseload", path, w.APIVersion, w.Kind, SnapshotVersion)
	}
	return &w, nil
}

// Council is the part of w about namespace ns.
func (w *World) Council(ns string) *World {
	in := func(o client.Object) bool { return o.GetNamespace() == ns }
	out := &World{APIVersion: w.APIVersion, Kind: w.Kind, TakenAt: w.TakenAt}
	for i := range w.Namespaces {
		if w.Namespaces[i].Name == ns {
			out.Namespaces = append(out.Namespaces, w.Namespaces[i])
		}
	}
	out.Teams = slices.DeleteFunc(slices.Clone(w.Teams), func(t v1alpha1.Team) bool { return !in(&t) })
	out.Practitioners = slices.DeleteFunc(slices.Clone(w.Practitioners), func(p v1alpha1.Practitioner) bool { return !in(&p) })
	out.Cases = slices.DeleteFunc(slices.Clone(w.Cases), func(c v1alpha1.Case) bool { return !in(&c) })
	out.Quotas = slices.DeleteFunc(slices.Clone(w.Quotas), func(q v1alpha1.CaseloadQuota) bool { return !in(&q) })
	out.ExceptionApprovals = slices.DeleteFunc(slices.Clone(w.ExceptionApprovals), func(a v1alpha1.ExceptionApproval) bool { return !in(&a) })
	return out
}

// NamespaceNames are the namespaces w holds objects in, sorted.
func (w *World) NamespaceNames() []string {
	var out []string
	for _, n := range w.Namespaces {
		out = append(out, n.Name)
	}
	for _, ns := range w.Councils() {
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return out
}

// Council is one council as it is now, read once for the engine: its objects, a Reader serving
// them through the operator's indexes, the calendar its days are counted on, and when it was
// read. forecast, suggest and allocate work out their figures on it with the engine, as
// admission would, from one read; suggest and allocate then ask admission itself by dry run.
type Council struct {
	*World
	Namespace string
	Reader    client.Reader
	Calendar  kit.CouncilCalendar
	At        time.Time
}

// ReadCouncil reads council namespace through c, as at f's clock, on the council's calendar.
func ReadCouncil(ctx context.Context, f *kit.Flags, c client.Client, namespace string) (*Council, error) {
	at := f.Now()
	w, err := Read(ctx, c, []string{namespace}, at)
	if err != nil {
		return nil, err
	}
	r := w.Reader()
	cal, err := f.CalendarOf(ctx, r, namespace)
	if err != nil {
		return nil, err
	}
	return &Council{World: w, Namespace: namespace, Reader: r, Calendar: cal, At: at}, nil
}

// Team is one of the council's teams as the webhook loads it to decide an allocation.
func (c *Council) Team(ctx context.Context, name string) (*snapshot.Snapshot, error) {
	return snapshot.Load(ctx, c.Reader, c.Calendar.Calendar, c.Namespace, name, c.At)
}
