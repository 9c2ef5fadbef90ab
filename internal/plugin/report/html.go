package report

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"slices"
	"strconv"
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
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1a1a1a; margin: 2rem auto; max-width: 84rem; padding: 0 1rem; line-height: 1.4; overflow-wrap: break-word; }
main, section, figure { min-width: 0; }
h1 { font-size: 1.8rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.4rem; border-bottom: 2px solid #1a1a1a; margin-top: 2.5rem; }
h3 { font-size: 1.1rem; margin-top: 1.8rem; }
p.note { color: #404040; font-size: 0.9rem; max-width: 60rem; }
.scroll { overflow-x: auto; max-width: 100%; }
section.headline { border-left: 6px solid #1a1a1a; padding: 0.2rem 1rem; background: #f6f6f6; }
section.headline ul { padding-left: 1.2rem; }
svg.chart { display: block; width: 100%; height: auto; }
figure > svg.chart { max-width: 42rem; }
.charts svg.chart { max-width: 26rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #999; padding: 0.25rem 0.5rem; }
th { background: #f0f0f0; text-align: left; }
td.count, td.figure { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; }
figure { margin: 1rem 0; }
figcaption { font-size: 0.9rem; color: #404040; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 18rem), 1fr)); gap: 1rem; }
.legend { overflow-wrap: anywhere; }
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
<section class="headline" aria-labelledby="headline-{{.Namespace}}">
<h3 id="headline-{{.Namespace}}">Headline</h3>
<ul>
{{range .Headline}}<li>{{.}}</li>
{{end}}</ul>
</section>
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
	Headline   []string
	Charts     []template.HTML
	Histograms []template.HTML
	Tables     []htmlTable
}

func writeReportHTML(w io.Writer, h *healthCheck) error {
	title, subtitle := h.heading()
	page := struct {
		Title, Subtitle, Prefix string
		CSS                     template.CSS
		Councils                []htmlCouncil
	}{Title: title, Subtitle: subtitle, Prefix: "t-", CSS: template.CSS(reportCSS)}
	for _, c := range h.Councils {
		d := c.disclosure(h.Publish)
		hc := htmlCouncil{Namespace: c.Namespace, Calendar: c.calendarLine(), Headline: c.headline(d, h.Publish), Charts: []template.HTML{bandChart(c, d), waitChart(c, d)}, Histograms: utilisationCharts(c, d)}
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

// segment is a part of a stacked bar: a count, and whether a published report suppresses it.
type segment struct {
	label  string
	n      int
	colour [2]string
	hidden bool
}

// bar is one team's stacked bar: its segments, and whether its total is suppressed.
type bar struct {
	label       string
	segments    []segment
	totalHidden bool
}

// svgOpen starts a chart that scales to the space it is given: a viewBox and no fixed size, so
// that at phone width it shrinks rather than running off the page.
func svgOpen(b *strings.Builder, id string, w, h int, fontSize int) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" aria-labelledby="%[1]s-title %[1]s-desc" viewBox="0 0 %[2]d %[3]d" preserveAspectRatio="xMinYMin meet" font-family="system-ui, Arial, sans-serif" font-size="%[4]d">`,
		id, w, h, fontSize)
}

const hatchPattern = `<pattern id="%s-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#555555" stroke-width="2"/></pattern>`

// stackedBars draws one horizontal bar per team, each split into segments whose widths are
// their share of the bar's total. In a published report a suppressed count has no width of its
// own: the suppressed segments of a bar are drawn together, hatched, as what the total leaves
// (which the tables already let a reader work out); a bar whose total is suppressed is not
// drawn.
func stackedBars(id, title string, bars []bar, d disclosure, legend []segment) template.HTML {
	const labelW, barW, rowH, top = 180, 320, 26, 8
	height := top + rowH*len(bars) + 4
	var b, desc strings.Builder
	svgOpen(&b, id, labelW+barW+10, height, 12)
	b.WriteString(`<defs>` + fmt.Sprintf(hatchPattern, id) + `</defs>`)
	for i, row := range bars {
		y := top + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, y+15, html.EscapeString(row.label))
		total, shown, hidden := 0, 0, false
		var parts []string
		for _, s := range row.segments {
			total += s.n
			v := strconv.Itoa(s.n)
			if s.hidden {
				v, hidden = suppressed, true
			}
			parts = append(parts, s.label+" "+v)
		}
		fmt.Fprintf(&desc, "%s: %s. ", row.label, strings.Join(parts, ", "))
		if total == 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#404040">none</text>`, labelW, y+15)
			continue
		}
		if row.totalHidden {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#404040">c: suppressed</text>`, labelW, y+15)
			continue
		}
		if !slices.ContainsFunc(row.segments, func(s segment) bool { return !s.hidden && s.n > 0 }) {
			// A bar all hatched says nothing the table does not: say so in words instead.
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#404040">%d in all, too few in each category to show</text>`, labelW, y+15, total)
			continue
		}
		x := float64(labelW)
		for _, s := range row.segments {
			if s.hidden || s.n == 0 {
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

// withBand is a team's name with the band its status shows, as charts label a team.
func withBand(t *teamReport) string {
	if t.Band == "" {
		return t.Team
	}
	return t.Team + " (" + t.Band + ")"
}

// bandChart shows each team's practitioners by band: every band, or in a published report the
// wider groups of bandGroups, so that small counts add up to something that can be shown.
func bandChart(c *councilReport, d disclosure) template.HTML {
	type category struct {
		name, measure string
		bands         []string
		colour        [2]string
	}
	var cats []category
	if d.publish {
		for _, g := range bandGroups {
			measure := "chart_bands"
			if len(g.bands) == 1 {
				measure = "practitioners_by_band"
			}
			cats = append(cats, category{g.name, measure, g.bands, bandColours[g.bands[0]]})
		}
	} else {
		for _, b := range bandOrder {
			cats = append(cats, category{humanName(b), "practitioners_by_band", []string{b}, bandColours[b]})
		}
	}
	var legend []segment
	for _, k := range cats {
		legend = append(legend, segment{label: k.name, colour: k.colour})
	}
	var bars []bar
	for _, t := range c.teamRows() {
		row := bar{label: withBand(t), totalHidden: d.hidden("practitioners", t.Team, "", t.Practitioners)}
		for _, k := range cats {
			n := sumOf(t.Bands, k.bands)
			category := k.name
			if len(k.bands) == 1 {
				category = k.bands[0]
			}
			row.segments = append(row.segments, segment{label: k.name, n: n, colour: k.colour, hidden: d.hidden(k.measure, t.Team, category, n)})
		}
		bars = append(bars, row)
	}
	return stackedBars("bands-"+c.Namespace, "Practitioners by band, "+c.Namespace, bars, d, legend)
}

// waitChart shows each team's unallocated cases by how long they have waited: every wait band,
// or in a published report the wider groups of waitGroups.
func waitChart(c *councilReport, d disclosure) template.HTML {
	type category struct {
		name   string
		waits  []string
		colour [2]string
	}
	var cats []category
	if d.publish {
		for i, g := range waitGroups {
			cats = append(cats, category{g.name, g.waits, waitColours[i*2]})
		}
	} else {
		for i, w := range waits {
			cats = append(cats, category{w.name, []string{w.name}, waitColours[i]})
		}
	}
	var legend []segment
	for _, k := range cats {
		legend = append(legend, segment{label: k.name, colour: k.colour})
	}
	var bars []bar
	for _, t := range c.teamRows() {
		row := bar{label: withBand(t), totalHidden: d.hidden("unallocated", t.Team, "", t.unallocated())}
		for _, k := range cats {
			n := t.waitedIn(k.waits)
			row.segments = append(row.segments, segment{label: k.name, n: n, colour: k.colour, hidden: d.hidden("chart_waits", t.Team, k.name, n)})
		}
		bars = append(bars, row)
	}
	return stackedBars("waits-"+c.Namespace, "Unallocated cases by wait, "+c.Namespace, bars, d, legend)
}

// utilisationBin is a bin of a histogram of utilisation, in percent: from is inclusive, to
// exclusive (-1: open-ended).
type utilisationBin struct {
	name     string
	from, to int
}

// utilisationBins are the histogram's bins; publishedBins the fewer, wider ones of a published
// report, so that fewer of them are small counts.
var (
	utilisationBins = []utilisationBin{{"under 50%", -1 << 31, 50}, {"50-69%", 50, 70}, {"70-89%", 70, 90}, {"90-100%", 90, 101}, {"101-110%", 101, 111}, {"111-130%", 111, 131}, {"over 130%", 131, -1}}
	publishedBins   = []utilisationBin{{"under 70%", -1 << 31, 70}, {"70-89%", 70, 90}, {"90-100%", 90, 101}, {"over 100%", 101, -1}}
)

func binsOf(bins []utilisationBin, utilisation []int) []int {
	out := make([]int, len(bins))
	for _, u := range utilisation {
		for i, b := range bins {
			if u >= b.from && (b.to < 0 || u < b.to) {
				out[i]++
				break
			}
		}
	}
	return out
}

// utilisationCharts are a histogram of utilisation per team, on one scale so that teams can be
// compared. A published report leaves out a team with fewer than five practitioners measured,
// uses fewer, wider bins, marks a suppressed bin c on a hatched strip with no height of its own,
// and leaves out a team half or more of whose bins it would suppress.
func utilisationCharts(c *councilReport, d disclosure) []template.HTML {
	const w, h, left, bottom, top = 320, 190, 44, 52, 22
	bins := utilisationBins
	if d.publish {
		bins = publishedBins
	}
	most := 5
	for _, t := range c.Teams {
		for _, n := range binsOf(bins, t.Utilisation) {
			most = max(most, n)
		}
	}
	var out []template.HTML
	for _, t := range c.Teams {
		id := "utilisation-" + c.Namespace + "-" + t.Team
		title := fmt.Sprintf("Utilisation of %s's practitioners", withBand(t))
		counts := binsOf(bins, t.Utilisation)
		if d.publish && len(t.Utilisation) < minGroup {
			out = append(out, template.HTML(fmt.Sprintf(`<p>%s: fewer than %d practitioners measured, not shown.</p>`, html.EscapeString(withBand(t)), minGroup)))
			continue
		}
		var b, desc strings.Builder
		hidden, shownBins := 0, 0
		barW := float64(w-left-4) / float64(len(bins))
		scale := float64(h-top-bottom) / float64(most)
		base := h - bottom
		x100 := float64(left)
		for i, n := range counts {
			label := strconv.Itoa(n)
			fill, height := "#0072b2", float64(n)
			if bins[i].from > 100 {
				fill = bandColours["Red"][0]
			}
			if bins[i].to == 101 {
				x100 = float64(left) + float64(i+1)*barW
			}
			if d.hidden("chart_utilisation", t.Team, bins[i].name, n) {
				// No height: a bar of any height would claim a figure. A hatched strip marks it.
				label, fill, height = suppressed, "url(#"+id+"-hatch)", 6/scale
				hidden++
			} else if n > 0 {
				shownBins++
			}
			fmt.Fprintf(&desc, "%s: %s. ", bins[i].name, label)
			x := float64(left) + float64(i)*barW
			if height > 0 {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="#333333"><title>%s: %s</title></rect>`,
					x+2, float64(base)-height*scale, barW-4, height*scale, fill, bins[i].name, label)
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x+barW/2, float64(base)-height*scale-4, html.EscapeString(label))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end" transform="rotate(-35 %.1f %d)" font-size="10">%s</text>`,
				x+barW/2+4, base+14, x+barW/2+4, base+14, html.EscapeString(bins[i].name))
		}
		if hidden*2 >= len(bins) || shownBins == 0 {
			out = append(out, template.HTML(fmt.Sprintf(`<p>%s: too few practitioners in each range of utilisation to show.</p>`, html.EscapeString(withBand(t)))))
			continue
		}
		var svg strings.Builder
		svgOpen(&svg, html.EscapeString(id), w, h, 11)
		// The dashed line at 100%: capacity.
		fmt.Fprintf(&svg, `<title id="%[1]s-title">%[2]s</title><desc id="%[1]s-desc">%[3]s</desc>`+
			`<defs>%[11]s</defs>`+
			`<text x="%[4]d" y="14" font-weight="bold">%[5]s</text>`+
			`<line x1="%[4]d" y1="%[6]d" x2="%[7]d" y2="%[6]d" stroke="#333333"/>`+
			`<line x1="%.1[8]f" y1="%[9]d" x2="%.1[8]f" y2="%[6]d" stroke="#000000" stroke-dasharray="4 3"/>%[10]s</svg>`,
			html.EscapeString(id), html.EscapeString(title), html.EscapeString(strings.TrimSpace(desc.String())), left, html.EscapeString(withBand(t)),
			base, w, x100, top, b.String(), fmt.Sprintf(hatchPattern, html.EscapeString(id)))
		out = append(out, template.HTML(svg.String()))
	}
	return out
}
