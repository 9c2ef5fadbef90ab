package kit

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

func TestBarFillsTwentyCellsAndNamesTheBand(t *testing.T) {
	if got, want := Bar(120, v1alpha1.BandRed), strings.Repeat("█", 20)+" 120% Red"; got != want {
		t.Errorf("over capacity: %q, want %q", got, want)
	}
	if got, want := Bar(41, v1alpha1.BandGreen), strings.Repeat("█", 8)+strings.Repeat("░", 12)+"  41% Green"; got != want {
		t.Errorf("41%%: %q, want %q", got, want)
	}
}

// terminal is a buffer that says it is a terminal.
type terminal struct{ bytes.Buffer }

func (*terminal) IsTerminal() bool { return true }

func TestColourOnATerminalAndNeverWithNoColor(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	if !Colour(&terminal{}) {
		t.Error("a terminal without NO_COLOR gets no colour")
	}
	if Colour(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	t.Setenv("NO_COLOR", "1")
	if Colour(&terminal{}) {
		t.Error("NO_COLOR=1 still gets colour")
	}
}

// table is two practitioners, one over capacity, with a wide column.
var table = Table{
	Headers:  []string{"PRACTITIONER", "WEIGHT", "UTILISATION"},
	Wide:     []string{"GRADE"},
	Rows:     [][]string{{"jo", "3.5", Bar(117, v1alpha1.BandRed)}, {"sam-longer-name", "1", Bar(50, v1alpha1.BandGreen)}},
	WideRows: [][]string{{"SocialWorker"}, {"NewlyQualified"}},
	Bands:    []v1alpha1.Band{v1alpha1.BandRed, v1alpha1.BandGreen},
	Items:    []map[string]string{{"name": "jo"}, {"name": "sam-longer-name"}},
}

func TestPrintInEachFormat(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	full, half := strings.Repeat("█", 20), strings.Repeat("█", 10)+strings.Repeat("░", 10)
	for _, tc := range []struct {
		output   string
		terminal bool
		want     string
	}{
		{"table", false, "PRACTITIONER      WEIGHT   UTILISATION\n" +
			"jo                3.5      " + full + " 117% Red\n" +
			"sam-longer-name   1        " + half + "  50% Green\n"},
		{"wide", false, "PRACTITIONER      WEIGHT   GRADE            UTILISATION\n" +
			"jo                3.5      SocialWorker     " + full + " 117% Red\n" +
			"sam-longer-name   1        NewlyQualified   " + half + "  50% Green\n"},
		{"table", true, "PRACTITIONER      WEIGHT   UTILISATION\n" +
			"jo                3.5      \x1b[31m" + full + " 117% Red\x1b[0m\n" +
			"sam-longer-name   1        \x1b[32m" + half + "  50% Green\x1b[0m\n"},
		{"json", true, "[\n  {\n    \"name\": \"jo\"\n  },\n  {\n    \"name\": \"sam-longer-name\"\n  }\n]\n"},
		{"yaml", false, "- name: jo\n- name: sam-longer-name\n"},
	} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		var w interface {
			Write([]byte) (int, error)
			String() string
		} = out
		if tc.terminal {
			w = &terminal{}
		}
		streams.Out = w
		f := &Flags{Streams: streams, Output: tc.output}
		if err := f.Print(table); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, w.String()); diff != "" {
			t.Errorf("-o %s (terminal %t) (-want +got):\n%s", tc.output, tc.terminal, diff)
		}
	}
	f := &Flags{Streams: genericiooptions.IOStreams{Out: &bytes.Buffer{}}, Output: "csv"}
	if err := f.Print(table); err == nil || !strings.Contains(err.Error(), `unknown output format "csv"`) {
		t.Errorf("-o csv: %v", err)
	}
}
