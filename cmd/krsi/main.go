// Command krsi wires flags to krsi's packages; it holds no logic of its own.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/krsi-dev/krsi/buildinfo"
	"github.com/krsi-dev/krsi/catalog"
	"github.com/krsi-dev/krsi/confine"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/profiles"
)

// exitKrsiError is krsi's own failure, told apart from the command's status
// (as env(1) and container runtimes do).
const exitKrsiError = 125

// exitStatus carries a command's exit status out of cobra.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	root := rootCmd()
	// Started by the runtime as a pre-registered plugin (/opt/nri/plugins/10-krsi):
	// no arguments, the connection in NRI_PLUGIN_SOCKET.
	if len(os.Args) == 1 && os.Getenv("NRI_PLUGIN_SOCKET") != "" {
		root.SetArgs([]string{"plugin"})
	}
	err := root.Execute()
	var st exitStatus
	switch {
	case err == nil:
	case errors.As(err, &st):
		os.Exit(int(st))
	default:
		fmt.Fprintf(os.Stderr, "krsi: error: %v\n", err)
		os.Exit(exitKrsiError)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "krsi",
		Short:         "Kernel runtime security for containers: per-container BPF LSM profiles",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Version,
	}
	// --version prints what `krsi version` prints (rendered only when asked:
	// it hashes the BPF object).
	cobra.AddTemplateFunc("krsiVersion", func() string {
		var b strings.Builder
		_ = writeVersion(&b, currentVersion(), "text")
		return b.String()
	})
	root.SetVersionTemplate("{{krsiVersion}}")
	root.AddCommand(runCmd(), recordCmd(), profileCmd(), pluginCmd(), eventsCmd(), statusCmd(), unloadCmd(),
		admissionCmd(), versionCmd())
	return root
}

func newLogger(format string) (*logrus.Logger, error) {
	log := logrus.New()
	log.Out = os.Stderr
	switch format {
	case "text":
		log.Formatter = eventlog.TextFormatter{}
	case "json":
		log.Formatter = &logrus.JSONFormatter{}
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return log, nil
}

func runCmd() *cobra.Command {
	var profileRef, mode, logFormat string
	var allPrograms bool
	var nested int
	cmd := &cobra.Command{
		Use:   "run --profile NAME|FILE [--mode enforce|audit] -- COMMAND [ARGS...]",
		Short: "Run a command under a profile in a transient cgroup, printing each violation",
		Long: "Run a command confined by a profile, with no container runtime: krsi creates a\n" +
			"transient cgroup v2 that the kernel binds to the profile as it is created, runs\n" +
			"the command in it, prints every violation on stderr, cleans up and exits with\n" +
			"the command's exit status. krsi's own errors exit with status 125.",
		Example: "  krsi run --profile builtin/wx -- ./jit-program\n" +
			"  krsi run --profile ./nginx.yaml --mode audit -- nginx -g 'daemon off;'",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logFormat)
			if err != nil {
				return err
			}
			p, err := profiles.Resolve(profileRef)
			if err != nil {
				return err
			}
			c, err := p.Compile()
			if err != nil {
				return err
			}
			var m profiles.Mode
			switch mode {
			case "":
			case string(profiles.ModeEnforce), string(profiles.ModeAudit):
				m = profiles.Mode(mode)
			default:
				return fmt.Errorf("--mode %q: want enforce or audit", mode)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGPIPE)
			defer stop()
			info := eventlog.Source{Profile: c.Name, Rules: c.Rules}
			status, err := confine.Run(ctx, confine.Options{
				Profile:            c,
				Mode:               m,
				Command:            args,
				OnEvent:            func(ev enforced.Event) { eventlog.Log(log, ev, info) },
				AllPrograms:        allPrograms,
				NestedPerContainer: nested,
			})
			if err != nil {
				return err
			}
			if status != 0 {
				return exitStatus(status)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&profileRef, "profile", "", "profile: builtin/NAME or a profile file")
	cmd.Flags().StringVar(&mode, "mode", "", "override the profile's mode: enforce or audit")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "violation output: text or json")
	cmd.Flags().BoolVar(&allPrograms, "all-programs", false,
		"attach every program, as the node daemon does, not only those the profile needs (benchmarks)")
	cmd.Flags().IntVar(&nested, "nested-per-container", 0,
		"cgroups the command may create in its own that the kernel binds (0: 256; benchmarks)")
	_ = cmd.Flags().MarkHidden("nested-per-container")
	_ = cmd.MarkFlagRequired("profile")
	return cmd
}

func profileCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Check and list profiles"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE...",
		Short: "Validate profile files and print every error with its file, line and field",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, f := range args {
				if err := catalog.CheckFile(f); err != nil {
					bad++
					fmt.Fprintln(os.Stderr, err)
					continue
				}
				fmt.Printf("%s: ok\n", f)
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d profile files are invalid", bad, len(args))
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the built-in profiles",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			for _, n := range profiles.BuiltinNames() {
				fmt.Println("builtin/" + n)
			}
		},
	})
	return cmd
}
