package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Reasons used in conditions.
const (
	ReasonReconciled       = "Reconciled"
	ReasonTeamNotFound     = "TeamNotFound"
	ReasonInvalidPolicy    = "InvalidPolicy"
	ReasonWithinCapacity   = "WithinCapacity"
	ReasonOverCapacity     = "OverCapacity"
	ReasonNoCap            = "NoCap"
	ReasonOnTime           = "OnTime"
	ReasonPastTimescale    = "PastTimescale"
	ReasonPastDeadline     = "PastAllocationDeadline"
	ReasonNoViolations     = "NoViolations"
	ReasonViolationsFound  = "ViolationsFound"
	ReasonWaitingForAudits = "WaitingForTeamAudits"
	ReasonUnknownTimeZone  = "UnknownTimeZone"
	ReasonStatusRejected   = "StatusRejected"
	ReasonAway             = "Away"
	ReasonNeedsCover       = "CasesNeedCover"
	ReasonCovered          = "NoCoverNeeded"
)

// kstatus sets the conditions that Flux, Argo CD and kstatus read, following kstatus: Ready is
// always present; Reconciling and Stalled are present only while true. A stalled object (one that
// needs a person to fix its spec) is not Ready; a reconciling one is not Ready yet. Findings such
// as an overloaded worker never reach these conditions.
func kstatus(conds *[]metav1.Condition, generation int64, stalledReason, reconcilingReason, message string) {
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(conds, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: generation})
	}
	switch {
	case stalledReason != "":
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, stalledReason, message)
		set(v1alpha1.ConditionStalled, metav1.ConditionTrue, stalledReason, message)
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
	case reconcilingReason != "":
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, reconcilingReason, message)
		set(v1alpha1.ConditionReconciling, metav1.ConditionTrue, reconcilingReason, message)
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
	default:
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonReconciled, "status is current")
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
	}
}

// finding sets a condition that reports a finding, True when found.
func finding(conds *[]metav1.Condition, generation int64, conditionType string, found bool, reason, message string) {
	status := metav1.ConditionFalse
	if found {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: conditionType, Status: status, Reason: reason, Message: message, ObservedGeneration: generation})
}
