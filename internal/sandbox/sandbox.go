// Package sandbox is the embedded local control plane behind `make run`: a real kube-apiserver
// and etcd (controller-runtime's envtest) with the CRDs and the admission webhook configuration
// installed, the operator running in-process with its webhook served over TLS, the sample council
// loaded, and a kubeconfig written so that a person can drive it all with kubectl.
package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/webhook/certs"
	"caseload.dev/caseload-operator/internal/words"
)

// Options say where the sandbox finds its parts and where it writes.
type Options struct {
	// Root is the repository's top directory: config/crd/bases and config/webhook are read
	// from it.
	Root string
	// Assets is the directory holding kube-apiserver and etcd (KUBEBUILDER_ASSETS).
	Assets string
	// Kubeconfig is where the admin kubeconfig is written (and removed on exit).
	Kubeconfig string
	// DataDir, when set, keeps etcd's data there and reuses it on the next start; when empty,
	// the data lives in a temporary directory removed on exit, so every start is fresh.
	DataDir string
	// Samples is the directory of YAML loaded at start (in file-name order); empty loads none.
	Samples string
	// LogFile names where the operator's log goes, to show in the try-next text.
	LogFile string
	// Operator are the manager's settings; the webhook host, port and certificates are the
	// sandbox's own.
	Operator operator.Options
	// Out receives the progress lines and the try-next text.
	Out io.Writer
	// Then, when set, is called once everything is up and every Team, Practitioner and quota has
	// its status, with the path of the admin kubeconfig; Run then stops everything and returns
	// Then's error. A status still missing after a minute is then an error, not a note. When nil,
	// Run prints what to try and runs until ctx is done, as `make run` does.
	Then func(ctx context.Context, kubeconfig string) error
}

// ReadyLine begins the line printed once everything is up: scripts and tests wait for it.
const ReadyLine = "caseload-operator sandbox is ready"

