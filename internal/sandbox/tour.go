package sandbox

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
