package report

import (
	"math"
	"slices"
)

// What a reader can work out. A published report is a set of counts, some shown and some
// suppressed, and the sums that tie them together: a row adds up to its total, the council's
// row to the sum of its teams, a grade's practitioners in one table to the same figure in
// another. A reader who knows those sums can bound each suppressed count by linear
// programming: the least and the most it can be while every published figure and every sum
// still holds. Statistical offices audit their tables this way before release; the report does
// the same before it writes a published count.

// linear is a constraint over the suppressed counts: sum of coef[i] x count[var[i]] is equal to
// (or, where atMost, at most) rhs.
type linear struct {
	vars   []int
	coefs  []float64
	rhs    float64
	atMost bool
}

// program is a reader's knowledge as linear constraints, split into independent parts (counts
// tied together, directly or through others): a count's range depends only on its part. Each
// part's first phase (a feasible starting point) is solved once and shared by every count of it.
type program struct {
	lower float64
	// part numbers each count's part; local its column within the part.
	part, local []int
	parts       []*programPart
}

type programPart struct {
	n      int
	cons   []linear
	solved *tableau
}

func newProgram(n int, cons []linear, lower float64) *program {
	p := &program{lower: lower, part: make([]int, n), local: make([]int, n)}
	byVar := make([][]int, n)
	for i, c := range cons {
		for _, x := range c.vars {
			byVar[x] = append(byVar[x], i)
		}
	}
	for i := range p.part {
		p.part[i] = -1
	}
	seen := make([]bool, len(cons))
	for v := range n {
		if p.part[v] >= 0 {
			continue
		}
		pp := &programPart{}
		id := len(p.parts)
		p.parts = append(p.parts, pp)
		p.part[v], p.local[v] = id, 0
		pp.n = 1
		queue := []int{v}
		var kept []int
		for len(queue) > 0 {
			x := queue[0]
			queue = queue[1:]
			for _, ci := range byVar[x] {
				if seen[ci] {
					continue
				}
				seen[ci] = true
				kept = append(kept, ci)
				for _, y := range cons[ci].vars {
					if p.part[y] < 0 {
						p.part[y], p.local[y] = id, pp.n
						pp.n++
						queue = append(queue, y)
					}
				}
			}
		}
		for _, ci := range kept {
			c := cons[ci]
			l := linear{coefs: c.coefs, rhs: c.rhs, atMost: c.atMost, vars: make([]int, len(c.vars))}
			for k, x := range c.vars {
				l.vars[k] = p.local[x]
			}
			pp.cons = append(pp.cons, l)
		}
	}
	return p
}

// rangeOf is the least and the most count v can be.
func (p *program) rangeOf(v int) (lo, hi float64) {
	return p.feasible(v).optimise(p.local[v], false), p.most(v)
}

// most is the most count v can be.
func (p *program) most(v int) float64 {
	return p.feasible(v).optimise(p.local[v], true)
}

// feasible is the first phase of v's part, solved once.
func (p *program) feasible(v int) *tableau {
	pp := p.parts[p.part[v]]
	if pp.solved == nil {
		pp.solved = phaseOne(pp.n, pp.cons, p.lower)
	}
	return pp.solved
}

// The programs are solved by the two-phase simplex method on a dense tableau with Bland's rule,
// which cannot cycle. The published figures are true, so a program is always feasible.

const eps = 1e-9

// tableau is a program after its first phase: a feasible basis, from which each count's least
// and most are found by the second.
type tableau struct {
	t            [][]float64
	basis        []int
	n, slacks, m int
	lower        float64
	nonzero      []int
}

