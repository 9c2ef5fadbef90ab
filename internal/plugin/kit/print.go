package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Table is what a command prints: a row per item under headers (with the wide columns after
// them for -o wide), or the items themselves for -o json and -o yaml. The last column is the
// one a band colours on a terminal: Bands, when set, holds each row's.
type Table struct {
	Headers, Wide  []string
	Rows, WideRows [][]string
	Bands          []v1alpha1.Band
	Items          any
}

// Print writes t in the format --output names. Tables go through cli-runtime's table printer,
// as kubectl's own do; on a terminal each row's last cell then takes its band's colour.
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
	var buf bytes.Buffer
	if err := printers.NewTablePrinter(printers.PrintOptions{Wide: f.Output == "wide"}).PrintObj(t.metaTable(), &buf); err != nil {
		return err
	}
	if len(t.Bands) == 0 || !Colour(out) {
		_, err := out.Write(buf.Bytes())
		return err
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	for i, line := range lines {
		if i > 0 && i <= len(t.Rows) && i-1 < len(t.Bands) {
			row := t.Rows[i-1]
			line = paint(line, row[len(row)-1], t.Bands[i-1])
		}
		if _, err := io.WriteString(out, line); err != nil {
			return err
		}
	}
	return nil
}

// metaTable is t as the apiserver would serve it: the wide columns at priority 1, before the
// last column, which stays last.
func (t Table) metaTable() *metav1.Table {
	var mt metav1.Table
	column := func(name string, priority int32) {
		mt.ColumnDefinitions = append(mt.ColumnDefinitions, metav1.TableColumnDefinition{Name: name, Type: "string", Priority: priority})
	}
	n := len(t.Headers)
	for _, h := range t.Headers[:max(n-1, 0)] {
		column(h, 0)
	}
	for _, h := range t.Wide {
		column(h, 1)
	}
	if n > 0 {
		column(t.Headers[n-1], 0)
	}
	for i, row := range t.Rows {
		var cells []any
		for _, c := range row[:max(len(row)-1, 0)] {
			cells = append(cells, c)
		}
		if i < len(t.WideRows) {
			for _, c := range t.WideRows[i] {
				cells = append(cells, c)
			}
		} else {
			for range t.Wide {
				cells = append(cells, "")
			}
		}
		if len(row) > 0 {
			cells = append(cells, row[len(row)-1])
		}
		mt.Rows = append(mt.Rows, metav1.TableRow{Cells: cells})
	}
	return &mt
}

// bandColours are the terminal colours of the bands.
var bandColours = map[v1alpha1.Band]string{v1alpha1.BandGreen: "32", v1alpha1.BandAmber: "33", v1alpha1.BandRed: "31"}

// paint colours cell, the end of line, in band's colour.
func paint(line, cell string, band v1alpha1.Band) string {
	code := bandColours[band]
	body, nl := strings.CutSuffix(line, "\n")
	at := strings.LastIndex(body, cell)
	if code == "" || cell == "" || at < 0 || at+len(cell) != len(body) {
		return line
	}
	out := body[:at] + "\x1b[" + code + "m" + cell + "\x1b[0m"
	if nl {
		out += "\n"
	}
	return out
}

// Bar draws utilisation as 20 cells, with the percentage and the band. A caseload over capacity
// fills the bar and says by how much.
func Bar(percent int32, band v1alpha1.Band) string {
	filled := int(min(max(percent, 0), 100)) / 5
	text := fmt.Sprintf("%s%s %3d%%", strings.Repeat("█", filled), strings.Repeat("░", 20-filled), percent)
	if band != "" {
		text += " " + string(band)
	}
	return text
}

// OrDash is s, or "-" for a figure the status does not have yet.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Nothing says there is nothing to show, where a table would have been, and why: a namespace or
// team that does not exist is an error naming it, with the flags that name another; otherwise it
// says where it looked and exits 0. json and yaml get an empty list.
func (f *Flags) Nothing(ctx context.Context, what, team string) error {
	if err := f.Exists(ctx, team); err != nil {
		return err
	}
	if f.Output == "json" || f.Output == "yaml" {
		return f.Print(Table{Items: []any{}})
	}
	where := "in any namespace you may read"
	if !f.AllNamespaces {
		ns, err := f.Namespace()
		if err != nil {
			return err
		}
		where = fmt.Sprintf("in namespace %s", ns)
	}
	if team != "" {
		where = "in team " + team + " " + where
	}
	fmt.Fprintf(f.Streams.ErrOut, "No %s found %s.\n", what, where)
	if !f.AllNamespaces {
		fmt.Fprintln(f.Streams.ErrOut, "Name another council with -n NAMESPACE, or look in every council you may read with -A.")
	}
	return nil
}

// Exists checks that the council the command is about, and team when it is not empty, are
// there: the namespace (unless --all-namespaces) and a Team of that name in it. One the user
// may not read is taken as there; the apiserver then says what they may not do.
func (f *Flags) Exists(ctx context.Context, team string) error {
	c, err := f.Client()
	if err != nil {
		return err
	}
	if f.AllNamespaces {
		if team == "" {
			return nil
		}
		var teams v1alpha1.TeamList
		if err := c.List(ctx, &teams); err != nil {
			return nil
		}
		if !slices.ContainsFunc(teams.Items, func(t v1alpha1.Team) bool { return t.Name == team }) {
			return fmt.Errorf("there is no team %s in any namespace you may read: kubectl caseload top teams -A lists them", team)
		}
		return nil
	}
	ns, err := f.Namespace()
	if err != nil {
		return err
	}
	if err := c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); apierrors.IsNotFound(err) {
		return fmt.Errorf("there is no namespace %s: name a council with -n NAMESPACE, or look in every council you may read with -A", ns)
	}
	if team == "" {
		return nil
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: team}, &v1alpha1.Team{}); apierrors.IsNotFound(err) {
		return fmt.Errorf("there is no team %s in namespace %s: kubectl caseload top teams -n %s lists its teams", team, ns, ns)
	}
	return nil
}

// NotFoundIn is err, or, when err says the object is not there, an error naming the namespace it
// was looked for in and how to name another.
func NotFoundIn(err error, kind, name, namespace string) error {
	if !apierrors.IsNotFound(err) {
		return err
	}
	return fmt.Errorf("there is no %s %s in namespace %s: name its council with -n NAMESPACE", kind, name, namespace)
}
