package v1alpha1_test

import (
	"context"
	"testing"
	"time"

	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// A replica's progress is what its informer's store says it has applied, on a real apiserver:
// it reaches the resourceVersion of a write once the cache shows it, and not before the write.
func TestProgressFollowsTheInformersStore(t *testing.T) {
	k := newCouncil(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := ctrlcache.New(env.Config, ctrlcache.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	practitioners, err := snapshot.Track(ctx, c, &caseloadv1alpha1.Practitioner{})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("the cache never synced")
	}
	if practitioners.Store == nil || ledger.ParseVersion(practitioners.Store()) == 0 {
		t.Fatal("the informer's store says nothing of how far it has come: is client-go's AtomicFIFO off?")
	}

	k.practitioner("ada", "north", "SocialWorker")
	var p caseloadv1alpha1.Practitioner
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: k.ns, Name: "ada"}, &p); err != nil {
		t.Fatal(err)
	}
	next := ledger.ParseVersion(p.ResourceVersion) + 1_000_000
	soon, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if practitioners.Reach(soon, ledger.FormatVersion(next)) == nil {
		t.Fatalf("progress reached resourceVersion %d, which nothing has written", next)
	}
	wait, stop2 := context.WithTimeout(ctx, 10*time.Second)
	defer stop2()
	if err := practitioners.Reach(wait, p.ResourceVersion); err != nil {
		t.Fatal(err)
	}
	var cached caseloadv1alpha1.Practitioner
	if err := c.Get(ctx, client.ObjectKey{Namespace: k.ns, Name: "ada"}, &cached); err != nil || ledger.ParseVersion(cached.ResourceVersion) < ledger.ParseVersion(p.ResourceVersion) {
		t.Fatalf("progress reached %s but the cache shows the practitioner at %q (%v)", p.ResourceVersion, cached.ResourceVersion, err)
	}
}
