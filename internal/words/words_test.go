package words

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n          int
		noun, want string
	}{
		{1, "council", "1 council"},
		{0, "council", "0 councils"},
		{2, "row", "2 rows"},
		{1, "open case", "1 open case"},
		{11, "open case", "11 open cases"},
		{2, "policy", "2 policies"},
		{2, "day", "2 days"},
		{3, "child", "3 children"},
		{2, "suite", "2 suites"},
		{2, "business", "2 businesses"},
		{4, "batch", "4 batches"},
		{5, "test", "5 tests"},
	} {
		if got := Count(tc.n, tc.noun); got != tc.want {
			t.Errorf("Count(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
	if got := Of(1, "practitioner"); got != "practitioner" {
		t.Errorf("Of(1) = %q", got)
	}
	if got := Of(3, "practitioner"); got != "practitioners" {
		t.Errorf("Of(3) = %q", got)
	}
}
