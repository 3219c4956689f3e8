package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
	"github.com/krsi-dev/krsi/eventlog"
	"github.com/krsi-dev/krsi/eventsock"
)

func eventsCmd() *cobra.Command {
	var socket, format string
	var filter eventsock.Filter
	cmd := &cobra.Command{
		Use:   "events [--socket PATH] [--pod NAME] [--namespace NS] [--container NAME] [--format text|json]",
		Short: "Follow the violation events of the running krsi daemon",
		Long: "Connect to the events socket of `krsi plugin` and print its event entries as they\n" +
			"come: violations (after rate limiting), summaries of suppressed events, and reports\n" +
			"of events the kernel dropped. Root only. Filters select by container identity;\n" +
			"reports about the whole node are always shown. docs/events.md describes the entries.",
		Example: "  krsi events\n" +
			"  krsi events --namespace prod --pod web-7d9f --format json | jq .path",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var render func(eventlog.Entry, []byte) error
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				render = func(_ eventlog.Entry, line []byte) error {
					_, err := fmt.Fprintf(out, "%s\n", line)
					return err
				}
			case "text":
				render = func(e eventlog.Entry, _ []byte) error { return renderText(out, e) }
			default:
				return fmt.Errorf("--format %q: want text or json", format)
			}
			c, err := eventsock.Dial(socket)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				c.Close()
			}()
			fmt.Fprintf(cmd.ErrOrStderr(), "krsi: following events from %s\n", socket)
			for {
				e, line, err := c.Next()
				switch {
				case errors.Is(err, io.EOF):
					return nil // interrupted
				case errors.Is(err, eventsock.ErrBadLine):
					fmt.Fprintf(cmd.ErrOrStderr(), "krsi: skipping a line: %v\n", err)
					continue
				case err != nil:
					return err
				}
				if !filter.Match(e) {
					continue
				}
				if err := render(e, line); err != nil {
					return err
				}
			}
		},
	}
	cmd.Flags().StringVar(&socket, "socket", eventsock.DefaultPath, "the daemon's events socket")
	cmd.Flags().StringVar(&filter.Pod, "pod", "", "only events of this pod")
	cmd.Flags().StringVar(&filter.Namespace, "namespace", "", "only events of this namespace")
	cmd.Flags().StringVar(&filter.Container, "container", "", "only events of this container (its name in the pod)")
	cmd.Flags().StringVar(&format, "format", "text", "output: text or json (the daemon's JSON lines)")
	return cmd
}

// renderText prints an entry for people: its time, then krsi's text format.
func renderText(w io.Writer, e eventlog.Entry) error {
	f := make(logrus.Fields, len(e.Fields))
	for k, v := range e.Fields {
		if k != "event" { // every entry here is one
			f[k] = v
		}
	}
	b, err := eventlog.TextFormatter{}.Format(&logrus.Entry{Level: e.Level, Message: e.Message, Data: f})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s %s", e.Time.Local().Format("2006-01-02 15:04:05.000"), b)
	return err
}

// eventFlags are krsi plugin's options for its event entries.
type eventFlags struct {
	format          string
	file            string
	fileMaxMB, keep int
	socket          string
	rate            float64
	burst           int
}

func (f *eventFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.format, "event-format", "", "event entries on stdout: json or text; default: as --log-format (the daemon's own log is on stderr)")
	fl.StringVar(&f.file, "event-file", "", "also write event entries to this file as JSON lines, rotated by size")
	fl.IntVar(&f.fileMaxMB, "event-file-max-mb", 100, "rotate --event-file when it reaches this many megabytes")
	fl.IntVar(&f.keep, "event-file-keep", 5, "rotated --event-file copies to keep (0 keeps all)")
	fl.StringVar(&f.socket, "events-socket", eventsock.DefaultPath, "serve event entries to krsi events on this unix socket (root only); empty disables")
	fl.Float64Var(&f.rate, "event-rate", eventlog.DefaultRate, "events a second logged per container, hook, reason and rule, past the burst; 0 logs every event")
	fl.IntVar(&f.burst, "event-burst", eventlog.DefaultBurst, "events logged at once per container, hook, reason and rule before --event-rate applies")
}

// check validates the flags before anything starts; the format defaults to
// the daemon's --log-format.
func (f *eventFlags) check(logFormat string) error {
	if f.format == "" {
		f.format = logFormat
	}
	if f.format != "json" && f.format != "text" {
		return fmt.Errorf("--event-format %q: want text or json", f.format)
	}
	if f.rate < 0 {
		return errors.New("--event-rate cannot be negative")
	}
	if f.burst < 1 {
		return errors.New("--event-burst must be at least 1")
	}
	if f.file != "" && (f.fileMaxMB <= 0 || f.keep < 0) {
		return errors.New("--event-file-max-mb must be positive and --event-file-keep not negative")
	}
	return nil
}

// startEvents reads the kernel's events into the pipeline and its outputs
// until ctx ends. stop waits for the pipeline's last flush (summaries, drop
// counts) and closes the outputs. The events socket is a convenience: when
// it cannot be served, the daemon logs why and goes on confining.
func (f eventFlags) startEvents(ctx context.Context, log *logrus.Logger, enf *enforcement.Enforcer,
	resolve eventlog.Resolver, observe func(enforced.Event, eventlog.Source)) (stop func(), err error) {
	stdout := eventlog.JSONFormatter()
	if f.format == "text" {
		stdout = eventlog.TextFormatter{}
	}
	sinks := []eventlog.Sink{eventlog.WriterSink(os.Stdout, stdout, func(err error) {
		log.WithError(err).Error("cannot write event entries to stdout")
	})}
	var closers []io.Closer
	if f.file != "" {
		lj := &lumberjack.Logger{Filename: f.file, MaxSize: f.fileMaxMB, MaxBackups: f.keep}
		if _, err := lj.Write(nil); err != nil { // opens it: fail now, not at the first event
			return nil, fmt.Errorf("--event-file: %w", err)
		}
		closers = append(closers, lj)
		sinks = append(sinks, eventlog.WriterSink(lj, eventlog.JSONFormatter(), func(err error) {
			log.WithError(err).WithField("file", f.file).Error("cannot write event entries to the event file")
		}))
	}
	if f.socket != "" {
		srv, err := eventsock.Listen(f.socket, eventsock.Options{Log: log})
		if err != nil {
			log.WithError(err).Error("not serving events to `krsi events`")
		} else {
			closers = append(closers, srv)
			sinks = append(sinks, srv)
		}
	}
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	events, err := enf.Events()
	if err != nil {
		closeAll()
		return nil, err
	}
	pipe := eventlog.NewPipeline(eventlog.Options{
		Resolve:   resolve,
		Counters:  enf,
		Sink:      eventlog.Tee(sinks...),
		Rate:      f.rate,
		Burst:     f.burst,
		Unlimited: f.rate == 0,
		Log:       log,
		Observe:   observe,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := pipe.Run(events); err != nil {
			log.WithError(err).Error("reading events stopped")
		}
	}()
	go func() {
		<-ctx.Done()
		events.Close()
	}()
	return func() {
		events.Close()
		<-done
		closeAll()
	}, nil
}
