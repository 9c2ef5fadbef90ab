package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"caseload.dev/caseload-operator/internal/policy"
)

// TeamAudit is one quota's audit of one team, as the Team reconciler last computed it.
type TeamAudit struct {
	// Generation is the quota's metadata.generation the audit was computed with.
	Generation    int64
	Practitioners int
	Weight        policy.Milli
	// Capped is false when the quota caps neither practitioners nor teams: Capacity is then 0
	// and means nothing.
	Capped   bool
	Capacity policy.Milli
	Findings []policy.Finding
}

// auditStore holds every quota's audit of every team it selects. The Team reconciler, which
// reads a team's cases through the indexes anyway, writes a team's audits; the CaseloadQuota
// reconciler adds them up. So a change to one case re-audits one team, and a quota's status
// never needs a scan of every case it governs.
//
// The store lives in the memory of the elected leader. After a restart or a change of leader it
// fills again as the Team reconciler visits every team on its initial sync; until then a quota
// reports Reconciling.
type auditStore struct {
	mu sync.RWMutex
	// byQuota maps a quota to its audits of the teams it selects, by team name.
	byQuota map[types.NamespacedName]map[string]TeamAudit
}

func newAuditStore() *auditStore {
	return &auditStore{byQuota: map[types.NamespacedName]map[string]TeamAudit{}}
}

// SetTeam replaces the audits of one team, one per quota that selects it, and returns every
// quota whose figures may have changed: those that select the team now and those that did.
func (s *auditStore) SetTeam(namespace, team string, audits map[types.NamespacedName]TeamAudit) []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	var changed []types.NamespacedName
	for q, teams := range s.byQuota {
		if q.Namespace != namespace {
			continue
		}
		if _, ok := teams[team]; ok {
			if _, still := audits[q]; !still {
				delete(teams, team)
				changed = append(changed, q)
			}
		}
	}
	for q, a := range audits {
		teams := s.byQuota[q]
		if teams == nil {
			teams = map[string]TeamAudit{}
			s.byQuota[q] = teams
		}
		teams[team] = a
		changed = append(changed, q)
	}
	return changed
}

// Quota returns a copy of the audits of a quota, by team.
func (s *auditStore) Quota(q types.NamespacedName) map[string]TeamAudit {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]TeamAudit, len(s.byQuota[q]))
	for t, a := range s.byQuota[q] {
		out[t] = a
	}
	return out
}

// ForgetQuota drops a deleted quota's audits.
func (s *auditStore) ForgetQuota(q types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byQuota, q)
}
