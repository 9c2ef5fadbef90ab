// Package version is `kubectl caseload version`: the plugin's own release, and the caseload.dev
// API versions the cluster serves, so that a plugin and an operator of different releases are
// noticed before their figures are compared.
package version

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
)

// Version is the plugin's release, set at build time (-ldflags "-X ...version.Version=v0.2.0");
// otherwise the module version Go recorded, or "dev".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// versions is what version prints, and what -o json and -o yaml give.
type versions struct {
	Plugin string `json:"plugin"`
	// API is the API version the plugin was built for.
	API string `json:"api"`
	// Served are the versions of the caseload.dev API the cluster serves (the operator's CRDs),
	// preferred first; empty when it serves none.
	Served []string `json:"served"`
}

// Options are `kubectl caseload version`'s: it has only the shared flags.
type Options struct{ *kit.Flags }

// NewCommand is `kubectl caseload version`.
func NewCommand(f *kit.Flags) *cobra.Command {
	o := &Options{Flags: f}
	return &cobra.Command{
		Use:   "version",
		Short: "The plugin's version, and the caseload.dev API versions the cluster serves",
		Args:  cobra.NoArgs,
		RunE:  kit.RunE(o),
	}
}

// Complete has nothing to take from the arguments: cobra has refused any.
func (o *Options) Complete([]string) error { return nil }

// Validate has nothing to check.
func (o *Options) Validate() error { return nil }

// Run prints the plugin's version and asks the cluster's discovery which caseload.dev versions
// it serves, preferred first.
func (o *Options) Run(context.Context) error {
	v := versions{Plugin: version(), API: v1alpha1.GroupVersion.String()}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	groups, err := dc.ServerGroups()
	if err != nil {
		// The plugin's own version is worth knowing without a cluster.
		fmt.Fprintf(o.Streams.Out, "kubectl-caseload %s (built for %s)\n", v.Plugin, v.API)
		return fmt.Errorf("ask the cluster which APIs it serves: %w", err)
	}
	for _, g := range groups.Groups {
		if g.Name != v1alpha1.GroupVersion.Group {
			continue
		}
		v.Served = append(v.Served, g.PreferredVersion.GroupVersion)
		for _, gv := range g.Versions {
			if gv.GroupVersion != g.PreferredVersion.GroupVersion {
				v.Served = append(v.Served, gv.GroupVersion)
			}
		}
	}
	if o.Output == "json" || o.Output == "yaml" {
		return o.Print(kit.Table{Items: v})
	}
	out := o.Streams.Out
	fmt.Fprintf(out, "kubectl-caseload %s (built for %s)\n", v.Plugin, v.API)
	if len(v.Served) == 0 {
		fmt.Fprintf(out, "the cluster serves no %s API: is caseload-operator installed?\n", v1alpha1.GroupVersion.Group)
		return nil
	}
	fmt.Fprintf(out, "the cluster serves %v (the operator's CRDs)\n", v.Served)
	return nil
}
