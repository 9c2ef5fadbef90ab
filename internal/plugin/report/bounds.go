package report

import "math"

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

// feasibleRange is the least and the most count v can be, given the constraints and that every
// suppressed count is at least lower (a suppressed count is never 0: zeros are shown). hi is
// +Inf where nothing bounds the count from above.
func feasibleRange(n int, cons []linear, lower float64, v int) (lo, hi float64) {
	n, cons, v = component(n, cons, v)
	lo = solveLP(n, cons, lower, v, false)
	hi = solveLP(n, cons, lower, v, true)
	return lo, hi
}

// component keeps only the constraints that bear on v, directly or through other counts, with
// their counts numbered afresh: the others cannot change its range, and the program is smaller.
func component(n int, cons []linear, v int) (int, []linear, int) {
	byVar := make([][]int, n)
	for i, c := range cons {
		for _, x := range c.vars {
			byVar[x] = append(byVar[x], i)
		}
	}
	number := map[int]int{v: 0}
	queue := []int{v}
	seen := make([]bool, len(cons))
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
				if _, ok := number[y]; !ok {
					number[y] = len(number)
					queue = append(queue, y)
				}
			}
		}
	}
	out := make([]linear, 0, len(kept))
	for _, ci := range kept {
		c := cons[ci]
		l := linear{coefs: c.coefs, rhs: c.rhs, atMost: c.atMost, vars: make([]int, len(c.vars))}
		for k, x := range c.vars {
			l.vars[k] = number[x]
		}
		out = append(out, l)
	}
	return len(number), out, 0
}

// solveLP minimises (or maximises) count v over x >= lower subject to cons, by the two-phase
// simplex method on a dense tableau with Bland's rule, which cannot cycle. The published
// figures are true, so the program is always feasible; a maximum nothing bounds is +Inf.
func solveLP(n int, cons []linear, lower float64, v int, maximise bool) float64 {
	const eps = 1e-9
	// Shift to y = x - lower >= 0, and give each inequality a slack column.
	slacks := 0
	for _, c := range cons {
		if c.atMost {
			slacks++
		}
	}
	m := len(cons)
	cols := n + slacks + m // structural, slack, artificial
	rhsCol := cols
	t := make([][]float64, m+1)
	basis := make([]int, m)
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
		row[rhsCol] = rhs
		t[i] = row
		basis[i] = n + slacks + i
	}
	obj := make([]float64, cols+1)
	t[m] = obj
	pivot := func(r, c int) {
		p := t[r][c]
		for j := range t[r] {
			t[r][j] /= p
		}
		for i := range t {
			if i == r || t[i][c] == 0 {
				continue
			}
			f := t[i][c]
			for j := range t[i] {
				t[i][j] -= f * t[r][j]
			}
		}
		basis[r] = c
	}
	// run minimises the objective row over the columns allowed; false when unbounded.
	run := func(allowed int) bool {
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
					if ratio := t[i][rhsCol] / t[i][enter]; ratio < best-eps || (ratio < best+eps && leave >= 0 && basis[i] < basis[leave]) {
						leave, best = i, ratio
					}
				}
			}
			if leave < 0 {
				return false
			}
			pivot(leave, enter)
		}
	}
	// Phase one: drive the artificial columns out (minimise their sum).
	for j := range obj {
		obj[j] = 0
	}
	for i := 0; i < m; i++ {
		for j := 0; j <= cols; j++ {
			if j < n+slacks || j == rhsCol {
				obj[j] -= t[i][j]
			}
		}
	}
	run(n + slacks)
	for i := 0; i < m; i++ {
		if basis[i] >= n+slacks {
			for j := 0; j < n+slacks; j++ {
				if math.Abs(t[i][j]) > eps {
					pivot(i, j)
					break
				}
			}
		}
	}
	// Phase two: the objective, over the structural and slack columns only.
	for j := range obj {
		obj[j] = 0
	}
	sign := 1.0
	if maximise {
		sign = -1
	}
	obj[v] = sign
	for i := 0; i < m; i++ {
		if b := basis[i]; b < n+slacks && obj[b] != 0 {
			f := obj[b]
			for j := range obj {
				obj[j] -= f * t[i][j]
			}
		}
	}
	if !run(n + slacks) {
		return math.Inf(1)
	}
	y := -obj[rhsCol] * sign
	return lower + y
}
