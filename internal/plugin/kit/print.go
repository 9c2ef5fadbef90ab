package kit

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Table is what a command prints: a row per item under headers (with the wide columns after
// them for -o wide), or the items themselves for -o json and -o yaml. The last column may be
// coloured: nothing is aligned after it.
type Table struct {
	Headers, Wide  []string
	Rows, WideRows [][]string
	Items          any
}

// Print writes t in the format --output names.
func (f *Flags) Print(t Table) error {
	out := f.Streams.Out
	switch f.Output {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(t.Items)
	case "yaml":
		data, err := yaml.Marshal(t.Items)
		if err != nil {
			return err
		}
		_, err = out.Write(data)
		return err
	case "table", "wide", "":
	default:
		return fmt.Errorf("unknown output format %q: use table, wide, json or yaml", f.Output)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	headers := t.Headers
	if f.Output == "wide" && len(t.Wide) > 0 {
		headers = insertWide(t.Headers, t.Wide)
	}
	fmt.Fprintln(w, strings.Join(headers, "\t"))
	for i, row := range t.Rows {
		if f.Output == "wide" && i < len(t.WideRows) {
			row = insertWide(row, t.WideRows[i])
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	return w.Flush()
}

// insertWide puts the wide columns before the last one, which stays last (it may be coloured).
func insertWide(row, wide []string) []string {
	if len(row) == 0 {
		return wide
	}
	out := append(append([]string{}, row[:len(row)-1]...), wide...)
	return append(out, row[len(row)-1])
}

// Bar draws utilisation as 20 cells, with the percentage and the band, in the band's colour
// when paint is true. A caseload over capacity fills the bar and says by how much.
func Bar(percent int32, band v1alpha1.Band, paint bool) string {
	filled := int(min(max(percent, 0), 100)) / 5
	text := fmt.Sprintf("%s%s %3d%%", strings.Repeat("█", filled), strings.Repeat("░", 20-filled), percent)
	if band != "" {
		text += " " + string(band)
	}
	if !paint {
		return text
	}
	code := map[v1alpha1.Band]string{v1alpha1.BandGreen: "32", v1alpha1.BandAmber: "33", v1alpha1.BandRed: "31"}[band]
	if code == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// OrDash is s, or "-" for a figure the status does not have yet.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Nothing says there is nothing to show, where a table would have been; json and yaml get an
// empty list.
func (f *Flags) Nothing(what, team string) error {
	if f.Output == "json" || f.Output == "yaml" {
		return f.Print(Table{Items: []any{}})
	}
	where := "in this namespace"
	if f.AllNamespaces {
		where = "in any namespace"
	}
	if team != "" {
		where = "in team " + team + " " + where
	}
	fmt.Fprintf(f.Streams.ErrOut, "No %s found %s.\n", what, where)
	return nil
}
