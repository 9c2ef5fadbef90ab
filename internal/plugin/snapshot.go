package plugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newSnapshotCommand(o *options) *cobra.Command {
	var file string
	var approvals bool
	cmd := &cobra.Command{
		Use:   "snapshot -f FILE",
		Short: "Write the council's (or, with -A, every council's) teams, practitioners, cases and quotas to a file",
		Long: "kubectl caseload snapshot writes a versioned file of one council's (or, with -A, every council's) Teams, " +
			"Practitioners, Cases and CaseloadQuotas, with status and managedFields stripped, for plan and verify to use " +
			"offline, and for restore to bring back: a pull-request pipeline then needs no cluster credentials. The API holds pseudonymous references " +
			"only, but a caseload is still sensitive: the file is readable by its owner only.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("say where to write it: -f FILE")
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			var namespaces []string
			if !o.AllNamespaces {
				ns, err := o.Namespace()
				if err != nil {
					return err
				}
				namespaces = []string{ns}
			}
			w, err := readWorld(cmd.Context(), c, namespaces, o.Now())
			if err != nil {
				return err
			}
			if approvals {
				if err := w.readApprovals(cmd.Context(), c); err != nil {
					return err
				}
			}
			data, err := w.marshal(filepath.Ext(file) == ".json")
			if err != nil {
				return err
			}
			if err := os.WriteFile(file, data, 0o600); err != nil {
				return err
			}
			held := ""
			if approvals {
				held = fmt.Sprintf(", %d exception approvals with their reasons", len(w.ExceptionApprovals))
			}
			fmt.Fprintf(o.Streams.ErrOut, "snapshot of %d councils (%d teams, %d practitioners, %d cases, %d quotas%s) written to %s\n",
				len(w.councils()), len(w.Teams), len(w.Practitioners), len(w.Cases), len(w.Quotas), held, file)
			return nil
		},
	}
	cmd.Flags().BoolVar(&approvals, "exception-approvals", false, "Also keep the councils' ExceptionApprovals, the reasons for exceptions included, so that restore brings back the exceptions cases are held under. "+
		"Only an approver (caseload-approver) may read them; such a file is a backup, to be kept as the cluster's backups are, never in a policy repository.")
	cmd.Flags().StringVarP(&file, "filename", "f", "", "The file to write: YAML, or JSON when it ends in .json (quicker to read for a large council).")
	return cmd
}
