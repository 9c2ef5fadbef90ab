package offline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/words"
)

// SnapshotOptions are `kubectl caseload snapshot`'s: where to write, and whether to keep the
// councils' exception approvals.
type SnapshotOptions struct {
	*kit.Flags
	// File is where the snapshot goes: YAML, or JSON when it ends in .json.
	File string
	// Approvals keeps the councils' ExceptionApprovals, reasons included: a backup's, not a
	// policy repository's.
	Approvals bool
	// namespaces are the councils to take: nil for every one (-A).
	namespaces []string
}

// NewSnapshotCommand is `kubectl caseload snapshot`.
func NewSnapshotCommand(f *kit.Flags) *cobra.Command {
	o := &SnapshotOptions{Flags: f}
	cmd := &cobra.Command{
		Use:   "snapshot -f FILE",
		Short: "Write the council's (or, with -A, every council's) teams, practitioners, cases and quotas to a file",
		Long: "kubectl caseload snapshot writes a versioned file of one council's (or, with -A, every council's) Teams, " +
			"Practitioners, Cases and CaseloadQuotas, with status and managedFields stripped, for plan and verify to use " +
			"offline, and for restore to bring back: a pull-request pipeline then needs no cluster credentials. The API holds pseudonymous references " +
			"only, but a caseload is still sensitive: the file is readable by its owner only.",
		Args: cobra.NoArgs,
		RunE: kit.RunE(o),
	}
	cmd.Flags().BoolVar(&o.Approvals, "exception-approvals", false, "Also keep the councils' ExceptionApprovals, the reasons for exceptions included, so that restore brings back the exceptions cases are held under. "+
		"Only an approver (caseload-approver) may read them; such a file is a backup, to be kept as the cluster's backups are, never in a policy repository.")
	cmd.Flags().StringVarP(&o.File, "filename", "f", "", "The file to write: YAML, or JSON when it ends in .json (quicker to read for a large council).")
	return cmd
}

// Complete finds the councils to take: the command's namespace, or every one with -A.
func (o *SnapshotOptions) Complete([]string) error {
	o.namespaces = nil
	if o.AllNamespaces {
		return nil
	}
	ns, err := o.Namespace()
	if err != nil {
		return err
	}
	o.namespaces = []string{ns}
	return nil
}

// Validate says what is missing before anything is read.
func (o *SnapshotOptions) Validate() error {
	if o.File == "" {
		return errors.New("say where to write it: -f FILE")
	}
	return nil
}

// Run reads the councils and writes the snapshot, readable by its owner only.
func (o *SnapshotOptions) Run(ctx context.Context) error {
	c, err := o.Client()
	if err != nil {
		return err
	}
	w, err := Read(ctx, c, o.namespaces, o.Now())
	if err != nil {
		return err
	}
	if o.Approvals {
		if err := w.ReadApprovals(ctx, c); err != nil {
			return err
		}
	}
	data, err := w.Marshal(filepath.Ext(o.File) == ".json")
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.File, data, 0o600); err != nil {
		return err
	}
	held := ""
	if o.Approvals {
		held = fmt.Sprintf(", %s with their reasons", words.Count(len(w.ExceptionApprovals), "exception approval"))
	}
	fmt.Fprintf(o.Streams.ErrOut, "snapshot of %s (%s, %s, %s, %s%s) written to %s\n", words.Count(len(w.Councils()), "council"),
		words.Count(len(w.Teams), "team"), words.Count(len(w.Practitioners), "practitioner"), words.Count(len(w.Cases), "case"), words.Count(len(w.Quotas), "quota"), held, o.File)
	return nil
}
