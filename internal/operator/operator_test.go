package operator

import (
	"context"
	"net/http/httptest"
	"testing"
)

type cacheState bool

func (synced cacheState) WaitForCacheSync(ctx context.Context) bool {
	if !synced {
		<-ctx.Done()
	}
	return bool(synced)
}

// TestNotReadyUntilTheCachesSync: a replica whose informers are still listing fails /readyz, so
// it answers no admission from a cache that is not full yet.
func TestNotReadyUntilTheCachesSync(t *testing.T) {
	req := httptest.NewRequest("GET", "/readyz", nil)
	if err := cachesSynced(cacheState(false))(req); err == nil {
		t.Error("ready while the caches are still syncing")
	}
	if err := cachesSynced(cacheState(true))(req); err != nil {
		t.Errorf("not ready with synced caches: %v", err)
	}
}
