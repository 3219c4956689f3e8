package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/krsi-dev/krsi/cgroup"
	"github.com/krsi-dev/krsi/enforced"
	"github.com/krsi-dev/krsi/enforcement"
)

// defaultCgroupWalkLimit bounds the directories `krsi status` reads to find
// the paths of bound cgroups: about a second of work on a busy node.
const defaultCgroupWalkLimit = 100000

func statusCmd() *cobra.Command {
	var pinDir, format string
	var walkLimit int
	cmd := &cobra.Command{
		Use:   "status [--pin-dir DIR] [--format text|json]",
		Short: "Show what krsi enforces on this node, read from its pins (works with the daemon down)",
		Long: "Read krsi's pinned maps and links, read-only, and show which programs are attached,\n" +
			"which cgroups are bound to which profile and mode, the staged cgroup paths, the\n" +
			"profiles in the kernel, how full each map is and the kernel's counters. Nothing is\n" +
			"loaded or changed: it works whether the plugin runs or not. Needs root.\n\n" +
			"A bound cgroup's path is found by walking the cgroup2 mount, breadth first, until\n" +
			"every bound cgroup is found or --cgroup-walk-limit directories were read.",
		Example: "  krsi status\n  krsi status --format json | jq '.bindings[] | select(.mode == \"audit\")'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q: want text or json", format)
			}
			st, err := enforcement.ReadStatus(pinDir)
			if err != nil {
				return err
			}
			if walkLimit > 0 && len(st.Bindings) > 0 {
				if m, err := cgroup.Find(); err != nil {
					fmt.Fprintf(os.Stderr, "krsi: warning: cgroup paths not shown: %v\n", err)
				} else {
					st.ResolveCgroupPaths(m, walkLimit)
				}
			}
			if format == "json" {
				return writeStatusJSON(cmd.OutOrStdout(), st)
			}
			return writeStatusText(cmd.OutOrStdout(), st)
		},
	}
	cmd.Flags().StringVar(&pinDir, "pin-dir", enforced.DefaultPinDir, "bpffs directory of the pins")
	cmd.Flags().StringVar(&format, "format", "text", "output: text or json")
	cmd.Flags().IntVar(&walkLimit, "cgroup-walk-limit", defaultCgroupWalkLimit,
		"most cgroup directories to read to find bound cgroups' paths (0: do not look)")
	return cmd
}

func writeStatusJSON(w io.Writer, st *enforcement.Status) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

