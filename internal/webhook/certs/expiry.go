package certs

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// expiry publishes when the webhook's serving certificate expires. It reads tls.crt at every
// scrape, so the figure follows a renewal by the operator's rotator, cert-manager or an
// administrator the moment the file changes, and needs no timer of its own.
type expiry struct {
	path atomic.Pointer[string]
	desc *prometheus.Desc
}

var servingExpiry = &expiry{desc: prometheus.NewDesc("caseload_webhook_certificate_expiry_timestamp_seconds",
	"When the webhook's serving certificate (tls.crt in the cert directory) expires, as a Unix time; no series while there is none to read.",
	nil, nil)}

func init() { ctrlmetrics.Registry.MustRegister(servingExpiry) }

// WatchExpiry makes the expiry metric read the certificate in dir (DefaultCertDir when empty).
func WatchExpiry(dir string) {
	if dir == "" {
		dir = DefaultCertDir()
	}
	path := filepath.Join(dir, "tls.crt")
	servingExpiry.path.Store(&path)
}

func (e *expiry) Describe(ch chan<- *prometheus.Desc) { ch <- e.desc }

func (e *expiry) Collect(ch chan<- prometheus.Metric) {
	path := e.path.Load()
	if path == nil {
		return
	}
	if cert := leaf(*path); cert != nil {
		ch <- prometheus.MustNewConstMetric(e.desc, prometheus.GaugeValue, float64(cert.NotAfter.Unix()))
	}
}

// leaf is the first certificate in a PEM file: the serving certificate, before any chain.
func leaf(path string) *x509.Certificate {
	rest, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return nil
		}
		if block.Type == "CERTIFICATE" {
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil
			}
			return cert
		}
	}
}
