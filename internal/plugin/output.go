package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// table is what a command prints: a row per item under headers (with the wide columns after
// them for -o wide), or the items themselves for -o json and -o yaml. The last column may be
// coloured: nothing is aligned after it.
type table struct {
	headers, wide  []string
	rows, wideRows [][]string
	items          any
}

// print writes t in the format --output names.
func (o *options) print(t table) error {
	out := o.streams.Out
	switch o.output {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(t.items)
	case "yaml":
		data, err := yaml.Marshal(t.items)
		if err != nil {
			return err
		}
		_, err = out.Write(data)
		return err
	case "table", "wide", "":
	default:
		return fmt.Errorf("unknown output format %q: use table, wide, json or yaml", o.output)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	headers := t.headers
	if o.output == "wide" && len(t.wide) > 0 {
		headers = insertWide(t.headers, t.wide)
	}
	fmt.Fprintln(w, strings.Join(headers, "\t"))
	for i, row := range t.rows {
		if o.output == "wide" && i < len(t.wideRows) {
			row = insertWide(row, t.wideRows[i])
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

// bar draws utilisation as 20 cells, with the percentage and the band, in the band's colour
// when paint is true. A caseload over capacity fills the bar and says by how much.
func bar(percent int32, band v1alpha1.Band, paint bool) string {
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

// orDash is s, or "-" for a figure the status does not have yet.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// warningCollector keeps the admission warnings of the requests made, as kubectl would print
// them, for the command to show in its own words. A request whose context carries a
// requestWarnings (withWarnings) has its warnings kept there instead, so that requests made at
// the same time each keep their own.
type warningCollector struct {
	mu   sync.Mutex
	seen []string
}

func (w *warningCollector) HandleWarningHeaderWithContext(ctx context.Context, _ int, _ string, text string) {
	if own, ok := ctx.Value(requestWarningsKey{}).(*requestWarnings); ok {
		own.texts = append(own.texts, text)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

// requestWarnings are the admission warnings of one request, which its context carries.
type requestWarnings struct{ texts []string }

type requestWarningsKey struct{}

// withWarnings is ctx for one request at a time, keeping the warnings of each in the result.
func withWarnings(ctx context.Context) (context.Context, *requestWarnings) {
	own := &requestWarnings{}
	return context.WithValue(ctx, requestWarningsKey{}, own), own
}

func (w *warningCollector) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}