// writeStatusText writes the status as aligned tables, one per section.
func writeStatusText(out io.Writer, st *enforcement.Status) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	attached, known := 0, 0
	for _, p := range st.Programs {
		if !p.Unknown {
			known++
			if p.Attached {
				attached++
			}
		}
	}
	state := "enforcing"
	switch {
	case attached == 0:
		state = "NOT ENFORCING"
	case !st.Enforcing():
		state = "PARTLY ENFORCING"
	}
	fmt.Fprintf(w, "krsi: %s, %d of %d programs attached (pins in %s)\n", state, attached, known, st.PinDir)
	fmt.Fprintf(w, "pinned set: %s; this krsi: %s\n", setState(st), st.Running)

	fmt.Fprintf(w, "\nPROGRAM\tSTATE\tLINK ID\tPROGRAM ID\n")
	for _, p := range st.Programs {
		s := "attached"
		switch {
		case !p.Pinned:
			s = "not pinned"
		case !p.Attached:
			s = "not attached"
		}
		if p.Unknown {
			s += " (not a program of this krsi)"
		}
		if p.Error != "" {
			s += ": " + p.Error
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, s, optID(p.LinkID), optID(p.ProgramID))
	}

	names := map[enforced.ProfileID]enforcement.ProfileInfo{}
	for _, p := range st.Profiles {
		names[p.ID] = p
	}
	profile := func(id enforced.ProfileID) string {
		p, ok := names[id]
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("#%d", id)
		}
		switch {
		case ok && p.Loaded:
		case p.Bound+p.Staged > 0:
			name += " (not loaded: its cgroups fail closed)"
		default:
			name += " (not loaded)"
		}
		return name
	}

	fmt.Fprintf(w, "\nBOUND CGROUPS: %d\n", len(st.Bindings))
	if len(st.Bindings) > 0 {
		fmt.Fprintf(w, "CGROUP ID\tPATH\tPROFILE\tMODE\tBOUND BY\n")
		for _, b := range st.Bindings {
			path := b.Path
			if path == "" {
				path = "?"
			}
			by := "direct"
			switch {
			case b.Fallback && b.FallbackSince != nil:
				by = "fallback since " + b.FallbackSince.Format(time.RFC3339)
			case b.Fallback:
				by = "fallback (parent cgroup)"
			case b.Staged:
				by = "staged path"
			case b.Inherited:
				by = "parent cgroup"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", b.CgroupID, path, profile(b.ProfileID), b.Mode, by)
		}
		fmt.Fprintln(w, walkNote(st))
	}

	fmt.Fprintf(w, "\nSTAGED CGROUPS: %d\n", len(st.Staged))
	if len(st.Staged) > 0 {
		fmt.Fprintf(w, "PATH\tPROFILE\tMODE\n")
		for _, s := range st.Staged {
			if s.Unconfined {
				fmt.Fprintf(w, "%s\t%s\t%s\n", s.Path, "unconfined (no fallback)", "-")
				continue
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", s.Path, profile(s.ProfileID), s.Mode)
		}
	}

	fmt.Fprintf(w, "\nFAIL CLOSED: %s\n", failClosedState(st))
	if len(st.Parents) > 0 {
		fmt.Fprintf(w, "MARKED PARENT\tCHILDREN\tFALLBACK PROFILE\tMODE\n")
		for _, p := range st.Parents {
			where := p.Path
			if where == "" {
				where = fmt.Sprintf("cgroup id %d", p.ID)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", where, p.Kind, profile(p.Profile), p.Mode)
		}
	}

	fmt.Fprintf(w, "\nPROFILES: %d\n", len(st.Profiles))
	if len(st.Profiles) > 0 {
		fmt.Fprintf(w, "ID\tNAME\tRULES\tBOUND\tSTAGED\n")
		for _, p := range st.Profiles {
			fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%d\n", p.ID, profile(p.ID), p.Rules, p.Bound, p.Staged)
		}
	}

	fmt.Fprintf(w, "\nMAP\tENTRIES\tMAX\tUSED\n")
	for _, m := range st.Maps {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", m.Name, m.Entries, m.MaxEntries, percent(m))
	}

	fmt.Fprintf(w, "\nCOUNTERS (since the maps were created)\n")
	fmt.Fprintf(w, "dropped events\t%d\tring buffer full: violations not reported (still enforced)\n", st.DroppedEvents)
	fmt.Fprintf(w, "failed bindings\t%d\tcgroups not bound at creation: krsi_bindings was full\n", st.FailedBindings)
	fmt.Fprintf(w, "fallback bindings\t%d\tcontainers the kernel bound to the fallback profile (nothing staged)\n", st.FallbackBound)
	fmt.Fprintf(w, "nested refused\t%d\tcgroups made inside a container past its quota: left unbound, closed to its processes\n", st.NestedRefused)
	return w.Flush()
}

// setState names the krsi whose programs are pinned, and whether starting
// this binary's daemon would replace them (docs/upgrade.md).
func setState(st *enforcement.Status) string {
	switch {
	case st.Set == nil:
		return "recorded no object (pinned by a krsi before sets were recorded; the next start replaces it)"
	case *st.Set != st.Running:
		return st.Set.String() + " (another build: its daemon's next start replaces it)"
	}
	return st.Set.String()
}

func failClosedState(st *enforcement.Status) string {
	if len(st.Parents) == 0 {
		return "off (no cgroup parent marked: containers created while krsi is down run unconfined)"
	}
	n := 0
	for _, b := range st.Bindings {
		if b.FallbackSince != nil {
			n++
		}
	}
	return fmt.Sprintf("on; %d container cgroups run under the fallback now", n)
}

func optID(id uint32) string {
	if id == 0 {
		return "-"
	}
	return strconv.FormatUint(uint64(id), 10)
}

func percent(m enforced.MapUsage) string {
	p := m.Percent()
	if p > 0 && p < 0.1 {
		return "<0.1%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

// walkNote says how the bound cgroups' paths were found, and why some were not.
func walkNote(st *enforcement.Status) string {
	cw := st.CgroupWalk
	if cw == nil {
		return "(paths not looked up)"
	}
	note := fmt.Sprintf("(paths: %d of %d found in %d directories of %s",
		len(st.Bindings)-cw.Unresolved, len(st.Bindings), cw.Visited, cw.Mount)
	switch {
	case cw.Truncated:
		note += fmt.Sprintf("; stopped at --cgroup-walk-limit %d", cw.Limit)
	case cw.Unresolved > 0:
		note += "; \"?\": outside this cgroup mount or removed meanwhile"
	}
	return note + ")"
}
