package controllers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// kiritimati is a council on Pacific/Kiritimati (UTC+14), built so that every rule the engine
// decides once changes at its midnight into 10 March 2027, which falls at 10:00 UTC on the 9th:
//   - ana is absent from the 10th and holds two cases: Away from then, her cases needing cover;
//   - ben's 50% reduction ends on the 9th, so his capacity doubles and he is over it until then;
//   - dee is absent from the 10th and holds nothing: counted Away, not Green;
//   - c-old (ChildInNeed) is due by the 9th under the strict quota's timescale (the trial quota
//     allows longer): overdue from the 10th;
//   - c-wait (ChildProtection, unallocated since the 7th) may wait 2 days under the strict quota
//     and 5 under the trial one: past its deadline from the 10th;
//   - c-ex is held by cat under an exception that lapses at the council's midnight.
//
// annotated is false for a council whose Namespace names no zone: its manager (and the
// plugin, with --time-zone) count it in Kiritimati all the same.
func kiritimati(t *testing.T, ns string, annotated bool) {
	t.Helper()
	n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if annotated {
		n.Annotations = map[string]string{v1alpha1.TimeZoneAnnotation: "Pacific/Kiritimati"}
	}
	strict := walsallQuota(ns, "4")
	strict.Name = "strict"
	strict.Spec.Timescales = map[string]v1alpha1.Timescale{"ChildInNeed": {MaxOpenDays: 30}}
	strict.Spec.AllocationDeadlines = map[string]v1alpha1.AllocationDeadline{"ChildProtection": {MaxUnallocatedDays: 2}}
	trial := walsallQuota(ns, "4")
	trial.Name = "trial"
	trial.Spec.EnforcementAction = v1alpha1.EnforcementDryRun
	trial.Spec.Timescales = map[string]v1alpha1.Timescale{"ChildInNeed": {MaxOpenDays: 90}}
	trial.Spec.AllocationDeadlines = map[string]v1alpha1.AllocationDeadline{"ChildProtection": {MaxUnallocatedDays: 5}}
	ana := practitioner(ns, "ana", "north", "SocialWorker", "1")
	ana.Spec.Absences = []v1alpha1.Absence{{From: "2027-03-10", Until: "2027-03-20", Reason: v1alpha1.AbsenceSickness}}
	ben := practitioner(ns, "ben", "north", "SocialWorker", "1")
	ben.Spec.Reductions = []v1alpha1.Reduction{{Reason: v1alpha1.ReductionPhasedReturn, Percent: 50, Until: "2027-03-09"}}
	dee := practitioner(ns, "dee", "north", "SocialWorker", "1")
	dee.Spec.Absences = []v1alpha1.Absence{{From: "2027-03-10", Reason: v1alpha1.AbsenceParentalLeave}}
	create(t, n, team(ns, "north"), strict, trial, ana, ben, practitioner(ns, "cat", "north", "SocialWorker", "1"), dee,
		&v1alpha1.ExceptionApproval{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "c-ex-1"}, Spec: v1alpha1.ExceptionApprovalSpec{Case: "c-ex",
			CaseException: v1alpha1.CaseException{Practitioner: "cat", ApprovedBy: "manager", Reason: "continuity",
				ApprovedAt: metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), ExpiresAt: metav1.NewTime(time.Date(2027, 3, 9, 10, 0, 0, 0, time.UTC))}}},
		kase(ns, "a-1", "north", "ChildInNeed", 1, "ana", "2027-03-01"),
		kase(ns, "a-2", "north", "ChildInNeed", 1, "ana", "2027-03-01"),
		kase(ns, "b-1", "north", "ChildInNeed", 1, "ben", "2027-03-01"),
		kase(ns, "b-2", "north", "ChildInNeed", 1, "ben", "2027-03-01"),
		kase(ns, "b-3", "north", "ChildInNeed", 1, "ben", "2027-03-01"),
		kase(ns, "c-old", "north", "ChildInNeed", 1, "cat", "2027-02-07"),
		kase(ns, "c-ex", "north", "ChildInNeed", 1, "cat", "2027-03-01"),
		kase(ns, "c-wait", "north", "ChildProtection", 1, "", "2027-03-07"),
	)
	eventually(t, 20*time.Second, func() error {
		c := get(t, &v1alpha1.Case{}, ns, "c-ex")
		w := get(t, &v1alpha1.Case{}, ns, "c-wait")
		if c.Status.Exception == nil || w.Status.UnallocatedSince == nil {
			return fmt.Errorf("the council's cases are not reconciled yet: c-ex %+v, c-wait %+v", c.Status, w.Status)
		}
		return nil
	})
}

