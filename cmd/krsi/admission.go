package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/krsi-dev/krsi/admission"
	"github.com/krsi-dev/krsi/plugin"
)

func admissionCmd() *cobra.Command {
	var configPath, check string
	cmd := &cobra.Command{
		Use:   "admission [--config FILE] [--check DEPLOYED.yaml]",
		Short: "Print the Kubernetes admission policy that matches a node configuration",
		Long: "Print a ValidatingAdmissionPolicy and its binding that refuse, at kubectl apply,\n" +
			"the pods whose krsi annotations nodes with this configuration refuse (the policy:\n" +
			"section, allowUnconfined, allowModeRelax, exemptions, recording.namespaces).\n" +
			"With --check, compare a deployed file with it instead and fail if they differ.\n" +
			"The nodes check again: the admission policy only tells pod authors earlier.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := plugin.LoadConfig(configPath)
			if err != nil {
				return err
			}
			if check != "" {
				deployed, err := os.ReadFile(check)
				if err != nil {
					return fmt.Errorf("read the deployed admission policy: %w", err)
				}
				if err := admission.Check(cfg.Admission(), configPath, deployed, check); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s matches %s (policy-sha256 %s)\n", check, configPath, admission.Fingerprint(cfg.Admission()))
				return nil
			}
			out, err := admission.Generate(cfg.Admission(), configPath)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", plugin.DefaultConfigPath, "node configuration file")
	cmd.Flags().StringVar(&check, "check", "", "a deployed admission policy file to compare")
	return cmd
}
