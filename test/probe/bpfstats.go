package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// With KRSI_PROBE_BPFSTATS=1, loop also prices each of krsi's programs on its
// own: the kernel's run count and run time per program (bpf_stats), read
// before and after the loop. That is the programs' cost without the trampoline
// around them and independent of any baseline. Stats are on only while the
// loop runs, and they cost something themselves (two clock reads per run), so
// a benchmark takes its ratios from runs without them.
const bpfStatsEnv = "KRSI_PROBE_BPFSTATS"

type progStats map[string]ebpf.ProgramStats

// startBPFStats turns the kernel's statistics on, or returns nil, nil when the
// environment does not ask for them.
func startBPFStats() (io.Closer, error) {
	if os.Getenv(bpfStatsEnv) != "1" {
		return nil, nil
	}
	c, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		return nil, fmt.Errorf("enable bpf stats: %w", err)
	}
	return c, nil
}

// krsiStats reads the statistics of every loaded program named krsi_*. Two
// programs of one name (two krsi instances) are added up.
func krsiStats() (progStats, error) {
	out := progStats{}
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("next bpf program after %d: %w", id, err)
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // unloaded meanwhile
		}
		info, ierr := p.Info()
		st, serr := p.Stats()
		p.Close()
		if ierr != nil || serr != nil || !strings.HasPrefix(info.Name, "krsi_") {
			continue
		}
		s := out[info.Name]
		s.RunCount += st.RunCount
		s.Runtime += st.Runtime
		out[info.Name] = s
	}
}

// statsDelta formats after-before per program as " bpf NAME RUNS NS" fields
// on one line, programs that did not run left out.
func statsDelta(before, after progStats) string {
	names := make([]string, 0, len(after))
	for n := range after {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		runs := after[n].RunCount - before[n].RunCount
		if runs == 0 {
			continue
		}
		fmt.Fprintf(&b, " bpf %s %d %d", n, runs, (after[n].Runtime - before[n].Runtime).Nanoseconds())
	}
	return b.String()
}
