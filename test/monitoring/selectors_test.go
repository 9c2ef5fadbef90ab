package monitoring

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// grouping are the keywords followed by a list of label names, not of metrics.
var grouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// keywords are PromQL's other words that are not metric names: operators, modifiers and the
// aggregations, which may be followed by a grouping before their parenthesis.
var keywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "atan2": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
	"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true}

// selectors lists the vector selectors of a PromQL expression (metric name and matchers, as
// written), so that each can be asked of Prometheus on its own: an alert's expression as a whole
// returns nothing while all is well, but each metric it reads must exist. It knows what the
// alerts use: functions and aggregations, grouping lists, ranges and subqueries, offsets,
// strings and numbers; it does not parse PromQL in full.
func selectors(expr string) ([]string, error) {
	var out []string
	i := 0
	skipTo := func(open, close byte) error {
		depth := 0
		for ; i < len(expr); i++ {
			switch c := expr[i]; {
			case c == '"' || c == '\'' || c == '`':
				end := strings.IndexByte(expr[i+1:], c)
				if end < 0 {
					return fmt.Errorf("unterminated string at %d", i)
				}
				i += end + 1
			case c == open:
				depth++
			case c == close:
				depth--
				if depth == 0 {
					i++
					return nil
				}
			}
		}
		return fmt.Errorf("no %q closes the %q", close, open)
	}
	next := func(from int) byte {
		for ; from < len(expr); from++ {
			if c := expr[from]; c != ' ' && c != '\n' && c != '\t' {
				return c
			}
		}
		return 0
	}
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end := strings.IndexByte(expr[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			i += end + 2
		case c == '[':
			if err := skipTo('[', ']'); err != nil {
				return nil, err
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isWord(expr[i]) || expr[i] == '.') {
				i++
			}
		case isWord(c):
			start := i
			for i < len(expr) && (isWord(expr[i]) || expr[i] == ':') {
				i++
			}
			word := expr[start:i]
			switch {
			case grouping[word]:
				for i < len(expr) && expr[i] != '(' {
					i++
				}
				if err := skipTo('(', ')'); err != nil {
					return nil, err
				}
			case word == "offset":
				for i < len(expr) && (expr[i] == ' ' || expr[i] == '-') {
					i++
				}
				for i < len(expr) && isWord(expr[i]) {
					i++
				}
			case keywords[word], next(i) == '(':
			default:
				if next(i) == '{' {
					for expr[i] != '{' {
						i++
					}
					open := i
					if err := skipTo('{', '}'); err != nil {
						return nil, err
					}
					word += expr[open:i]
				}
				out = append(out, word)
			}
		default:
			i++
		}
	}
	return out, nil
}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func TestSelectors(t *testing.T) {
	for expr, want := range map[string][]string{
		`absent(up{job="caseload-operator"} == 1)`: {`up{job="caseload-operator"}`},
		`sum by (namespace, quota) (max by (namespace, quota, rule) (caseload_quota_violations{job="x"} offset 6h))
		  and on (namespace, quota) changes((max by (namespace, quota) (caseload_quota_observed_generation))[6h:1m]) > 0`: {
			`caseload_quota_violations{job="x"}`, "caseload_quota_observed_generation"},
		`histogram_quantile(0.99, sum by (le) (rate(x_bucket{le!="+Inf", a="}"}[5m]))) > 1`: {`x_bucket{le!="+Inf", a="}"}`},
		`min by (job) (cert_expiry) - time() < 14 * 86400`:                                  {"cert_expiry"},
		`max by (namespace, team) (a{band="Red"}) > 0 unless on (namespace, team) max(b)`:   {`a{band="Red"}`, "b"},
		`sum(rate(c_total[$__rate_interval])) / sum(rate(d:recorded[5m])) > 1e3`:            {"c_total", "d:recorded"},
	} {
		got, err := selectors(expr)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("selectors(%s) = %q, %v; want %q", expr, got, err, want)
		}
	}
}
