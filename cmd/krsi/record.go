package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/krsi-dev/krsi/confine"
	"github.com/krsi-dev/krsi/profiles"
	"github.com/krsi-dev/krsi/recorder"
)

func recordCmd() *cobra.Command {
	var name, output string
	cmd := &cobra.Command{
		Use:   "record [--name NAME] [--output FILE] -- COMMAND [ARGS...]",
		Short: "Run a command observed, and write the profile that allows exactly what it did",
		Long: "Run a command under an observe-everything audit profile (nothing is denied),\n" +
			"collect its execs, executable mappings, file opens by access mode and W^X needs,\n" +
			"and write a krsi.dev/v1 profile that allows exactly that. Review it, try it with\n" +
			"`krsi run --profile FILE`, then deploy it. See docs/recording.md.",
		Example: "  krsi record --name myapp --output myapp.yaml -- ./myapp --selftest",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rec := recorder.New()
			var dropped uint64
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGPIPE)
			defer stop()
			status, err := confine.Run(ctx, confine.Options{
				Profile: recorder.Observe(),
				Command: args,
				OnEvent: rec.Add,
				OnDone:  func(n uint64) { dropped = n },
			})
			if err != nil {
				return err
			}
			if dropped > 0 {
				return fmt.Errorf("the kernel dropped %d of the command's events (ring buffer full): "+
					"the recording is incomplete; record a shorter run", dropped)
			}
			text := rec.Profile(name)
			// What is written must be a valid profile: check it as krsi will.
			p, err := profiles.Parse(output, []byte(text))
			if err == nil {
				_, err = p.Compile()
			}
			if err != nil {
				return fmt.Errorf("the recorded profile does not validate (a krsi bug; please report it): %w\n%s", err, text)
			}
			if output == "-" {
				fmt.Print(text)
			} else if err := os.WriteFile(output, []byte(text), 0o644); err != nil {
				return fmt.Errorf("write recorded profile: %w", err)
			}
			fmt.Fprintf(os.Stderr, "krsi: recorded %d events into %s (profile %q); the command exited with status %d\n",
				rec.Events(), output, name, status)
			if status != 0 {
				return exitStatus(status)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "recorded", "name of the profile")
	cmd.Flags().StringVarP(&output, "output", "o", "-", "file to write the profile to (- for stdout)")
	return cmd
}