// Run starts the control plane and the operator, loads the samples, prints what to try, and
// runs until ctx is done (or, with Options.Then, runs Then); then it stops the operator,
// kube-apiserver and etcd, and removes what it wrote (the data directory too, unless
// Options.DataDir keeps it).
func Run(ctx context.Context, opts Options) (err error) {
	start := time.Now()
	say := func(format string, args ...any) { fmt.Fprintf(opts.Out, "sandbox: "+format+"\n", args...) }
	// Interrupted during start-up: a clean stop like any other, once the deferred steps below
	// have stopped what was started.
	defer func() {
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
			say("interrupted during start-up")
			err = nil
		}
	}()

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(opts.Root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: opts.Assets,
		// The sandbox is always its own control plane, whatever USE_EXISTING_CLUSTER says: the
		// Makefile runs the plain manager for an existing cluster.
		UseExistingCluster: new(bool),
	}
	if opts.DataDir != "" {
		dir, err := filepath.Abs(opts.DataDir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		env.ControlPlane.Etcd = &envtest.Etcd{DataDir: dir}
		say("starting etcd and kube-apiserver from %s (etcd data kept in %s)", opts.Assets, opts.DataDir)
	} else {
		say("starting etcd and kube-apiserver from %s (etcd data in a temporary directory, removed on exit)", opts.Assets)
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop() // it may have started before failing: leave no process behind
		return fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	if ctx.Err() != nil {
		_ = env.Stop()
		return ctx.Err()
	}
	hooks := &envtest.WebhookInstallOptions{Paths: []string{filepath.Join(opts.Root, "config", "webhook")}, IgnoreErrorIfPathMissing: true}
	defer func() {
		say("stopping kube-apiserver and etcd")
		if stopErr := env.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop kube-apiserver and etcd: %w", stopErr))
		}
		_ = hooks.Cleanup()
		_ = os.Remove(opts.Kubeconfig)
		if opts.DataDir != "" {
			say("stopped; etcd data kept in %s", opts.DataDir)
		} else {
			say("stopped; nothing left behind")
		}
	}()
	say("kube-apiserver is up at %s; CRDs installed: teams, practitioners, cases, caseloadquotas, allocationledgers, exceptionapprovals", cfg.Host)

	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return err
	}
	if err := hooks.PrepWithoutInstalling(); err != nil {
		return fmt.Errorf("prepare the webhook certificates: %w", err)
	}
	// A kept data directory holds the webhook configuration of the last run, pointing at a port
	// nobody serves now: it would refuse every write until the new one is installed.
	if err := removeStaleWebhooks(ctx, c, hooks, say); err != nil {
		return err
	}
	if opts.Samples != "" {
		// Everything is created before the webhook configuration is installed: the sample is
		// the council as it is, over-cap practitioners included, and reality is recorded.
		if err := load(ctx, c, opts.Samples, say); err != nil {
			return err
		}
	}
	webhooks := len(hooks.ValidatingWebhooks)+len(hooks.MutatingWebhooks) > 0
	mopts := opts.Operator
	mopts.Webhooks = webhooks
	mopts.WebhookHost, mopts.WebhookPort, mopts.WebhookCertDir = hooks.LocalServingHost, hooks.LocalServingPort, hooks.LocalServingCertDir
	// envtest made the certificate and put its CA in the webhook configuration: the operator
	// reads it from the directory and rotates nothing.
	mopts.WebhookCerts = certs.Options{Source: certs.SourceDir}
	mgr, err := operator.New(ctx, cfg, mopts)
	if err != nil {
		return err
	}
	mctx, stopManager := context.WithCancel(context.WithoutCancel(ctx))
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(mctx) }()
	defer func() {
		say("stopping the operator")
		stopManager()
		select {
		case mgrErr := <-stopped:
			if mgrErr != nil {
				err = errors.Join(err, fmt.Errorf("operator: %w", mgrErr))
			}
		case <-time.After(30 * time.Second):
			err = errors.Join(err, errors.New("the operator did not stop within 30s"))
		}
	}()
	say("operator started (log: %s)", opts.LogFile)
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return ctx.Err()
	}

	if webhooks {
		if err := waitFor(ctx, stopped, 60*time.Second, "the webhook server", func() error {
			return mgr.GetWebhookServer().StartedChecker()(nil)
		}); err != nil {
			return err
		}
		if err := hooks.Install(cfg); err != nil {
			return fmt.Errorf("install the webhook configuration: %w", err)
		}
		say("admission webhook serving TLS on %s:%d and installed: allocations over a cap are refused from now on", hooks.LocalServingHost, hooks.LocalServingPort)
	} else {
		say("no webhook configuration in config/webhook yet: allocations are not checked")
	}

	if err := writeKubeconfig(env, opts.Kubeconfig); err != nil {
		return err
	}
	say("kubeconfig for an admin of this sandbox written to %s", opts.Kubeconfig)

	done := reconciled(ctx, c, say)
	if opts.Then != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !done {
			return errors.New("the operator has not given every team, practitioner and quota its status")
		}
		return opts.Then(ctx, opts.Kubeconfig)
	}
	if ctx.Err() == nil {
		// The ready line comes last, so that whoever waits for it has the whole text.
		var b bytes.Buffer
		writeTour(&b, opts)
		fmt.Fprintf(&b, "\n%s (took %s): Ctrl-C stops it.\n", ReadyLine, time.Since(start).Round(100*time.Millisecond))
		_, _ = opts.Out.Write(b.Bytes())
	}

	select {
	case <-ctx.Done():
		fmt.Fprintln(opts.Out)
		say("interrupted: shutting down")
		return nil
	case err := <-stopped:
		stopped <- err // for the deferred stop
		return fmt.Errorf("the operator stopped: %w", err)
	}
}

func removeStaleWebhooks(ctx context.Context, c client.Client, hooks *envtest.WebhookInstallOptions, say func(string, ...any)) error {
	var stale []client.Object
	for _, h := range hooks.ValidatingWebhooks {
		stale = append(stale, &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: h.Name}})
	}
	for _, h := range hooks.MutatingWebhooks {
		stale = append(stale, &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: h.Name}})
	}
	for _, o := range stale {
		err := c.Delete(ctx, o)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("remove the webhook configuration %s of the last run: %w", o.GetName(), err)
		default:
			say("removed the webhook configuration %s of the last run (it pointed at a port nobody serves now)", o.GetName())
		}
	}
	return nil
}

