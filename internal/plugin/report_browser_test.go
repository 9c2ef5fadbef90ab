package plugin_test

import (
	"bytes"
	"context"
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
}

// render opens the file in headless Chromium, as the machine's probe does (no sandbox as root, no
// background networking), and records what the page logged and fetched, the area of each chart,
// and a screenshot of the whole page.
func render(t *testing.T, file string) rendering {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(testenv.Program(t, "chromium", "chromium", "chromium-browser")), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-component-update", true), chromedp.WindowSize(1280, 900))
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
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
		t.Fatalf("Chromium could not open %s: %v", file, err)
	}
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`Array.from(document.querySelectorAll('svg[role="img"]')).map(s => { const b = s.getBoundingClientRect(); return b.width * b.height })`))
	if err != nil {
		t.Fatalf("measure the charts: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	stopConsole()
	<-read
	mu.Lock()
	defer mu.Unlock()
	r.charts, r.screenshot = charts, shot
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

// checkRendersInChromium renders the HTML report and checks it as a reader would get it: no
// console error, no request beyond the file itself, every chart drawn, and in the screenshot the
// colours of the bands and of the utilisation bars present in quantity.
func checkRendersInChromium(t *testing.T, html string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(html), 0o600); err != nil {
		t.Fatal(err)
	}
	r := render(t, file)
	for _, p := range r.problems {
		t.Errorf("Chromium reported: %s", p)
	}
	if len(r.requests) > 0 {
		t.Errorf("the report asked for %v: it must need nothing from elsewhere", r.requests)
	}
	if len(r.charts) < 5 {
		t.Errorf("Chromium drew %d charts, want the band and wait charts and a histogram per team", len(r.charts))
	}
	for i, area := range r.charts {
		if area < 10000 {
			t.Errorf("chart %d is drawn %v square pixels large", i, area)
		}
	}
	shot := filepath.Join(dir, "report.png")
	if err := os.WriteFile(shot, r.screenshot, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	img, err := png.Decode(bytes.NewReader(r.screenshot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	for name, want := range map[string]color.RGBA{
		"Green band": {0x00, 0x9e, 0x73, 0xff}, "Amber band": {0xe6, 0x9f, 0x00, 0xff}, "Red band": {0xd5, 0x5e, 0x00, 0xff},
		"Away band": {0xcc, 0x79, 0xa7, 0xff}, "utilisation bars": {0x00, 0x72, 0xb2, 0xff}, "wait of 0-7 days": {0xc6, 0xdb, 0xef, 0xff},
	} {
		if n := pixels(img, want); n < 200 {
			t.Errorf("the screenshot has %d pixels of the %s's colour: the chart is empty or not drawn", n, name)
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
// that fetches an image and logs an error is caught on both counts.
func TestRenderingCatchesFetchesAndErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.html")
	page := `<!DOCTYPE html><html><head><title>bad</title></head><body><main><img src="http://127.0.0.1:9/chart.png">` +
		`<script>console.error("a chart failed")</script></main></body></html>`
	if err := os.WriteFile(file, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	r := render(t, file)
	if len(r.requests) == 0 {
		t.Error("the image's request was not seen")
	}
	if len(r.problems) == 0 {
		t.Error("the console error was not seen")
	}
}
