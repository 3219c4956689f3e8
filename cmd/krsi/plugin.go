package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/krsi-dev/krsi/admission"
	"github.com/krsi-dev/krsi/buildinfo"
	"github.com/krsi-dev/krsi/catalog"
	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/health"
	"github.com/krsi-dev/krsi/metrics"
	"github.com/krsi-dev/krsi/plugin"
	"github.com/krsi-dev/krsi/uninstall"
)

// daemonFlags are krsi plugin's options.
type daemonFlags struct {
	configPath, logFormat   string
	metricsAddr, healthAddr string
	// healthAddrSet: --health-addr was given, even empty (off).
	healthAddrSet             bool
	unloadWhenGone, apiServer string
	events                    eventFlags
}

func pluginCmd() *cobra.Command {
	var f daemonFlags
	cmd := &cobra.Command{
		Use:   "plugin [--config FILE]",
		Short: "Run as the node's NRI plugin (containerd, CRI-O)",
		Long: "Connect to the runtime's NRI socket and confine every container with the profile\n" +
			"selected for it (annotations, image profile files, node default). Enforcement is\n" +
			"pinned in bpffs and stays in force when this process stops or restarts; with\n" +
			"--unload-when-gone it is removed when krsi's DaemonSet was deleted (uninstall).\n" +
			"Installed as /opt/nri/plugins/10-krsi, the runtime starts it itself.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.events.check(f.logFormat); err != nil {
				return err
			}
			if err := plugin.CheckListenAddr("--metrics-addr", f.metricsAddr); err != nil {
				return err
			}
			if err := plugin.CheckListenAddr("--health-addr", f.healthAddr); err != nil {
				return err
			}
			if f.apiServer != "" && f.unloadWhenGone == "" {
				return errors.New("--api-server is only used with --unload-when-gone")
			}
			f.healthAddrSet = cmd.Flags().Changed("health-addr")
			return runPlugin(f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configPath, "config", plugin.DefaultConfigPath, "node configuration file")
	fl.StringVar(&f.logFormat, "log-format", "json", "log format: json or text")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on HOST:PORT, e.g. "+
		"127.0.0.1:9464; overrides the config's metricsAddr (empty: off; no authentication, keep it on loopback)")
	fl.StringVar(&f.healthAddr, "health-addr", "", "serve /healthz and /readyz on HOST:PORT, e.g. 127.0.0.1:9465; "+
		"overrides the config's healthAddr (--health-addr= turns it off)")
	fl.StringVar(&f.unloadWhenGone, "unload-when-gone", "", "NAMESPACE/NAME of krsi's DaemonSet: on SIGTERM, ask the "+
		"Kubernetes API (service account token) and remove the pins if the DaemonSet is deleted or being deleted "+
		"(helm uninstall); kept on a restart, an upgrade or any doubt. NAME alone: in the pod's namespace")
	fl.StringVar(&f.apiServer, "api-server", "", "the Kubernetes API server for --unload-when-gone, https://HOST:PORT "+
		"(default: from KUBERNETES_SERVICE_HOST/PORT; set it on nodes that cannot reach the service IP, e.g. without kube-proxy)")
	f.events.add(cmd)
	return cmd
}

// uninstallGuard reads --unload-when-gone and --api-server: nil when off.
// Everything it needs is checked now, so that a deployment that could not
// unload at its uninstall fails at start instead. The caller sets what to
// unload.
func uninstallGuard(f daemonFlags, log *logrus.Logger) (*uninstall.Guard, error) {
	if f.unloadWhenGone == "" {
		return nil, nil
	}
	owner, err := uninstall.ParseOwner(f.unloadWhenGone, uninstall.DefaultNamespaceFile)
	if err != nil {
		return nil, fmt.Errorf("--unload-when-gone: %w", err)
	}
	server := f.apiServer
	if server == "" {
		if server, err = uninstall.InClusterServer(); err != nil {
			return nil, fmt.Errorf("--unload-when-gone: %w (--api-server)", err)
		}
	}
	client, err := uninstall.New(uninstall.Options{Server: server})
	if err != nil {
		return nil, fmt.Errorf("--unload-when-gone: %w", err)
	}
	return &uninstall.Guard{Owner: owner, Client: client, Log: log}, nil
}

