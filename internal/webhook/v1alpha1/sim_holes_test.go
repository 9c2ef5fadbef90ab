package v1alpha1

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A hole is a mistake admission once made, or could make, put back into a copy of the code: the
// simulation must find each one. The copy is laid over the real file with go's -overlay, so
// nothing in the tree changes; a replacement whose text is no longer in the file fails the test
// (the hole must then be written again against the code as it is).
type hole struct {
	name, why string
	// replace maps a file (from the repository's root) to pairs of text to find, once, and what
	// to put in its place.
	replace map[string][][2]string
	// finds is what the simulation's failure says.
	finds string
	// seeds are the histories to run, when not the first 2,000: a rare hole is checked on a
	// window of seeds where the simulation was seen to find it.
	seeds []string
}

var holes = []hole{
	{
		name: "a-later-change-drops-an-earlier-entry",
		why:  "an admitted change replaces every entry of its case, whatever the generation: a reassignment or raise that fails leaves the stored version uncounted",
		replace: map[string][][2]string{"internal/ledger/ledger.go": {{
			"return a.CaseUID == b.CaseUID && a.Generation == b.Generation && a.Practitioner == b.Practitioner && a.Role == b.Role",
			"return a.Case == b.Case",
		}}},
		finds: "overshoot",
	},
	{
		name: "entries-released-at-admission",
		why:  "taking someone off a case removes their entry when admitted, before the change is stored: if it fails, a lagging cache counts the case nowhere",
		replace: map[string][][2]string{"internal/webhook/v1alpha1/case_webhook.go": {
			{"\t\treturn nil, nil\n\t}\n\n\tstart := time.Now()", `		if leavers := policy.Leavers(before, after); len(leavers) > 0 && old != nil {
			_ = v.Ledgers.Submit(ctx, ledgerOf(c), func(_ context.Context, spec caseloadv1alpha1.AllocationLedgerSpec, _ client.Reader) (caseloadv1alpha1.AllocationLedgerSpec, error) {
				var kept []caseloadv1alpha1.Reservation
				for _, r := range spec.Reservations {
					if r.Case != c.Name || !slicesContain(leavers, r.Practitioner) {
						kept = append(kept, r)
					}
				}
				spec.Reservations = kept
				return spec, nil
			})
		}
		return nil, nil
	}

	start := time.Now()`},
			{"// reasonReused reports", `func slicesContain(js []policy.Holder, name string) bool {
	for _, j := range js {
		if j.Name == name {
			return true
		}
	}
	return false
}

// reasonReused reports`},
		}},
		finds: "overshoot",
	},
	{
		name:    "team-moves-unfenced",
		why:     "a practitioner's move to another team writes nothing in the team left: a replica whose cache still shows them there allocates them that team's work",
		replace: map[string][][2]string{"internal/webhook/v1alpha1/practitioner_webhook.go": {{"spec.Departures = append(slices.Clip(spec.Departures), ", "_ = append(slices.Clip(spec.Departures), "}}},
		finds:   "overshoot",
	},
	{
		name: "a-case-known-by-name",
		why:  "a case deleted and created again under its name is taken for the old one: the new case's entry is dropped as seen",
		replace: map[string][][2]string{
			"internal/policy/ledger.go": {{"ok && v.uid == r.Case.UID && v.generation >= r.Case.Generation", "ok && v.generation >= r.Case.Generation"}},
			"internal/ledger/ledger.go": {{"if found && string(uid) == r.CaseUID && generation >= r.Generation {", "if found && generation >= r.Generation {"}},
		},
		finds: "overshoot",
	},
	{
		name:    "clocks-compared",
		why:     "an entry is judged expired by the admitting replica's clock read on another's: a skew of minutes drops entries still in flight",
		replace: map[string][][2]string{"internal/snapshot/sight.go": {{"if !s.Observed.Old(name, ledger.EntryKey(r), now) {", "if now.Sub(r.AdmittedAt.Time) < ledger.TTL {"}}},
		finds:   "overshoot",
	},
	{
		name:    "a-deleted-ledger-loses-its-entries",
		why:     "a ledger can be deleted while allocations are in flight: their entries are lost",
		replace: map[string][][2]string{"internal/admission/writer.go": {{"controllerutil.AddFinalizer(update, ledger.Finalizer)", "_ = controllerutil.ContainsFinalizer(update, ledger.Finalizer)"}}},
		finds:   "overshoot",
	},
	{
		name: "a-new-ledger-with-no-watermark",
		why: "a ledger created after the team's last one was deleted starts with no seenThrough: a cache behind what the deleted " +
			"ledger had dropped counts neither the entries nor their cases",
		replace: map[string][][2]string{"internal/admission/writer.go": {{"\tl.Spec.SeenThrough = list.ResourceVersion\n\tl.Spec.PractitionersSeenThrough = list.ResourceVersion\n", "\t_ = list.ResourceVersion\n"}}},
		finds:   "overshoot",
	},
	{
		name: "a-new-ledger-kept-unwritten",
		why: "a new ledger a batch read but never wrote (it admitted nothing) is kept and created later from that copy, with the " +
			"watermark of when it was read, after the team's ledger came and went: a cache behind what that ledger dropped decides",
		replace: map[string][][2]string{"internal/admission/writer.go": {{"if err == nil && written.ResourceVersion != \"\" {", "if err == nil {"}}},
		finds:   "overshoot",
		seeds:   []string{"-sim.first=12001", "-sim.seeds=2000"}, // 1 history in 20,000 (seed 12965)
	},
	{
		name:    "a-cache-behind-the-ledger",
		why:     "a replica decides from a cache that has not come as far as the ledger's watermark: it misses cases whose entries are gone",
		replace: map[string][][2]string{"internal/admission/writer.go": {{"return w.Cases.Reach(ctx, l.Spec.SeenThrough) == nil && w.Practitioners.Reach(ctx, l.Spec.PractitionersSeenThrough) == nil", "return ctx != nil"}}},
		finds:   "overshoot",
	},
	{
		name:    "a-watermark-raised-by-the-apiserver",
		why:     "pruning drops an entry the apiserver shows stored, raising the watermark past this replica's cache, which then decides",
		replace: map[string][][2]string{"internal/admission/writer.go": {{"if !live && !w.CaughtUp(ctx, &caseloadv1alpha1.AllocationLedger{Spec: next}) {", "if false {"}}},
		finds:   "overshoot",
	},
	{
		name: "progress-from-the-handlers",
		why: "a cache is taken to have come as far as the objects its handlers were handed (review's hole 8): in a relist that reaches the store " +
			"piecemeal (client-go without AtomicFIFO), a newer object handed on first vouches for older ones still to come",
		replace: map[string][][2]string{"internal/snapshot/progress.go": {{"if p.Store != nil {\n\t\tthrough = ledger.ParseVersion(p.Store())", "if false {\n\t\tthrough = ledger.ParseVersion(p.Store())"}}},
		finds:   "overshoot",
	},
	{
		name:    "a-refusal-from-the-cache",
		why:     "a refusal is made from the cache: one that has not seen work given back refuses what fits",
		replace: map[string][][2]string{"internal/admission/writer.go": {{"if refused && !live {", "if refused && !live && attempt < 0 {"}}},
		finds:   "wrong refusal",
	},
}

