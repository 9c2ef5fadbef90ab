package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// StatusConditions returns the conditions of the Team's status, for code that sets them on any kind.
func (t *Team) StatusConditions() *[]metav1.Condition { return &t.Status.Conditions }

// StatusConditions returns the conditions of the Practitioner's status.
func (p *Practitioner) StatusConditions() *[]metav1.Condition { return &p.Status.Conditions }

// StatusConditions returns the conditions of the Case's status.
func (c *Case) StatusConditions() *[]metav1.Condition { return &c.Status.Conditions }

// StatusConditions returns the conditions of the CaseloadQuota's status.
func (q *CaseloadQuota) StatusConditions() *[]metav1.Condition { return &q.Status.Conditions }