func runPlugin(f daemonFlags) error {
	log, err := newLogger(f.logFormat)
	if err != nil {
		return err
	}
	cfg, err := plugin.LoadConfig(f.configPath)
	if err != nil {
		return err
	}
	guard, err := uninstallGuard(f, log)
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
	if guard != nil {
		guard.Unload, guard.PinDir = enf.Unload, enf.PinDir()
	}
	cat, err := catalog.Open(cfg.ProfileDirs, log)
	if err != nil {
		return err
	}
	// A default profile that does not exist would refuse every container.
	if err := cfg.Selection().Validate(cat); err != nil {
		return fmt.Errorf("%s: %w", f.configPath, err)
	}
	cg, err := cgroup.Find()
	if err != nil {
		return err
	}
	p := plugin.New(cfg, enf, cat, cg, log)
	// Fail closed from here on: containers created before krsi connects, or
	// while it is away, get the fallback profile from the kernel.
	if err := p.ArmFallback(); err != nil {
		return fmt.Errorf("%s: %w", f.configPath, err)
	}

	ctx, terminated, stop := stopContext()
	defer stop()
	go func() {
		if err := cat.Watch(ctx, p.ProfilesChanged); err != nil {
			log.WithError(err).Error("watching node profiles stopped; changes need a restart")
		}
	}()
	metricsAddr := f.metricsAddr
	if metricsAddr == "" {
		metricsAddr = cfg.MetricsAddr
	}
	healthAddr := cfg.HealthAddr
	if f.healthAddrSet {
		healthAddr = f.healthAddr
	}
	var met *metrics.Metrics // nil: off (its methods are no-ops)
	if metricsAddr != "" {
		met = metrics.New(enf)
		p.TimeCallbacks(met.ObserveNRI)
		p.CountProfiles(met.SetProfilesLoaded)
	}
	if healthAddr != "" {
		// Alive: the programs are attached and the plugin is not stuck.
		// Ready: also connected to the runtime and synchronized.
		mux := http.NewServeMux()
		health.Checks{Live: []health.Check{enf.Attached, p.Alive}, Ready: []health.Check{p.Ready}}.Register(mux)
		if healthAddr == metricsAddr {
			mux.Handle("/metrics", met.Handler()) // one listener for both
		}
		go func() {
			if err := health.Serve(ctx, healthAddr, mux); err != nil {
				log.WithError(err).WithField("addr", healthAddr).Error("health: endpoint stopped; enforcement goes on")
			}
		}()
	}
	if met != nil && metricsAddr != healthAddr {
		go func() {
			if err := met.Serve(ctx, metricsAddr); err != nil {
				log.WithError(err).WithField("addr", metricsAddr).Error("metrics endpoint stopped; enforcement goes on")
			}
		}()
	}
	// Every event, rate-limited or not, feeds recordings and the counters.
	observe := func(ev enforced.Event, src eventlog.Source) {
		p.Observe(ev, src)
		met.ObserveEvent(ev.Hook, ev.Action, src.Profile, src.Namespace)
	}
	// Event entries: stdout, --event-file, --events-socket. stopEvents
	// writes the last summaries and drop counts.
	startedEvents, err := f.events.startEvents(ctx, log, enf, p.Identify, observe)
	if err != nil {
		return err
	}
	stopEvents := sync.OnceFunc(startedEvents)
	defer stopEvents()
	// The admission policy generated from this configuration carries the
	// same fingerprint (krsi admission): compare them to see drift.
	b := buildinfo.Read()
	log.WithFields(logrus.Fields{
		"pin_dir": cfg.PinDir, "reused_pins": enf.Reused(), "policy_sha256": admission.Fingerprint(cfg.Admission()),
		"version": b.Version, "commit": b.Commit, "bpf_object": enforcement.ObjectID(),
		"health_addr": healthAddr, "metrics_addr": metricsAddr, "unload_when_gone": f.unloadWhenGone,
	}).Info("krsi plugin starting")
	if err := p.Run(ctx); err != nil {
		return err
	}
	// Stopped by a signal. Only SIGTERM (Kubernetes deleting the pod) may
	// mean an uninstall; the events stop first, as the maps may go.
	if guard != nil && terminated() {
		stopEvents()
		if _, err := guard.Stopping(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

// stopContext is cancelled by SIGINT or SIGTERM; terminated says whether it
// was SIGTERM.
func stopContext() (ctx context.Context, terminated func() bool, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	var got atomic.Value
	go func() {
		select {
		case s := <-sigs:
			got.Store(s)
			cancel()
		case <-ctx.Done():
		}
	}()
	terminated = func() bool { return got.Load() == syscall.SIGTERM }
	stop = func() {
		signal.Stop(sigs)
		cancel()
	}
	return ctx, terminated, stop
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
	cmd.Flags().StringVar(&pinDir, "pin-dir", enforced.DefaultPinDir, "bpffs directory of the pins")
	return cmd
}
