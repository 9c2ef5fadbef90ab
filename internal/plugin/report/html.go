package report

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"strings"
)

// The HTML report is one file that needs nothing else: styles inline, charts as inline SVG, no
// script, no font or image to fetch (its Content-Security-Policy forbids any), so that it can be
// e-mailed, archived and printed as it is. Each chart has a text alternative and the table of its
// figures follows it. Colours are told apart by people with the commonest colour-vision
// deficiencies, and a segment wide enough for its figure is labelled with it as well.

// bandColours are the bands' colours and the colour of the figures written on them: from Okabe
// and Ito's palette, which stays distinct with the commonest colour-vision deficiencies, with a
// contrast of at least 4.5:1 between each and its figures.
var bandColours = map[string][2]string{
	"Green": {"#009e73", "#000000"}, "Amber": {"#e69f00", "#000000"}, "Red": {"#d55e00", "#000000"},
	"Away": {"#cc79a7", "#000000"}, "None": {"#d9d9d9", "#000000"},
}

// waitColours shade the unallocated cases' waits from short (light) to long (dark).
var waitColours = [][2]string{{"#c6dbef", "#000000"}, {"#6baed6", "#000000"}, {"#2171b5", "#ffffff"}, {"#08306b", "#ffffff"}}

const reportCSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1a1a1a; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.8rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.4rem; border-bottom: 2px solid #1a1a1a; margin-top: 2.5rem; }
h3 { font-size: 1.1rem; margin-top: 1.8rem; }
p.note { color: #404040; font-size: 0.9rem; max-width: 60rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #999; padding: 0.25rem 0.5rem; }
th { background: #f0f0f0; text-align: left; }
td.count, td.figure { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; }
figure { margin: 1rem 0; }
figcaption { font-size: 0.9rem; color: #404040; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.legend span { display: inline-block; margin-right: 1rem; font-size: 0.85rem; }
.legend i { display: inline-block; width: 0.9rem; height: 0.9rem; margin-right: 0.3rem; vertical-align: middle; border: 1px solid #666; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-before: page; }
  section, figure, table { break-inside: avoid; }
  .scroll { overflow: visible; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
`

var reportPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>{{.CSS}}</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p>{{.Subtitle}}</p>
</header>
<main>
{{range .Councils}}<section aria-labelledby="council-{{.Namespace}}">
<h2 id="council-{{.Namespace}}">{{.Namespace}}</h2>
<p>{{.Calendar}}</p>
{{range .Charts}}<figure>{{.}}</figure>
{{end}}{{if .Histograms}}<figure>
<div class="charts">
{{range .Histograms}}{{.}}
{{end}}</div>
<figcaption>Practitioners by utilisation, per team, on one scale (the dashed line is capacity: bars to its right are over capacity)</figcaption>
</figure>
{{end}}
{{range .Tables}}<section aria-labelledby="{{$.Prefix}}{{.ID}}-{{.Council}}">
<h3 id="{{$.Prefix}}{{.ID}}-{{.Council}}">{{.Title}}</h3>
{{if .Note}}<p class="note">{{.Note}}</p>
{{end}}{{if .Rows}}<div class="scroll"><table>
<thead><tr>{{range .Headers}}<th scope="col">{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr{{if .Total}} class="total"{{end}}>{{range $i, $c := .Cells}}{{if eq $i 0}}<th scope="row">{{$c.Text}}</th>{{else}}<td class="{{if $c.Count}}count{{else}}figure{{end}}">{{$c.Text}}</td>{{end}}{{end}}</tr>
{{end}}</tbody>
</table></div>
{{else}}<p>None.</p>
{{end}}</section>
{{end}}</section>
{{end}}</main>
</body>
</html>
`))

type htmlRow struct {
	Cells []cell
	Total bool
}

type htmlTable struct {
	reportTable
	Council string
	Rows    []htmlRow
}

type htmlCouncil struct {
	Namespace  string
	Calendar   string
	Charts     []template.HTML
	Histograms []template.HTML
	Tables     []htmlTable
}

func writeReportHTML(w io.Writer, h *healthCheck) error {
	title, subtitle := h.heading()
	d := disclosure{publish: h.Publish}
	page := struct {
		Title, Subtitle, Prefix string
		CSS                     template.CSS
		Councils                []htmlCouncil
	}{Title: title, Subtitle: subtitle, Prefix: "t-", CSS: template.CSS(reportCSS)}
	for _, c := range h.Councils {
		hc := htmlCouncil{Namespace: c.Namespace, Calendar: c.calendarLine(), Charts: []template.HTML{bandChart(c, d), waitChart(c, d)}, Histograms: utilisationCharts(c, d)}
		for _, t := range c.sections(d) {
			ht := htmlTable{reportTable: t, Council: c.Namespace}
			for _, r := range t.Rows {
				ht.Rows = append(ht.Rows, htmlRow{Cells: r, Total: len(r) > 0 && r[0].Text == c.Total.Team})
			}
			hc.Tables = append(hc.Tables, ht)
		}
		page.Councils = append(page.Councils, hc)
	}
	return reportPage.Execute(w, page)
}

// segment is a part of a stacked bar.
type segment struct {
	label  string
	n      int
	colour [2]string
}

// stackedBars draws one horizontal bar per team, each split into segments whose widths are
// their share of the bar's total. In a published report a suppressed count has no width of its
// own: the suppressed segments of a bar are drawn together, hatched, as what the total leaves.
func stackedBars(id, title string, rows []string, segments [][]segment, d disclosure, legend []segment) template.HTML {
	const labelW, barW, rowH, top = 150, 420, 26, 8
	height := top + rowH*len(rows) + 4
	var b, desc strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="%[1]s-title %[1]s-desc" width="%[2]d" height="%[3]d" viewBox="0 0 %[2]d %[3]d" font-family="system-ui, Arial, sans-serif" font-size="12">`,
		id, labelW+barW+10, height)
	b.WriteString(`<defs><pattern id="` + id + `-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#555555" stroke-width="2"/></pattern></defs>`)
	for i, team := range rows {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, y+15, html.EscapeString(team))
		total, shown, hidden := 0, 0, false
		var parts []string
		for _, s := range segments[i] {
			total += s.n
			c := d.count(s.n)
			parts = append(parts, s.label+" "+c.Text)
			if c.Text == suppressed {
				hidden = true
			}
		}
		cells := d.counts(counts(segments[i]))
		fmt.Fprintf(&desc, "%s: %s. ", team, strings.Join(parts, ", "))
		if total == 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#404040">none</text>`, labelW, y+15)
			continue
		}
		if d.publish && d.count(total).Text == suppressed {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#404040">c (1 to 4 in all)</text>`, labelW, y+15)
			continue
		}
		x := float64(labelW)
		for j, s := range segments[i] {
			if cells[j].Text == suppressed || s.n == 0 {
				continue
			}
			shown += s.n
			wdt := float64(barW) * float64(s.n) / float64(total)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="20" fill="%s" stroke="#ffffff"><title>%s: %d</title></rect>`,
				x, y+2, wdt, s.colour[0], html.EscapeString(s.label), s.n)
			if wdt >= 18 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="%s">%d</text>`, x+wdt/2, y+16, s.colour[1], s.n)
			}
			x += wdt
		}
		if hidden {
			wdt := float64(barW) * float64(total-shown) / float64(total)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="20" fill="url(#%s-hatch)" stroke="#555555"><title>suppressed: c</title></rect>`, x, y+2, wdt, id)
			if wdt >= 12 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#000000" font-weight="bold">c</text>`, x+wdt/2, y+16)
			}
		}
	}
	b.WriteString(`</svg>`)
	var legendHTML strings.Builder
	legendHTML.WriteString(`<p class="legend" aria-hidden="true">`)
	for _, l := range legend {
		fmt.Fprintf(&legendHTML, `<span><i style="background:%s"></i>%s</span>`, l.colour[0], html.EscapeString(l.label))
	}
	if d.publish {
		legendHTML.WriteString(`<span><i style="background:repeating-linear-gradient(45deg,#555 0 2px,#fff 2px 5px)"></i>c: suppressed</span>`)
	}
	legendHTML.WriteString(`</p>`)
	svg := strings.Replace(b.String(), `<defs>`, fmt.Sprintf(`<title id="%s-title">%s</title><desc id="%s-desc">%s</desc><defs>`,
		id, html.EscapeString(title), id, html.EscapeString(strings.TrimSpace(desc.String()))), 1)
	return template.HTML(svg + legendHTML.String() + `<figcaption>` + html.EscapeString(title) + `</figcaption>`)
}

