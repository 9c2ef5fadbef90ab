package v1alpha1

// Decimal is a non-negative decimal number written as a string with at most three decimals,
// such as "15", "1.5" or "0.6". Weights, capacities and FTE use it so that a manager reads the
// same figure in git, in kubectl and in a denial. The operator parses it to exact thousandths,
// never to a floating-point number.
// +kubebuilder:validation:MaxLength=10
// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,6}([.][0-9]{1,3})?$')",message="must be a number of at least 0 with at most three decimals, such as \"15\" or \"1.5\""
type Decimal string

// SignedDecimal is a Decimal that may be negative. Status uses it for headroom, which is
// negative when a practitioner or team is over capacity.
// +kubebuilder:validation:MaxLength=11
// +kubebuilder:validation:XValidation:rule="self.matches('^-?[0-9]{1,6}([.][0-9]{1,3})?$')",message="must be a number with at most three decimals, such as \"-0.5\" or \"2\""
type SignedDecimal string

// Date is a calendar day written YYYY-MM-DD.
// +kubebuilder:validation:Format=date
// +kubebuilder:validation:MaxLength=10
type Date string

// Band says how full a caseload is against capacity.
// +kubebuilder:validation:Enum=Green;Amber;Red
type Band string

const (
	// BandGreen is below the amber threshold.
	BandGreen Band = "Green"
	// BandAmber is from the amber threshold up to and including the red threshold.
	BandAmber Band = "Amber"
	// BandRed is above the red threshold, or holding cases with no capacity at all.
	BandRed Band = "Red"
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
	// ConditionOverdue is True on a Case open longer than its timescale, or left unallocated
	// past its allocation deadline.
	ConditionOverdue = "Overdue"
)

// ExceptionReasonAnnotation holds a manager's reason for allocating a case above the cap.
// The allocation is admitted only within the quota's exceptions.maxPercent, and only when the
// requesting user may approve caseloadquotas in the namespace.
const ExceptionReasonAnnotation = "caseload.dev/exception-reason"
