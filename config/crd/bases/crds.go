// Package bases holds the CRDs controller-gen generates, embedded for the tools that validate
// objects offline the way the apiserver would (the kubectl plugin's plan and verify).
package bases

import _ "embed"

// CaseloadQuotas is the CustomResourceDefinition of CaseloadQuota.
//
//go:embed caseload.dev_caseloadquotas.yaml
var CaseloadQuotas []byte

// Cases is the CustomResourceDefinition of Case.
//
//go:embed caseload.dev_cases.yaml
var Cases []byte
