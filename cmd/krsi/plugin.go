package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/krsi-dev/krsi/admission"
	"github.com/krsi-dev/krsi/catalog"
	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/metrics"
	"github.com/krsi-dev/krsi/plugin"
)

func pluginCmd() *cobra.Command {
	var configPath, logFormat, metricsAddr string
	var events eventFlags
	cmd := &cobra.Command{
		Use:   "plugin [--config FILE]",
		Short: "Run as the node's NRI plugin (containerd, CRI-O)",
		Long: "Connect to the runtime's NRI socket and confine every container with the profile\n" +
			"selected for it (annotations, image profile files, node default). Enforcement is\n" +
			"pinned in bpffs and stays in force when this process stops or restarts.\n" +
			"Installed as /opt/nri/plugins/10-krsi, the runtime starts it itself.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := events.check(logFormat); err != nil {
				return err
			}
			return runPlugin(configPath, logFormat, metricsAddr, events)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", plugin.DefaultConfigPath, "node configuration file")
	cmd.Flags().StringVar(&logFormat, "log-format", "json", "log format: json or text")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on HOST:PORT, e.g. "+
		"127.0.0.1:9464; overrides the config's metricsAddr (empty: off; no authentication, keep it on loopback)")
	events.add(cmd)
	return cmd
}

func runPlugin(configPath, logFormat, metricsAddr string, eventOpts eventFlags) error {
	log, err := newLogger(logFormat)
	if err != nil {
		return err
	}
	cfg, err := plugin.LoadConfig(configPath)
	if err != nil {
		return err
	}
	enf, err := enforcement.Open(enforcement.Options{PinDir: cfg.PinDir, Marker: enforcement.DefaultMarkerPath})
	if err != nil {
		return err
	}
	defer enf.Close()
	for _, r := range enf.Recovered() {
		log.WithField("pin_dir", cfg.PinDir).Warn("pins: " + r)
	}
	cat, err := catalog.Open(cfg.ProfileDirs, log)
	if err != nil {
		return err
	}
	// A default profile that does not exist would refuse every container.
	if err := cfg.Selection().Validate(cat); err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}
	cg, err := cgroup.Find()
	if err != nil {
		return err
	}
	p := plugin.New(cfg, enf, cat, cg, log)
	// Fail closed from here on: containers created before krsi connects, or
	// while it is away, get the fallback profile from the kernel.
	if err := p.ArmFallback(); err != nil {
		return fmt.Errorf("%s: %w", configPath, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		if err := cat.Watch(ctx, p.ProfilesChanged); err != nil {
			log.WithError(err).Error("watching node profiles stopped; changes need a restart")
		}
	}()
	if metricsAddr == "" {
		metricsAddr = cfg.MetricsAddr
	}
	var met *metrics.Metrics // nil: off (its methods are no-ops)
	if metricsAddr != "" {
		met = metrics.New(enf)
		p.TimeCallbacks(met.ObserveNRI)
		p.CountProfiles(met.SetProfilesLoaded)
		go func() {
			if err := met.Serve(ctx, metricsAddr); err != nil {
				log.WithError(err).WithField("addr", metricsAddr).Error("metrics endpoint stopped; enforcement goes on")
			}
		}()
	}
	// Every event, rate-limited or not, feeds recordings and the counters.
	observe := func(ev enforcement.Event, src eventlog.Source) {
		p.Observe(ev, src)
		met.ObserveEvent(ev.Hook, ev.Action, src.Profile, src.Namespace)
	}
	// Event entries: stdout, --event-file, --events-socket. The deferred
	// stop writes the last summaries and drop counts before exit.
	stopEvents, err := eventOpts.startEvents(ctx, log, enf, p.Identify, observe)
	if err != nil {
		return err
	}
	defer stopEvents()
	// The admission policy generated from this configuration carries the
	// same fingerprint (krsi admission): compare them to see drift.
	log.WithField("pin_dir", cfg.PinDir).WithField("reused_pins", enf.Reused()).
		WithField("policy_sha256", admission.Fingerprint(cfg.Admission())).Info("krsi plugin starting")
	return p.Run(ctx)
}

func unloadCmd() *cobra.Command {
	var pinDir string
	cmd := &cobra.Command{
		Use:   "unload [--pin-dir DIR]",
		Short: "Remove krsi's pinned programs and maps: stops all enforcement on this node",
		Long: "Remove everything krsi pinned in bpffs. The programs detach and every container\n" +
			"krsi confined runs unconfined from then on. Stop the plugin first, or it keeps\n" +
			"its own handles open until it exits.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := enforcement.Unload(pinDir); err != nil {
				return err
			}
			fmt.Printf("removed %s: krsi no longer enforces on this node\n", pinDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&pinDir, "pin-dir", enforcement.DefaultPinDir, "bpffs directory of the pins")
	return cmd
}
