package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMasked(t *testing.T) {
	got := masked([]string{
		"$ kubectl -n brookfield get prac sw-0417",
		"NAME      TEAM               BAND   AGE",
		"sw-0417   child-protection   Red    23s",
		"",
		"$ kubectl -n brookfield get exceptionapprovals",
		"NAME                     CASE     EXPIRES",
		"c-2090-20261130-175826   c-2090   2026-12-28T17:58:26Z",
		`{"approvedAt":"2026-11-30T12:00:12Z","practitioner":"sw-0417"}`,
		"PRACTITIONER   HEADROOM   AGE", // not kubectl's table: left as it is
		"sw-0417        -1         16",
	})
	want := []string{
		"$ kubectl -n brookfield get prac sw-0417",
		"NAME      TEAM               BAND   AGE",
		"sw-0417   child-protection   Red    <age>",
		"",
		"$ kubectl -n brookfield get exceptionapprovals",
		"NAME                     CASE     EXPIRES",
		"c-2090-20261130-<time>   c-2090   2026-12-28T<time>Z",
		`{"approvedAt":"2026-11-30T<time>Z","practitioner":"sw-0417"}`,
		"PRACTITIONER   HEADROOM   AGE",
		"sw-0417        -1         16",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("masked (-want +got):\n%s", diff)
	}
	// Figures, bands and dates are never masked.
	if a, b := masked([]string{"NAME   BAND   AGE", "sw-1   Red    5s"}), masked([]string{"NAME   BAND   AGE", "sw-1   Away   5s"}); cmp.Equal(a, b) {
		t.Errorf("a band was masked: %q", a)
	}
	if a, b := masked([]string{"2026-12-28T12:00:12Z"}), masked([]string{"2026-12-29T12:00:12Z"}); cmp.Equal(a, b) {
		t.Errorf("a date was masked: %q", a)
	}
}
