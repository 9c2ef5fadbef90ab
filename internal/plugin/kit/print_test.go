package kit

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

func TestBarIsInTheBandsColourOnlyWhenPainted(t *testing.T) {
	if got := Bar(83, v1alpha1.BandAmber, true); !strings.HasPrefix(got, "\x1b[33m") || !strings.HasSuffix(got, "\x1b[0m") || !strings.Contains(got, " 83% Amber") {
		t.Errorf("painted amber bar = %q", got)
	}
	plain := Bar(120, v1alpha1.BandRed, false)
	if strings.Contains(plain, "\x1b") || strings.Count(plain, "█") != 20 || !strings.HasSuffix(plain, "120% Red") {
		t.Errorf("over capacity, unpainted: %q, want a full bar, 120%% and Red", plain)
	}
	if got := Bar(41, v1alpha1.BandGreen, false); strings.Count(got, "█") != 8 || strings.Count(got, "░") != 12 {
		t.Errorf("41%% = %q, want 8 of 20 cells filled", got)
	}
}

func TestColourOnATerminalAndNeverWithNoColor(t *testing.T) {
	was := IsTerminal
	defer func() { IsTerminal = was }()
	IsTerminal = func(io.Writer) bool { return true }
	t.Setenv("NO_COLOR", "")
	if !Colour(&bytes.Buffer{}) {
		t.Error("a terminal without NO_COLOR gets no colour")
	}
	t.Setenv("NO_COLOR", "1")
	if Colour(&bytes.Buffer{}) {
		t.Error("NO_COLOR=1 still gets colour")
	}
	IsTerminal = was
	t.Setenv("NO_COLOR", "")
	if Colour(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}
