package report

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFeasibleRangeMatchesEnumeration checks the attacker's linear programs against brute
// force: a 3 x 3 table with its row and column totals, some cells suppressed, every completion
// of the suppressed cells enumerated. A table with margins has integral bounds, so the least and
// the most each suppressed cell can be are the same either way.
func TestFeasibleRangeMatchesEnumeration(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		r := newRelease()
		var grid [3][3]int
		for i := range 3 {
			for j := range 3 {
				grid[i][j] = 1 + rng.IntN(6)
			}
		}
		cellAt := func(i, j int) int {
			return r.count(cellKey{"x", string(rune('a' + i)), string(rune('a' + j))}, grid[i][j], false)
		}
		for i := range 3 {
			row := r.count(cellKey{"row", string(rune('a' + i)), ""}, grid[i][0]+grid[i][1]+grid[i][2], false)
			r.sum(row, cellAt(i, 0), cellAt(i, 1), cellAt(i, 2))
		}
		for j := range 3 {
			col := r.count(cellKey{"col", "", string(rune('a' + j))}, grid[0][j]+grid[1][j]+grid[2][j], false)
			r.sum(col, cellAt(0, j), cellAt(1, j), cellAt(2, j))
		}
		var hidden []int
		for i := range r.cells {
			r.cells[i].hidden = r.cells[i].key.measure == "x" && rng.IntN(3) == 0
			r.cells[i].primary = r.cells[i].hidden
			if r.cells[i].hidden {
				hidden = append(hidden, i)
			}
		}
		if len(hidden) == 0 || len(hidden) > 5 {
			continue
		}
		// Enumerate every assignment of 1..18 to the hidden cells that keeps every sum.
		lo, hi := map[int]int{}, map[int]int{}
		values := make([]int, len(r.cells))
		for i, c := range r.cells {
			values[i] = c.value
		}
		var walk func(k int)
		walk = func(k int) {
			if k == len(hidden) {
				for _, rel := range r.relations {
					n := 0
					for _, p := range rel.parts {
						n += values[p]
					}
					if n != values[rel.total] {
						return
					}
				}
				for _, h := range hidden {
					if v, ok := lo[h]; !ok || values[h] < v {
						lo[h] = values[h]
					}
					hi[h] = max(hi[h], values[h])
				}
				return
			}
			for v := 1; v <= 18; v++ {
				values[hidden[k]] = v
				walk(k + 1)
			}
			values[hidden[k]] = r.cells[hidden[k]].value
		}
		walk(0)
		for _, e := range r.audit() {
			gotLo, gotHi := math.Ceil(e.lo-1e-6), math.Floor(e.hi+1e-6)
			if math.IsInf(e.hi, 1) {
				gotHi = 18 // enumeration stops at 18
			}
			if int(gotLo) != lo[e.cell] || int(min(gotHi, 18)) != hi[e.cell] {
				t.Fatalf("trial %d, cell %v: linear programming says %v..%v, enumeration %d..%d", trial, r.cells[e.cell].key, gotLo, gotHi, lo[e.cell], hi[e.cell])
			}
		}
	}
}
