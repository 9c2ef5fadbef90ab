package kit

import (
	"context"
	"sync"
)

// WarningCollector keeps the admission warnings of the requests made, as kubectl would print
// them, for the command to show in its own words. A request whose context carries a
// RequestWarnings (WithWarnings) has its warnings kept there instead, so that requests made at
// the same time each keep their own.
type WarningCollector struct {
	mu   sync.Mutex
	seen []string
}

// HandleWarningHeaderWithContext keeps one warning: client-go calls it for each.
func (w *WarningCollector) HandleWarningHeaderWithContext(ctx context.Context, _ int, _ string, text string) {
	if own, ok := ctx.Value(requestWarningsKey{}).(*RequestWarnings); ok {
		own.Texts = append(own.Texts, text)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

// RequestWarnings are the admission warnings of one request, which its context carries.
type RequestWarnings struct{ Texts []string }

type requestWarningsKey struct{}

// WithWarnings is ctx for one request at a time, keeping the warnings of each in the result.
func WithWarnings(ctx context.Context) (context.Context, *RequestWarnings) {
	own := &RequestWarnings{}
	return context.WithValue(ctx, requestWarningsKey{}, own), own
}

// Take hands over the warnings collected so far, and forgets them.
func (w *WarningCollector) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}
