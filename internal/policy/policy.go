package policy

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Action is what admission does with an allocation that breaks a policy.
type Action = v1alpha1.EnforcementAction

// Cap is a policy's ceiling for one grade.
type Cap struct {
	Grade     string
	MaxWeight Milli
	// MaxCases caps the raw number of open cases; nil means no count cap.
	MaxCases *int
	// Excluded are the case types this grade may hold only as a co-worker.
	Excluded map[string]bool
}

// Policy is a CaseloadQuota parsed into exact figures. Build it with FromSpec.
type Policy struct {
	// Name is how denials and findings name the quota: "namespace/name".
	Name   string
	Action Action

	CaseTypes       map[string]Milli
	DefaultWeight   Milli
	Complexity      map[string]Milli
	AdditionalChild Milli
	CoWorkerShare   Milli

	// Caps by grade. A policy with no caps caps only teams.
	Caps map[string]Cap

	TeamMaxWeight        *Milli
	TeamMaxAveragePerFTE *Milli

	AmberPercent int64
	RedPercent   int64

	// ExceptionMaxPercent is the highest percentage of capacity an exception may reach; 0 = none.
	ExceptionMaxPercent int64
	ExceptionMaxDays    int

	Timescales          map[string]int
	AllocationDeadlines map[string]int
}

// CapsPractitioners reports whether the policy has caps per grade.
func (p *Policy) CapsPractitioners() bool { return len(p.Caps) > 0 }

// Enforcing reports whether breaches of the policy are refused.
func (p *Policy) Enforcing() bool { return p.Action == v1alpha1.EnforcementDeny }

// FromSpec parses a CaseloadQuota spec. The CRD schema already refuses malformed figures; the
// errors here, with field paths, are for objects that reach the engine some other way (the
// kubectl plugin reading files, or a schema change) and for rules a schema cannot state.
func FromSpec(name string, spec v1alpha1.CaseloadQuotaSpec) (*Policy, field.ErrorList) {
	var errs field.ErrorList
	root := field.NewPath("spec")
	// parse reads a figure of at most limit, as the schema bounds it.
	parse := func(path *field.Path, s string, fallback, limit Milli) Milli {
		if s == "" {
			return fallback
		}
		m, err := ParseMilli(s)
		if err != nil || m < 0 || m > limit {
			errs = append(errs, field.Invalid(path, s, fmt.Sprintf("must be a number from 0 to %s with at most three decimals", limit)))
			return fallback
		}
		return m
	}
	p := &Policy{
		Name:                name,
		Action:              spec.EnforcementAction,
		CaseTypes:           map[string]Milli{},
		Complexity:          map[string]Milli{},
		Caps:                map[string]Cap{},
		AmberPercent:        int64(spec.Bands.AmberPercent),
		RedPercent:          int64(spec.Bands.RedPercent),
		ExceptionMaxDays:    28,
		Timescales:          map[string]int{},
		AllocationDeadlines: map[string]int{},
	}
	if p.Action == "" {
		p.Action = v1alpha1.EnforcementDeny
	}
	if p.AmberPercent == 0 {
		p.AmberPercent = 90
	}
	if p.RedPercent == 0 {
		p.RedPercent = 100
	}
	if p.AmberPercent > p.RedPercent {
		errs = append(errs, field.Invalid(root.Child("bands", "amberPercent"), p.AmberPercent, "cannot be above redPercent"))
	}

	w := root.Child("weights")
	for t, v := range spec.Weights.CaseTypes {
		p.CaseTypes[t] = parse(w.Child("caseTypes").Key(t), string(v), One, MaxCaseWeight)
	}
	p.DefaultWeight = parse(w.Child("default"), string(spec.Weights.Default), One, MaxCaseWeight)
	for level, v := range spec.Weights.Complexity {
		p.Complexity[level] = parse(w.Child("complexity").Key(level), string(v), One, MaxMultiplier)
	}
	p.AdditionalChild = parse(w.Child("additionalChild"), string(spec.Weights.AdditionalChild), 0, MaxCaseWeight)
	p.CoWorkerShare = parse(w.Child("coWorkerShare"), string(spec.Weights.CoWorkerShare), One/2, One)

	for i, c := range spec.PractitionerCaps {
		path := root.Child("practitionerCaps").Index(i)
		if _, dup := p.Caps[c.Grade]; dup {
			errs = append(errs, field.Duplicate(path.Child("grade"), c.Grade))
			continue
		}
		cp := Cap{Grade: c.Grade, MaxWeight: parse(path.Child("maxWeight"), string(c.MaxWeight), 0, MaxDecimal), Excluded: map[string]bool{}}
		if c.MaxCases != nil {
			n := int(*c.MaxCases)
			cp.MaxCases = &n
		}
		for _, t := range c.ExcludedCaseTypes {
			cp.Excluded[t] = true
		}
		p.Caps[c.Grade] = cp
	}

	if tc := spec.TeamCap; tc != nil {
		if tc.MaxWeight != nil {
			m := parse(root.Child("teamCap", "maxWeight"), string(*tc.MaxWeight), 0, MaxDecimal)
			p.TeamMaxWeight = &m
		}
		if tc.MaxAveragePerFTE != nil {
			m := parse(root.Child("teamCap", "maxAveragePerFTE"), string(*tc.MaxAveragePerFTE), 0, MaxDecimal)
			p.TeamMaxAveragePerFTE = &m
		}
	}

	if ex := spec.Exceptions; ex != nil {
		p.ExceptionMaxPercent = int64(ex.MaxPercent)
		if ex.MaxPercent != 0 && ex.MaxPercent < 100 {
			errs = append(errs, field.Invalid(root.Child("exceptions", "maxPercent"), ex.MaxPercent,
				"is 0 (no exceptions) or at least 100: a percentage of the cap that an exception may reach"))
		}
		if ex.MaxDays > 0 {
			p.ExceptionMaxDays = int(ex.MaxDays)
		}
	}

	for t, ts := range spec.Timescales {
		p.Timescales[t] = int(ts.MaxOpenDays)
	}
	for t, d := range spec.AllocationDeadlines {
		p.AllocationDeadlines[t] = int(d.MaxUnallocatedDays)
	}
	return p, errs
}

// MustFromSpec parses a spec known to be valid, such as one written in a test.
func MustFromSpec(name string, spec v1alpha1.CaseloadQuotaSpec) *Policy {
	p, errs := FromSpec(name, spec)
	if len(errs) > 0 {
		panic(fmt.Sprintf("policy %s: %v", name, errs.ToAggregate()))
	}
	return p
}
