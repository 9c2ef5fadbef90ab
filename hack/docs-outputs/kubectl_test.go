package main

import "testing"

func TestChanging(t *testing.T) {
	for args, want := range map[string]bool{
		"-n brookfield patch case c-2090 --type merge": true,
		"--namespace brookfield get prac":              false,
		"get exceptionapprovals":                       false,
		"-n brookfield delete case c-1":                true,
	} {
		if got := changing(splitWords(args)); got != want {
			t.Errorf("%q: changing %v, want %v", args, got, want)
		}
	}
}

func splitWords(s string) []string {
	p, err := parse(s)
	if err != nil {
		panic(err)
	}
	return p.stages[0]
}