// phaseOne finds a feasible basis for x >= lower subject to cons: with y = x - lower >= 0, a
// slack column for each inequality and an artificial one for each row, it drives the
// artificial columns out.
func phaseOne(n int, cons []linear, lower float64) *tableau {
	slacks := 0
	for _, c := range cons {
		if c.atMost {
			slacks++
		}
	}
	m := len(cons)
	cols := n + slacks + m
	tb := &tableau{t: make([][]float64, m+1), basis: make([]int, m), n: n, slacks: slacks, m: m, lower: lower}
	s := 0
	for i, c := range cons {
		row := make([]float64, cols+1)
		rhs := c.rhs
		for k, j := range c.vars {
			row[j] += c.coefs[k]
			rhs -= c.coefs[k] * lower
		}
		if c.atMost {
			row[n+s] = 1
			s++
		}
		if rhs < 0 {
			for j := range row {
				row[j] = -row[j]
			}
			rhs = -rhs
		}
		row[n+slacks+i] = 1
		row[cols] = rhs
		tb.t[i] = row
		tb.basis[i] = n + slacks + i
	}
	obj := make([]float64, cols+1)
	tb.t[m] = obj
	for i := 0; i < m; i++ {
		for j := 0; j <= cols; j++ {
			if j < n+slacks || j == cols {
				obj[j] -= tb.t[i][j]
			}
		}
	}
	tb.run()
	for i := 0; i < m; i++ {
		if tb.basis[i] >= n+slacks {
			for j := 0; j < n+slacks; j++ {
				if math.Abs(tb.t[i][j]) > eps {
					tb.pivot(i, j)
					break
				}
			}
		}
	}
	return tb
}

// optimise minimises (or maximises) count v from the feasible basis, on a copy of the tableau.
func (tb0 *tableau) optimise(v int, maximise bool) float64 {
	tb := &tableau{t: make([][]float64, len(tb0.t)), basis: slices.Clone(tb0.basis), n: tb0.n, slacks: tb0.slacks, m: tb0.m, lower: tb0.lower}
	for i, row := range tb0.t {
		tb.t[i] = slices.Clone(row)
	}
	obj := tb.t[tb.m]
	for j := range obj {
		obj[j] = 0
	}
	sign := 1.0
	if maximise {
		sign = -1
	}
	obj[v] = sign
	for i := 0; i < tb.m; i++ {
		if b := tb.basis[i]; b < tb.n+tb.slacks && obj[b] != 0 {
			f := obj[b]
			for j := range obj {
				obj[j] -= f * tb.t[i][j]
			}
		}
	}
	if !tb.run() {
		return math.Inf(1)
	}
	return tb.lower - obj[len(obj)-1]*sign
}

// pivot makes column c basic in row r. The tableaux of these programs are sparse (each sum has
// a few counts), so only the pivot row's non-zero columns are updated, and what rounding leaves
// of a cancelled entry is cleared to keep them so.
func (tb *tableau) pivot(r, c int) {
	t := tb.t
	p := t[r][c]
	tb.nonzero = tb.nonzero[:0]
	for j, x := range t[r] {
		if x != 0 {
			t[r][j] = x / p
			tb.nonzero = append(tb.nonzero, j)
		}
	}
	for i := range t {
		f := t[i][c]
		if i == r || f == 0 {
			continue
		}
		row := t[i]
		for _, j := range tb.nonzero {
			v := row[j] - f*t[r][j]
			if v < 1e-12 && v > -1e-12 {
				v = 0
			}
			row[j] = v
		}
	}
	tb.basis[r] = c
}

// run minimises the objective row over the structural and slack columns (never an artificial
// one); false when the objective has no bound.
func (tb *tableau) run() bool {
	t, m := tb.t, tb.m
	allowed := tb.n + tb.slacks
	rhs := len(t[m]) - 1
	for {
		enter := -1
		for j := 0; j < allowed; j++ {
			if t[m][j] < -eps {
				enter = j
				break
			}
		}
		if enter < 0 {
			return true
		}
		leave, best := -1, math.Inf(1)
		for i := 0; i < m; i++ {
			if t[i][enter] > eps {
				if ratio := t[i][rhs] / t[i][enter]; ratio < best-eps || (ratio < best+eps && leave >= 0 && tb.basis[i] < tb.basis[leave]) {
					leave, best = i, ratio
				}
			}
		}
		if leave < 0 {
			return false
		}
		tb.pivot(leave, enter)
	}
}
