package plugin_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"caseload.dev/caseload-operator/internal/testenv"
)

// rendering is what a headless Chromium made of a page.
type rendering struct {
	problems   []string // console errors, exceptions and errors Chromium logged
	requests   []string // every URL the page asked for
	screenshot []byte   // PNG of the whole page
	charts     []float64
	// overflowing are the elements that reach past the viewport's sides, other than inside an
	// element that scrolls sideways (a wide table scrolls in its wrapper, as it should).
	overflowing []string
}

// overflowScript lists the elements that reach past either side of the viewport, skipping those
// inside an element that scrolls or clips sideways, and the page itself if it scrolls sideways.
const overflowScript = `(() => {
  const vw = document.documentElement.clientWidth, out = [];
  const scrolls = el => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; } return false; };
  for (const el of document.querySelectorAll('body *')) {
    if (scrolls(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > vw + 1 || r.left < -1)) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && el.className.baseVal === undefined ? '.' + el.className : '') + ' spans ' + Math.round(r.left) + ' to ' + Math.round(r.right) + ' of ' + vw);
  }
  if (document.documentElement.scrollWidth > vw + 1) out.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' wide in ' + vw);
  return out;
})()`

// render opens the file in headless Chromium with a viewport width pixels wide, as the machine's
// probe does (no sandbox as root, no background networking), and records what the page logged
// and fetched, the area of each chart, what overflows the viewport, and a screenshot of the
// whole page.
func render(t *testing.T, file string, width int64) rendering {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(testenv.Program(t, "chromium", "chromium", "chromium-browser")), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-component-update", true), chromedp.WindowSize(int(width), 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	var r rendering
	var mu sync.Mutex
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			r.requests = append(r.requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	consoleCtx, stopConsole := context.WithCancel(ctx)
	messages := chromedp.Console(consoleCtx)
	read := make(chan struct{})
	go func() {
		defer close(read)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.Type == chromedp.ConsoleException {
				mu.Lock()
				r.problems = append(r.problems, m.String())
				mu.Unlock()
			}
		}
	}()
	url := "file://" + file
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
		t.Fatalf("Chromium could not open %s: %v", file, err)
	}
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`Array.from(document.querySelectorAll('svg[role="img"]')).map(s => { const b = s.getBoundingClientRect(); return b.width * b.height })`))
	if err != nil {
		t.Fatalf("measure the charts: %v", err)
	}
	overflowing, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](overflowScript))
	if err != nil {
		t.Fatalf("measure what overflows: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	stopConsole()
	<-read
	mu.Lock()
	defer mu.Unlock()
	r.charts, r.screenshot, r.overflowing = charts, shot, overflowing
	r.requests = slicesWithout(r.requests, url)
	return r
}

func slicesWithout(s []string, drop string) []string {
	var out []string
	for _, v := range s {
		if v != drop {
			out = append(out, v)
		}
	}
	return out
}

// checkRendersInChromium renders the HTML report and checks it as a reader would get it, on a
// desktop (1280 px) and a phone (420 px): no console error, no request beyond the file itself,
// every chart drawn, nothing reaching past the sides of the screen (a wide table scrolls in its
// wrapper), and in the screenshot the colours of the bands and of the utilisation bars present
// in quantity.
func checkRendersInChromium(t *testing.T, html string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(html), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, width := range []int64{1280, 420} {
		r := render(t, file, width)
		for _, p := range r.problems {
			t.Errorf("at %d px, Chromium reported: %s", width, p)
		}
		if len(r.requests) > 0 {
			t.Errorf("the report asked for %v: it must need nothing from elsewhere", r.requests)
		}
		if len(r.charts) < 5 {
			t.Errorf("at %d px, Chromium drew %d charts, want the band and wait charts and a histogram per team", width, len(r.charts))
		}
		for i, area := range r.charts {
			if area < 10000 {
				t.Errorf("at %d px, chart %d is drawn %v square pixels large", width, i, area)
			}
		}
		for _, o := range r.overflowing {
			t.Errorf("at %d px, %s", width, o)
		}
		shot := filepath.Join(dir, fmt.Sprintf("report-%d.png", width))
		if err := os.WriteFile(shot, r.screenshot, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot at %d px: %s", width, shot)
		img, err := png.Decode(bytes.NewReader(r.screenshot))
		if err != nil {
			t.Fatalf("the screenshot is not a PNG: %v", err)
		}
		if got := img.Bounds().Dx(); got != int(width) {
			t.Errorf("the screenshot at %d px is %d px wide", width, got)
		}
		for name, want := range map[string]color.RGBA{
			"Green band": {0x00, 0x9e, 0x73, 0xff}, "Amber band": {0xe6, 0x9f, 0x00, 0xff}, "Red band": {0xd5, 0x5e, 0x00, 0xff},
			"Away band": {0xcc, 0x79, 0xa7, 0xff}, "utilisation bars": {0x00, 0x72, 0xb2, 0xff}, "wait of 0-7 days": {0xc6, 0xdb, 0xef, 0xff},
		} {
			if n := pixels(img, want); n < 200 {
				t.Errorf("at %d px, the screenshot has %d pixels of the %s's colour: the chart is empty or not drawn", width, n, name)
			}
		}
	}
}

// checkFitsTheScreen renders a report at 1280 and 420 px and checks only that Chromium reports
// no problem and nothing reaches past the sides of the screen: for a published report, whose
// charts need not hold every colour.
func checkFitsTheScreen(t *testing.T, html string) {
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, []byte(html), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, width := range []int64{1280, 420} {
		r := render(t, file, width)
		for _, p := range append(r.problems, r.overflowing...) {
			t.Errorf("at %d px: %s", width, p)
		}
		if len(r.requests) > 0 {
			t.Errorf("the report asked for %v: it must need nothing from elsewhere", r.requests)
		}
	}
}

// pixels counts the pixels of img within a small distance of c (anti-aliasing aside).
func pixels(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d > -6 && d < 6 }
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, c.R) && near(g, c.G) && near(bl, c.B) {
				n++
			}
		}
	}
	return n
}

// TestRenderingCatchesFetchesAndErrors: the checks of the report's rendering can fail. A page
// that fetches an image, logs an error and holds an element wider than a phone is caught on all
// three counts.
func TestRenderingCatchesFetchesAndErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.html")
	page := `<!DOCTYPE html><html><head><title>bad</title></head><body><main><img src="http://127.0.0.1:9/chart.png">` +
		`<div style="width:900px">a chart of a fixed width</div>` +
		`<script>console.error("a chart failed")</script></main></body></html>`
	if err := os.WriteFile(file, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	r := render(t, file, 420)
	if len(r.overflowing) == 0 {
		t.Error("a 900 px element in a 420 px viewport was not seen to overflow")
	}
	if len(r.requests) == 0 {
		t.Error("the image's request was not seen")
	}
	if len(r.problems) == 0 {
		t.Error("the console error was not seen")
	}
}