func counts(ss []segment) []int {
	out := make([]int, len(ss))
	for i, s := range ss {
		out[i] = s.n
	}
	return out
}

// bandChart shows each team's practitioners by band.
func bandChart(c *councilReport, d disclosure) template.HTML {
	var rows []string
	var segs [][]segment
	var legend []segment
	for _, b := range bandOrder {
		legend = append(legend, segment{label: b, colour: bandColours[b]})
	}
	for _, t := range c.teamRows() {
		rows = append(rows, t.Team)
		var s []segment
		for _, b := range bandOrder {
			s = append(s, segment{label: b, n: t.Bands[b], colour: bandColours[b]})
		}
		segs = append(segs, s)
	}
	return stackedBars("bands-"+c.Namespace, "Practitioners by band, "+c.Namespace, rows, segs, d, legend)
}

// waitChart shows each team's unallocated cases by how long they have waited.
func waitChart(c *councilReport, d disclosure) template.HTML {
	var rows []string
	var segs [][]segment
	var legend []segment
	for i, w := range waits {
		legend = append(legend, segment{label: w.name, colour: waitColours[i]})
	}
	for _, t := range c.teamRows() {
		rows = append(rows, t.Team)
		var s []segment
		for i, w := range waits {
			n := 0
			for _, byAge := range t.Unallocated {
				n += byAge[w.name]
			}
			s = append(s, segment{label: w.name, n: n, colour: waitColours[i]})
		}
		segs = append(segs, s)
	}
	return stackedBars("waits-"+c.Namespace, "Unallocated cases by wait, "+c.Namespace, rows, segs, d, legend)
}