// TestStatusReportAndForecastAgreeAcrossTheCouncilsMidnight: half an hour before and after
// midnight in Pacific/Kiritimati (the same UTC day), the team's status, the health-check report
// and the forecast give the same figures for every rule: overdue, band counts, over capacity,
// cases needing cover, exceptions in force, capacity, and the day itself; and they change at
// the council's midnight, not at UTC's. A council whose Namespace names no zone agrees the same
// way when the plugin is given --time-zone, as its manager would be.
func TestStatusReportAndForecastAgreeAcrossTheCouncilsMidnight(t *testing.T) {
	ctx := context.Background()
	kiritimati(t, "kiritimati", true)
	kiritimati(t, "kiritimati-unnamed", false)
	cal, err := policy.LoadCalendar("Pacific/Kiritimati")
	if err != nil {
		t.Fatal(err)
	}
	user, err := env.Environment.AddUser(envtest.User{Name: "agreement", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}

	type figures struct {
		Day, Capacity, Weight                        string
		Overdue, NeedingCover, OverCapacity, InForce int
		Bands                                        map[string]int
	}
	for _, tc := range []struct {
		at   time.Time
		want figures
	}{
		{time.Date(2027, 3, 9, 9, 30, 0, 0, time.UTC), figures{Day: "2027-03-09", Capacity: "14", Weight: "7", Overdue: 0, NeedingCover: 0, OverCapacity: 1, InForce: 1,
			Bands: map[string]int{"Green": 3, "Amber": 0, "Red": 1, "Away": 0, "None": 0}}},
		{time.Date(2027, 3, 9, 10, 30, 0, 0, time.UTC), figures{Day: "2027-03-10", Capacity: "8", Weight: "7", Overdue: 2, NeedingCover: 2, OverCapacity: 0, InForce: 0,
			Bands: map[string]int{"Green": 2, "Amber": 0, "Red": 0, "Away": 2, "None": 0}}},
	} {
		for _, ns := range []string{"kiritimati", "kiritimati-unnamed"} {
			name := fmt.Sprintf("%s at %s", ns, tc.at.Format(time.RFC3339))
			// Status, as the reconcilers compute it at that instant.
			s, err := snapshot.Load(ctx, mgrClient, cal, ns, "north", tc.at)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := teamStatus(v1alpha1.TeamStatus{}, 1, s, "")
			status := figures{Day: s.Day.String(), Capacity: string(st.Capacity), Weight: string(st.Weight), Overdue: int(st.OverdueCases),
				NeedingCover: int(st.CasesNeedingCover), OverCapacity: int(st.OverCapacityPractitioners), Bands: policy.Set(s.Policies).BandCounts(s.View, s.Day)}
			var cases v1alpha1.CaseList
			if err := mgrClient.List(ctx, &cases, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			for i := range cases.Items {
				c := &cases.Items[i]
				c.Status.Exception = nil // as restored: the approval is the record
				var approvals v1alpha1.ExceptionApprovalList
				if err := mgrClient.List(ctx, &approvals, client.InNamespace(ns)); err != nil {
					t.Fatal(err)
				}
				cs, _, _ := caseStatus(c, caseInput{Team: &v1alpha1.Team{}, Policies: s.Policies, Approvals: approvals.Items, Now: tc.at, Calendar: cal})
				if cs.Exception != nil {
					status.InForce++
				}
			}
			for _, m := range s.View.Members {
				ps, _ := practitionerStatus(v1alpha1.PractitionerStatus{}, 1, practitionerInput{Practitioner: m.Practitioner, Holdings: m.Holdings,
					Policies: s.Policies, TeamExists: true, Now: tc.at, Calendar: cal})
				if counted := policy.Set(s.Policies).Practitioner(m, s.Day).CountedAs; counted != string(ps.Band) {
					t.Errorf("%s: %s's status shows %s, counted %s", name, m.Practitioner.Name, ps.Band, counted)
				}
			}
			if diff := cmpFigures(status, tc.want); diff != "" {
				t.Errorf("%s: status %s", name, diff)
			}

			run := func(args ...string) string {
				t.Helper()
				if ns == "kiritimati-unnamed" {
					args = append(args, "--time-zone", "Pacific/Kiritimati")
				}
				var out, errOut bytes.Buffer
				code := plugin.Run(append([]string{"--kubeconfig", kubeconfig, "-n", ns}, args...),
					genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, plugin.WithClock(clocktesting.NewFakePassiveClock(tc.at)))
				if code != 0 {
					t.Fatalf("%s: kubectl caseload %s: exit %d\n%s%s", name, strings.Join(args, " "), code, out.String(), errOut.String())
				}
				return out.String()
			}

			// The health-check report, as a spreadsheet reads it.
			rows, err := csv.NewReader(strings.NewReader(run("report", "--format", "csv"))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			report := figures{Bands: map[string]int{}}
			zone := ""
			for _, r := range rows[1:] {
				if r[1] != "north" && r[2] != "day" {
					continue
				}
				n := 0
				fmt.Sscan(r[4], &n)
				switch r[2] {
				case "day":
					report.Day, zone = r[4], r[3]
				case "capacity":
					report.Capacity = r[4]
				case "weighted_load":
					report.Weight = r[4]
				case "overdue":
					report.Overdue += n
				case "needing_cover":
					report.NeedingCover = n
				case "over_capacity":
					report.OverCapacity = n
				case "exceptions_in_force":
					report.InForce = n
				case "practitioners_by_band":
					report.Bands[r[3]] = n
				}
			}
			if diff := cmpFigures(report, tc.want); diff != "" {
				t.Errorf("%s: report %s", name, diff)
			}
			if !strings.HasPrefix(zone, "Pacific/Kiritimati (") {
				t.Errorf("%s: the report counts days in %q", name, zone)
			}

			// The forecast's first week: the same day, capacity and weight; what changes that week.
			var weeks []struct{ From, TimeZone, Capacity, Weight string }
			if err := json.Unmarshal([]byte(run("forecast", "north", "--weeks", "1", "-o", "json")), &weeks); err != nil {
				t.Fatal(err)
			}
			if len(weeks) != 1 || weeks[0].From != tc.want.Day || weeks[0].TimeZone != "Pacific/Kiritimati" ||
				weeks[0].Capacity != tc.want.Capacity || weeks[0].Weight != tc.want.Weight {
				t.Errorf("%s: forecast %+v, want the week of %s at %s of %s", name, weeks, tc.want.Day, tc.want.Weight, tc.want.Capacity)
			}
			if table := run("forecast", "north", "--weeks", "1"); !strings.Contains(table, "weeks begin on days of Pacific/Kiritimati (") {
				t.Errorf("%s: the forecast does not name the zone it counts days in:\n%s", name, table)
			}
		}
	}
}

// cmpFigures says how got differs from want, or "" when it does not.
func cmpFigures(got, want any) string {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if bytes.Equal(g, w) {
		return ""
	}
	return fmt.Sprintf("%s, want %s", g, w)
}