// load creates every object in the YAML files of dir, in file-name order; objects that exist
// already (a kept data directory) are left as they are. A later document for an object created
// earlier in the same run is applied over it.
func load(ctx context.Context, c client.Client, dir string, say func(string, ...any)) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no sample YAML in %s", dir)
	}
	sort.Strings(files)
	created, existing := map[string]int{}, 0
	seen := map[string]bool{}
	for _, f := range files {
		objs, err := manifest.DecodeFile(f)
		if err != nil {
			return err
		}
		for _, o := range objs {
			key := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
			err := c.Create(ctx, o, client.FieldValidation("Strict"))
			switch {
			case apierrors.IsAlreadyExists(err) && seen[key]:
				// A later document for an object loaded in this run changes it, as kubectl
				// apply would (an absence recorded after the cases were allocated).
				if err := c.Patch(ctx, o, client.Merge, client.FieldValidation("Strict")); err != nil {
					return fmt.Errorf("update %s %s/%s from %s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), f, err)
				}
			case apierrors.IsAlreadyExists(err):
				existing++
			case err != nil:
				return fmt.Errorf("load %s %s/%s from %s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), f, err)
			default:
				created[o.GetKind()]++
				seen[key] = true
			}
		}
	}
	if len(created) == 0 {
		say("sample council from %s already there (kept in the data directory): %s left as they are", dir, words.Count(existing, "object"))
		return nil
	}
	say("sample council loaded from %s: %s, %s, %s, %s and, last, %s", dir, words.Count(created["Namespace"], "namespace"),
		words.Count(created["Team"], "team"), words.Count(created["Practitioner"], "practitioner"), words.Count(created["Case"], "case"),
		words.Count(created["CaseloadQuota"], "quota"))
	if existing > 0 {
		say("%d sample objects were already there (kept in the data directory) and were left as they are", existing)
	}
	return nil
}

// waitFor polls check until it passes, the operator stops, ctx ends or the timeout passes.
func waitFor(ctx context.Context, stopped chan error, timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not up after %s: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case mgrErr := <-stopped:
			stopped <- mgrErr
			return fmt.Errorf("the operator stopped while waiting for %s: %w", what, mgrErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// writeKubeconfig adds an admin user (system:masters: it may also approve exceptions) and
// writes its kubeconfig, readable by its owner only.
func writeKubeconfig(env *envtest.Environment, path string) error {
	user, err := env.AddUser(envtest.User{Name: "sandbox-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add the sandbox user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, kc, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// reconciled waits (a little) for the reconcilers to give every Team, Practitioner and quota a
// status, says how far they got, and reports whether they all have one: the try-next text reads
// best with the figures in place.
func reconciled(ctx context.Context, c client.Client, say func(string, ...any)) bool {
	lists := []struct {
		kind string
		list *unstructured.UnstructuredList
	}{{"teams", list("TeamList")}, {"practitioners", list("PractitionerList")}, {"caseloadquotas", list("CaseloadQuotaList")}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var pending []string
		for _, l := range lists {
			if err := c.List(ctx, l.list); err != nil {
				pending = append(pending, fmt.Sprintf("%s (%v)", l.kind, err))
				continue
			}
			done := 0
			for _, o := range l.list.Items {
				if g, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration"); g == o.GetGeneration() {
					done++
				}
			}
			if done < len(l.list.Items) {
				pending = append(pending, fmt.Sprintf("%d of %d %s", done, len(l.list.Items), l.kind))
			}
		}
		if len(pending) == 0 {
			say("every team, practitioner and quota has its status")
			return true
		}
		if time.Now().After(deadline) {
			say("still waiting for status: %s reconciled so far", strings.Join(pending, ", "))
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func list(kind string) *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion("caseload.dev/v1alpha1")
	l.SetKind(kind)
	return l
}
