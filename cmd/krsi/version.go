package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/krsi-dev/krsi/buildinfo"
	"github.com/krsi-dev/krsi/enforcement"
)

// versionInfo is what `krsi version` prints. The keys are the same in both
// formats and stay stable for scripts.
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Go        string `json:"go"`
	BPFObject string `json:"bpfObject"`
}

func currentVersion() versionInfo {
	b := buildinfo.Read()
	return versionInfo{Version: b.Version, Commit: b.Commit, Go: b.Go, BPFObject: enforcement.ObjectID()}
}

// writeVersion prints v as "key: value" lines (text) or one JSON object.
func writeVersion(w io.Writer, v versionInfo, format string) error {
	switch format {
	case "text":
		_, err := fmt.Fprintf(w, "version: %s\ncommit: %s\ngo: %s\nbpfObject: %s\n", v.Version, v.Commit, v.Go, v.BPFObject)
		return err
	case "json":
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	return fmt.Errorf("-o %q: want text or json", format)
}

func versionCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [-o text|json]",
		Short: "Print krsi's version, commit, Go version and the id of its BPF object",
		Long: "Print the build: version and commit (stamped by `make`), the Go toolchain, and\n" +
			"bpfObject, the first 12 hex digits of the SHA-256 of the BPF object built into\n" +
			"krsi: two binaries with the same bpfObject load the same programs.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeVersion(cmd.OutOrStdout(), currentVersion(), format)
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	return cmd
}
