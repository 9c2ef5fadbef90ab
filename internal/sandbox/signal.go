package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// SignalContext is a context cancelled by the first SIGINT or SIGTERM, so that everything the
// sandbox started stops in order, even during start-up. Later signals do not cut that short
// (exiting early would leave kube-apiserver and etcd running): each is answered on stderr, as
// who.
func SignalContext(who string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		cancel()
		for range signals {
			fmt.Fprintln(os.Stderr, who+": still stopping kube-apiserver and etcd, one moment")
		}
	}()
	return ctx, cancel
}
