package sandbox

import (
	"fmt"
	"io"
	"os/exec"
	"path/filepath"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// The tour: objects of the sample council (config/samples/council, written by
// hack/gen-samples) that the try-next text and the end-to-end test point at. hack/gen-samples
// builds the sample around them and checks with the policy engine that every claim made here
// holds, so the text cannot drift from the data.
const (
	// TourNamespace is the Walsall-style council: 15 weighted cases for an experienced social
	// worker, 12 for a newly qualified one, tightened from 18 to 15.
	TourNamespace = "brookfield"
	// TourQuota is its enforcing CaseloadQuota, applied last.
	TourQuota = "caseload-caps"
	// TourTrialQuota is a DryRun trial of a team-average ceiling.
	TourTrialQuota = "team-average-trial"

	// TourRefusedCase is a new, unallocated ChildProtection case (High complexity, weight 1.5).
	TourRefusedCase = "c-2090"
	// TourRefusedCaseType and TourRefusedCaseWeight describe it under TourQuota.
	TourRefusedCaseType   = "ChildProtection"
	TourRefusedCaseWeight = "1.5"
	// TourFullPractitioner is a full-time SocialWorker carrying 14.5 of 15: TourRefusedCase
	// would take them to 16 of 15, so allocating it is refused; a manager's exception (up to 120%
	// under TourQuota) admits it.
	TourFullPractitioner = "sw-0417"
	TourFullLoad         = "14.5"
	TourFullAfter        = "16"
	TourFullCapacity     = "15"
	// TourRoomyPractitioner is a colleague in the same team with room for TourRefusedCase.
	TourRoomyPractitioner = "sw-0388"
	// TourOverCapPractitioner carried more than 15 under the old cap of 18: over the new cap of
	// 15, which is recorded (band Red, a violation in TourQuota's status), never refused.
	TourOverCapPractitioner = "sw-0233"
	// TourAbsentPractitioner (Harbourside) is absent: capacity 0, cases needing cover.
	TourAbsentPractitioner = "sw-0861"

	// TourPointsNamespace is the Wirral-style council: 100 points per FTE, case types weigh 4-10
	// points, newly qualified workers 90 points and no child protection unless co-worked.
	TourPointsNamespace = "harbourside"
	TourPointsQuota     = "points"
	// TourNewlyQualified may not lead TourPointsCase (ChildProtection) under TourPointsQuota.
	TourNewlyQualified = "sw-0586"
	TourPointsCase     = "c-7731"
)

// writeTour prints what to try next, with the commands spelled out for copying.
func writeTour(w io.Writer, opts Options) {
	kubectl := "kubectl is on your PATH"
	if _, err := exec.LookPath("kubectl"); err != nil {
		kubectl = "kubectl is not on your PATH: use " + filepath.Join(opts.Assets, "kubectl")
	}
	bf, hs := "kubectl -n "+TourNamespace, "kubectl -n "+TourPointsNamespace
	look := [][2]string{
		{"kubectl get caseload -A", "every Team, Practitioner, Case and quota"},
		{bf + " get tm", "teams: cases, unallocated, weight, capacity, band"},
		{bf + " get prac", "practitioners: weight, capacity, headroom, band"},
		{bf + " get clq", "quotas: mode, teams, violations"},
		{hs + " get prac", "points; " + TourAbsentPractitioner + " is absent: their cases need cover"},
	}
	fmt.Fprintf(w, "\nIn another terminal (the kubeconfig is an admin of this sandbox; %s):\n\n  export KUBECONFIG=%s\n\n", kubectl, opts.Kubeconfig)
	fmt.Fprintf(w, "Two councils, one namespace each, that cannot see each other's objects:\n")
	fmt.Fprintf(w, "  %-12s Walsall-style: at most 15 weighted cases for an experienced social worker, 12 newly qualified\n", TourNamespace)
	fmt.Fprintf(w, "  %-12s Wirral-style points: 100 per FTE, case types 4-10 points, newly qualified 90\n\n", TourPointsNamespace)
	fmt.Fprintf(w, "Look around:\n")
	for _, l := range look {
		fmt.Fprintf(w, "  %-32s # %s\n", l[0], l[1])
	}
	patch := func(ns, c, body string) string {
		return fmt.Sprintf("kubectl -n %s patch case %s --type merge -p '%s'", ns, c, body)
	}
	allocate := func(p string) string { return fmt.Sprintf(`{"spec":{"allocatedTo":%q}}`, p) }
	exception := fmt.Sprintf(`{"metadata":{"annotations":{%q:"Continuity: already works with the family"}},"spec":{"allocatedTo":%q}}`,
		v1alpha1.ExceptionReasonAnnotation, TourFullPractitioner)

	fmt.Fprintf(w, "\nA tightening is recorded, never refused: the cap went from 18 to 15 and %s is over it now:\n", TourOverCapPractitioner)
	fmt.Fprintf(w, "  %s get prac %s\n", bf, TourOverCapPractitioner)
	fmt.Fprintf(w, "  %s get clq %s -o jsonpath='{range .status.violationList[*]}{.message}{\"\\n\"}{end}'\n", bf, TourQuota)

	fmt.Fprintf(w, "\nAn allocation that is refused: %s, a new %s case (weight %s), to %s, who carries %s of %s:\n",
		TourRefusedCase, TourRefusedCaseType, TourRefusedCaseWeight, TourFullPractitioner, TourFullLoad, TourFullCapacity)
	fmt.Fprintf(w, "  %s\n", patch(TourNamespace, TourRefusedCase, allocate(TourFullPractitioner)))
	fmt.Fprintf(w, "  -> case %s (%s, weight %s) would take %s to %s of %s (SocialWorker cap 15 x FTE 1): denied by CaseloadQuota %s/%s\n",
		TourRefusedCase, TourRefusedCaseType, TourRefusedCaseWeight, TourFullPractitioner, TourFullAfter, TourFullCapacity, TourNamespace, TourQuota)

	fmt.Fprintf(w, "\nAn exception: a manager's reason admits it, up to 120%% of the cap for 28 days (you may approve: you are an admin):\n")
	fmt.Fprintf(w, "  %s\n", patch(TourNamespace, TourRefusedCase, exception))
	fmt.Fprintf(w, "  %s get case %s -o jsonpath='{.status.exception}'\n", bf, TourRefusedCase)
	fmt.Fprintf(w, "  %s get exceptionapprovals   (the reason, which only approvers read)\n", bf)

	fmt.Fprintf(w, "\nOr give it to %s, who has room:\n  %s\n", TourRoomyPractitioner, patch(TourNamespace, TourRefusedCase, allocate(TourRoomyPractitioner)))

	fmt.Fprintf(w, "\nNewly qualified workers lead no child protection in %s (co-working is fine):\n  %s\n",
		TourPointsNamespace, patch(TourPointsNamespace, TourPointsCase, allocate(TourNewlyQualified)))

	fmt.Fprintf(w, "\nThe operator's log is in %s. Ctrl-C stops the operator, kube-apiserver and etcd, and the next\n", opts.LogFile)
	fmt.Fprintf(w, "make run starts fresh (SANDBOX_DATA_DIR=bin/sandbox-data make run keeps the data instead).\n")
}
