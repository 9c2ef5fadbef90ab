package v1alpha1

// Decimal is a non-negative decimal number written as a string with at most three decimals,
// such as "15", "1.5" or "0.6". Weights, capacities and FTE use it so that a manager reads the
// same figure in git, in kubectl and in a denial. The operator parses it to exact thousandths,
// never to a floating-point number.
// +kubebuilder:validation:MaxLength=10
// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,6}([.][0-9]{1,3})?$')",message="must be a number of at least 0 with at most three decimals, such as \"15\" or \"1.5\""
type Decimal string

// CaseWeight is the weight of one kind of case, a Decimal from 0 to 9999.999: points schemes
// weigh a case 4 to 10 points, case-count schemes 0.5 to 2.
// +kubebuilder:validation:MaxLength=8
// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,4}([.][0-9]{1,3})?$')",message="must be a weight from 0 to 9999.999 with at most three decimals, such as \"1.5\" or \"8\""
type CaseWeight string

// Multiplier scales a weight, a Decimal from 0 to 99.999, such as "1.5" for High complexity.
// +kubebuilder:validation:MaxLength=6
// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,2}([.][0-9]{1,3})?$')",message="must be a multiplier from 0 to 99.999 with at most three decimals, such as \"1.5\""
type Multiplier string

// Figure is a figure the operator writes into status: a Decimal, or a sum of them, with up to
// sixteen digits before the point. Sums of the largest weights and caps the schema allows, over
// as many cases and practitioners as an apiserver can hold, stay well inside it (see
// docs/capacity.md), so a status write is never refused for the size of a figure.
// +kubebuilder:validation:MaxLength=20
// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,16}([.][0-9]{1,3})?$')",message="must be a number of at least 0 with at most three decimals"
type Figure string

// SignedFigure is a Figure that may be negative: headroom, when over capacity.
// +kubebuilder:validation:MaxLength=21
// +kubebuilder:validation:XValidation:rule="self.matches('^-?[0-9]{1,16}([.][0-9]{1,3})?$')",message="must be a number with at most three decimals"
type SignedFigure string

// Date is a calendar day written YYYY-MM-DD.
// +kubebuilder:validation:Format=date
// +kubebuilder:validation:MaxLength=10
type Date string

// Band says how full a caseload is against capacity. A practitioner who is away has a band of
// their own, Away: their capacity is 0 while they are away, and the cases they hold need cover
// (condition NeedsCover), which is not their breach.
// +kubebuilder:validation:Enum=Green;Amber;Red;Away
type Band string

const (
	// BandGreen is below the amber threshold.
	BandGreen Band = "Green"
	// BandAmber is from the amber threshold up to and including the red threshold.
	BandAmber Band = "Amber"
	// BandRed is above the red threshold, or holding cases with no capacity at all.
	BandRed Band = "Red"
	// BandAway is a practitioner's band on a day they are absent or unavailable. A Team is never
	// Away.
	BandAway Band = "Away"
)

// Condition types used in the status of every reconciled kind. Ready follows kstatus: it is
// present from the first reconcile and means the status is current. Reconciling and Stalled
// are present only while true. Findings such as an overloaded worker never make Ready false:
// they have a condition of their own.
const (
	// ConditionReady is True when the object is reconciled and its status is current.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the operator is still working on the object.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot make progress without a change from a person.
	ConditionStalled = "Stalled"
	// ConditionOverCapacity is True on a Practitioner or Team whose weight is over its capacity.
	ConditionOverCapacity = "OverCapacity"
	// ConditionPolicyViolated is True on a CaseloadQuota that has found at least one violation.
	ConditionPolicyViolated = "PolicyViolated"
	// ConditionNeedsCover is True on a Practitioner who is absent or unavailable while holding
	// open cases, and on a Team with such members: the cases need cover, and nothing is moved.
	ConditionNeedsCover = "NeedsCover"
	// ConditionOverdue is True on a Case open longer than its timescale, or left unallocated
	// past its allocation deadline.
	ConditionOverdue = "Overdue"
)

// ExceptionReasonAnnotation holds a manager's reason for allocating a case above the cap.
// The allocation is admitted only within the quota's exceptions.maxPercent, and only when the
// requesting user may approve caseloadquotas in the namespace.
const ExceptionReasonAnnotation = "caseload.dev/exception-reason"

// MaxExceptionReason is the longest reason an exception records, in bytes: the MaxLength of
// CaseException.reason. Admission refuses a longer annotation with this figure.
const MaxExceptionReason = 512

// TimeZoneAnnotation, on a council's Namespace, names the IANA time zone (e.g. Europe/London)
// in which the operator counts the council's days: today, overdue, allocation deadlines, and the
// ends of reductions and absences. Without it the manager's --time-zone applies (default UTC).
const TimeZoneAnnotation = "caseload.dev/time-zone"