// TestSimulationFindsEveryHole puts each hole back in turn and runs the simulation on it: each
// must fail, the way its hole would in a cluster.
func TestSimulationFindsEveryHole(t *testing.T) {
	if os.Getenv("CASELOAD_SIMULATION_HOLE") != "" {
		t.Skip("this is the simulation running on a hole")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	limit := make(chan struct{}, max(1, runtime.NumCPU()/2))
	for _, h := range holes {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			limit <- struct{}{}
			defer func() { <-limit }()
			dir := t.TempDir()
			overlay := map[string]string{}
			for file, pairs := range h.replace {
				src, err := os.ReadFile(filepath.Join(root, file))
				if err != nil {
					t.Fatal(err)
				}
				text := string(src)
				for _, p := range pairs {
					if n := strings.Count(text, p[0]); n != 1 {
						t.Fatalf("%s: the text to replace occurs %d times, want once (write the hole again against the code): %q", file, n, p[0])
					}
					text = strings.Replace(text, p[0], p[1], 1)
				}
				copied := filepath.Join(dir, strings.ReplaceAll(file, "/", "_"))
				if err := os.WriteFile(copied, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				overlay[filepath.Join(root, file)] = copied
			}
			raw, _ := json.Marshal(map[string]any{"Replace": overlay})
			overlayFile := filepath.Join(dir, "overlay.json")
			if err := os.WriteFile(overlayFile, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			seeds := h.seeds
			if seeds == nil {
				seeds = []string{"-sim.seeds=2000"}
			}
			cmd := exec.Command("go", append([]string{"test", "-overlay", overlayFile, "./internal/webhook/v1alpha1", "-run", "^TestSimulation$", "-count=1"}, seeds...)...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CASELOAD_SIMULATION_ONLY=1", "CASELOAD_SIMULATION_HOLE=1")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the simulation passed with the hole put back (%s)", h.why)
			}
			if !strings.Contains(string(out), "simulation: seed") || !strings.Contains(string(out), h.finds) {
				t.Fatalf("the simulation failed, but not by finding the hole (%s): want %q in:\n%s", h.why, h.finds, tail(string(out), 3000))
			}
			t.Logf("found: %s", firstMatch(string(out), "simulation: seed"))
		})
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func firstMatch(s, prefix string) string {
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, prefix); i >= 0 {
			return line[i:]
		}
	}
	return ""
}