// utilisationBins are the histogram's bins of utilisation, in percent.
var utilisationBins = []struct {
	name     string
	from, to int // to is exclusive; -1 is open-ended
}{{"under 50%", -1 << 31, 50}, {"50-69%", 50, 70}, {"70-89%", 70, 90}, {"90-100%", 90, 101}, {"101-110%", 101, 111}, {"111-130%", 111, 131}, {"over 130%", 131, -1}}

func binsOf(utilisation []int) []int {
	out := make([]int, len(utilisationBins))
	for _, u := range utilisation {
		for i, b := range utilisationBins {
			if u >= b.from && (b.to < 0 || u < b.to) {
				out[i]++
				break
			}
		}
	}
	return out
}

// utilisationCharts are a histogram of utilisation per team, on one scale so that teams can be
// compared. A published report leaves out a team with fewer than five practitioners measured and
// draws a suppressed bin as a hatched bar of the height of 4, labelled c.
func utilisationCharts(c *councilReport, d disclosure) []template.HTML {
	const w, h, left, bottom, top = 320, 190, 44, 52, 22
	most := 5
	for _, t := range c.Teams {
		for _, n := range binsOf(t.Utilisation) {
			most = max(most, n)
		}
	}
	var out []template.HTML
	for _, t := range c.Teams {
		id := "utilisation-" + c.Namespace + "-" + t.Team
		title := fmt.Sprintf("Utilisation of %s's practitioners", t.Team)
		bins := binsOf(t.Utilisation)
		if d.publish && len(t.Utilisation) < minGroup {
			out = append(out, template.HTML(fmt.Sprintf(`<p>%s: fewer than %d practitioners measured, not shown.</p>`, html.EscapeString(t.Team), minGroup)))
			continue
		}
		var b, desc strings.Builder
		barW := float64(w-left-4) / float64(len(bins))
		scale := float64(h-top-bottom) / float64(most)
		base := h - bottom
		for i, n := range bins {
			c := d.count(n)
			fmt.Fprintf(&desc, "%s: %s. ", utilisationBins[i].name, c.Text)
			x := float64(left) + float64(i)*barW
			hatch, label, bar := "", c.Text, n
			if c.Text == suppressed {
				hatch, bar = "url(#"+id+"-hatch)", 4
			}
			fill := "#0072b2"
			if utilisationBins[i].from > 100 {
				fill = bandColours["Red"][0]
			}
			if hatch != "" {
				fill = hatch
			}
			if bar > 0 {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="#333333"><title>%s: %s</title></rect>`,
					x+2, float64(base)-float64(bar)*scale, barW-4, float64(bar)*scale, fill, utilisationBins[i].name, c.Text)
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x+barW/2, float64(base)-float64(bar)*scale-4, html.EscapeString(label))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end" transform="rotate(-35 %.1f %d)" font-size="10">%s</text>`,
				x+barW/2+4, base+14, x+barW/2+4, base+14, html.EscapeString(utilisationBins[i].name))
		}
		// The line at 100%: capacity.
		x100 := float64(left) + 4*barW
		svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="%[1]s-title %[1]s-desc" width="%[2]d" height="%[3]d" viewBox="0 0 %[2]d %[3]d" font-family="system-ui, Arial, sans-serif" font-size="11">`+
			`<title id="%[1]s-title">%[4]s</title><desc id="%[1]s-desc">%[5]s</desc>`+
			`<defs><pattern id="%[1]s-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#555555" stroke-width="2"/></pattern></defs>`+
			`<text x="%[6]d" y="14" font-weight="bold">%[7]s</text>`+
			`<line x1="%[6]d" y1="%[8]d" x2="%[2]d" y2="%[8]d" stroke="#333333"/>`+
			`<line x1="%.1[9]f" y1="%[10]d" x2="%.1[9]f" y2="%[8]d" stroke="#000000" stroke-dasharray="4 3"/>%[11]s</svg>`,
			html.EscapeString(id), w, h, html.EscapeString(title), html.EscapeString(strings.TrimSpace(desc.String())), left, html.EscapeString(t.Team),
			base, x100, top, b.String())
		out = append(out, template.HTML(svg))
	}
	return out
}
