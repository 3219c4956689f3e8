#!/bin/sh
# The cost of krsi's hooks, as ratios to a baseline measured in the same VM boot.
# Runs inside krsi's test VM (busybox sh), started by test/bench/run.sh through
# test/vm/run.sh --cmd; prints a markdown table between the lines
# BENCH-TABLE-START and BENCH-TABLE-END.
#
# Microbenchmarks (krsi-probe loop OP N ..., which prints "ns/op <mean>"):
#   open      open(O_RDONLY)+close of $FILE: the file_open hook
#   exec      fork+execve+wait of /usr/local/dyn/true, a dynamically linked
#             program: bprm_check_security, plus mmap_file for each executable
#             mapping (program, ld.so, libc) and file_open for ld.so's opens
#   sexec     fork+execve+wait of /usr/local/static/true, a static program that
#             only calls exit(0): bprm_check_security and one mmap_file
#   mprotect  an anonymous page RW->R->RW, never adding PROT_EXEC: the
#             file_mprotect hook, allowed even under W^X
#   mixed     fork+execve+wait of `sh $MIXED`, a small shell script that runs
#             busybox applets (cat, ls, grep), both `true`s and writes a file
# States:
#   base      no krsi programs loaded at all (checked: no bpf_link fd anywhere)
#   base2     the same again: baseline against baseline, the method's noise
#   unbound   programs attached by a background `krsi run` (builtin/wx, sleeping);
#             the probe runs from this shell, outside any bound cgroup
#   wx        the probe runs under `krsi run --profile builtin/wx`
#   r10       ... under a profile with W^X, 10 exec.deny and 10 files.rules
#   r1000     ... the same with 1000 + 1000 rules
#   r10000    ... the same with 10000 + 10000 rules
# Every `krsi run` here has --all-programs: all of krsi's programs attached, as on a
# node (a plain `krsi run` attaches only those its profile needs).
#   In the rule profiles one files rule allows reading $FILE and the others deny
#   reading and writing /opt/bench/dirN/fileM, so a read-only open can be denied
#   by some path: each open resolves its path and finds a rule (the cold path;
#   a profile whose rules deny no read skips that work, see "growth" below); exec.deny names /opt/bench/dirN/binM (deny list, so
#   the benchmarked program still runs).
# Method: N per op is calibrated once so that one measurement takes about
# $TARGET_MS; then ROUNDS rounds, each measuring every (op, state) once, states in
# a rotated order (reversed in odd rounds, so that no state always follows the
# same one). Per (op, state): median, min and max ns/op over the rounds, and three
# ratios to the baseline: median over median, min over min (noise from outside
# only ever adds time), and the median of the ratios within each round (robust to
# a host that gets slower or faster during the run).
#
# After the rounds, with BPFSTATS=1, one more pass per (op, bound or unbound state)
# runs the probe with KRSI_PROBE_BPFSTATS=1: the kernel's own run count and run
# time of each krsi program, as runs and ns of BPF per operation (a second table).
#
# Settings (run.sh may set them on lines it prepends): ROUNDS, TARGET_MS,
# BPFSTATS, ICOUNT (the qemu -icount shift the VM runs with, for the table's
# heading; empty when the guest's clock is the host's).
set -u
: "${ROUNDS:=7}"
: "${TARGET_MS:=1000}"
: "${BPFSTATS:=1}"
: "${ICOUNT:=}"

krsi=${KRSI_BIN:-/bin/krsi}
probe=${KRSI_PROBE:-/bin/krsi-probe}
dyntrue=${KRSI_DYN_TRUE:-/usr/local/dyn/true}
statictrue=/usr/local/static/true
work=/tmp/bench
FILE=/opt/bench/data/file.txt
MIXED=/opt/bench/mixed.sh
results=$work/results
stats=$work/bpfstats
OPS="exec sexec mprotect mixed open"
STATES="base base2 unbound wx r10 r1000 r10000"

die() { # stderr: a die inside $(...) must still be seen
	echo "bench: ERROR: $*" >&2
	exit 1
}
say() { echo "bench: $*"; }
now() { cut -d' ' -f1 /proc/uptime; } # seconds since boot, with hundredths

rm -rf "$work" /tmp/started
mkdir -p "$work" /opt/bench/data || die "mkdir"
echo "benchmark data" >"$FILE" || die "write $FILE"
: >"$results"
: >"$stats"
cat >"$MIXED" <<EOF || die "write $MIXED"
cat $FILE >/dev/null
grep -q benchmark $FILE
ls /opt/bench/data >/dev/null
$dyntrue
$statictrue
echo x >/tmp/bench-mixed
EOF

# --- the rule profiles ----------------------------------------------------------------
# profile NAME RULES: RULES exec.deny patterns and RULES files.rules, one of which
# allows reading $FILE. Paths are /opt/bench/dir<i/10>/{bin,file}<i%10>.
profile() {
	awk -v name="$1" -v n="$2" -v file="$FILE" 'BEGIN {
		print "apiVersion: krsi.dev/v1"
		print "kind: Profile"
		print "name: " name
		print "description: \"benchmark: W^X, " n " exec.deny and " n " files.rules\""
		print "memory:"
		print "  wx: deny"
		print "exec:"
		print "  deny:"
		for (i = 0; i < n; i++)
			printf "    - /opt/bench/dir%d/bin%d\n", int(i / 10), i % 10
		print "files:"
		print "  rules:"
		printf "    - path: %s\n      allow: [read]\n", file
		for (i = 0; i < n - 1; i++)
			printf "    - path: /opt/bench/dir%d/file%d\n      deny: [read, write]\n", int(i / 10), i % 10
	}' >"$work/$1.yaml"
}
profile r10 10
profile r1000 1000
profile r10000 10000
"$krsi" profile check "$work/r10.yaml" "$work/r1000.yaml" "$work/r10000.yaml" || die "the generated profiles do not check"

# Sanity, once, untimed: the rule profiles are really in force (their first and
# last generated rules deny, the benchmarked file and program are allowed), so
# the timed runs do the matching the table claims.
mkdir -p /opt/bench/dir0 /opt/bench/dir98 /opt/bench/dir99 /opt/bench/dir999
: >/opt/bench/dir0/file0
: >/opt/bench/dir98/file8
: >/opt/bench/dir999/file8
cp "$dyntrue" /opt/bench/dir0/bin0
cp "$dyntrue" /opt/bench/dir99/bin9
cp "$dyntrue" /opt/bench/dir999/bin9
expect() { # expect WANT OUTPUT WHAT
	case $2 in
	"$1"*) ;;
	*) die "sanity: $3: want '$1', got: $2" ;;
	esac
}
for p in r10 r1000 r10000; do
	case $p in
	r10) lastfile=/opt/bench/dir0/file0 lastbin=/opt/bench/dir0/bin0 ;;
	r1000) lastfile=/opt/bench/dir98/file8 lastbin=/opt/bench/dir99/bin9 ;;
	r10000) lastfile=/opt/bench/dir999/file8 lastbin=/opt/bench/dir999/bin9 ;;
	esac
	out=$("$krsi" run --all-programs --profile "$work/$p.yaml" -- sh -c "
		$probe open $FILE r; $probe open /opt/bench/dir0/file0 w; $probe open $lastfile w
		$probe exec /opt/bench/dir0/bin0; $probe exec $lastbin; $probe exec $dyntrue && echo ok
		sh $MIXED && echo ok" 2>/dev/null)
	set -- $(echo "$out" | cut -d: -f1)
	expect "ok" "${1:-}" "$p: open $FILE r"
	expect "denied" "${2:-}" "$p: open /opt/bench/dir0/file0 w"
	expect "denied" "${3:-}" "$p: open $lastfile w"
	expect "denied" "${4:-}" "$p: exec /opt/bench/dir0/bin0"
	expect "denied" "${5:-}" "$p: exec $lastbin"
	expect "ok" "${6:-}" "$p: exec $dyntrue"
	expect "ok" "${7:-}" "$p: sh $MIXED"
done
say "sanity: the rule profiles deny their first and last rules and allow the benchmarked file, programs and script"

# --- one measurement --------------------------------------------------------------------
links() { ls -l /proc/[0-9]*/fd 2>/dev/null | grep -c 'bpf_link'; }

# args OP N: the probe's loop operands
args() {
	case $1 in
	open) echo "loop open $2 $FILE" ;;
	exec) echo "loop exec $2 $dyntrue" ;;
	sexec) echo "loop exec $2 $statictrue" ;;
	mprotect) echo "loop mprotect $2" ;;
	mixed) echo "loop exec $2 /bin/sh $MIXED" ;;
	esac
}

bg=
start_background() {
	rm -f /tmp/started
	"$krsi" run --all-programs --profile builtin/wx -- sh -c 'touch /tmp/started; sleep 100000' >/dev/null &
	bg=$!
	i=0
	while [ ! -e /tmp/started ]; do
		i=$((i + 1))
		[ $i -le 600 ] || die "the background krsi run did not start in 60 s"
		kill -0 "$bg" 2>/dev/null || die "the background krsi run died"
		sleep 0.1
	done
}
stop_background() {
	kill "$bg" 2>/dev/null
	wait "$bg" 2>/dev/null
	bg=
	rm -f /tmp/started
}

# measure OP STATE N: prints the probe's ns/op (and, with KRSI_PROBE_BPFSTATS=1
# in the environment, its bpf fields after it)
measure() {
	a=$(args "$1" "$3")
	case $2 in
	base | base2)
		n=$(links)
		[ "$n" -eq 0 ] || die "baseline: $n bpf_link fds are open; krsi programs are still attached"
		out=$("$probe" $a)
		;;
	unbound)
		start_background
		out=$("$probe" $a)
		stop_background
		;;
	wx) out=$("$krsi" run --all-programs --profile builtin/wx -- "$probe" $a) ;;
	r10 | r1000 | r10000) out=$("$krsi" run --all-programs --profile "$work/$2.yaml" -- "$probe" $a) ;;
	esac
	case $out in
	"ns/op "*) echo "${out#ns/op }" ;;
	*) die "$1 in state $2: the probe printed: $out" ;;
	esac
}

# measure_state STATE [stats]: every op of $OPS once, N_<op> times each, in one
# start of the state (one `krsi run` for the bound ones: loading the programs and
# writing 20,000 rules costs more than the measurements). Prints "OP NS/OP" lines;
# with "stats", the probe also reads bpf_stats and prints its bpf fields after NS/OP.
measure_state() {
	env=
	[ "${2:-}" = stats ] && env="KRSI_PROBE_BPFSTATS=1 "
	# The sleeps: with one vCPU, whatever else runs during a measurement is
	# counted in it. A fresh `krsi run` (the Go runtime after loading programs
	# and rules) and the teardown of the previous state (the kernel frees maps
	# and programs from work queues, RCU waits for grace periods) are given
	# five seconds of guest time to finish first (idle time costs no host time
	# under icount's sleep=off).
	script="sleep 5;"
	for op in $OPS; do
		eval "n=\$N_$op"
		script="$script echo \"$op \$($env$probe $(args "$op" "$n"))\";"
	done
	case $1 in
	base | base2)
		n=$(links)
		[ "$n" -eq 0 ] || die "baseline: $n bpf_link fds are open; krsi programs are still attached"
		out=$(sh -c "$script")
		;;
	unbound)
		start_background
		out=$(sh -c "$script")
		stop_background
		;;
	wx) out=$("$krsi" run --all-programs --profile builtin/wx -- sh -c "$script") ;;
	r10 | r1000 | r10000) out=$("$krsi" run --all-programs --profile "$work/$1.yaml" -- sh -c "$script") ;;
	esac
	sleep 5
	echo "$out" | while read -r op word rest; do
		[ "$word" = "ns/op" ] || die "$op in state $1: the probe printed: $word $rest"
		echo "$op $rest"
	done || exit 1
	[ "$(echo "$out" | grep -c ' ns/op ')" -eq "$(echo $OPS | wc -w)" ] || die "state $1: not every op printed a result: $out"
}

# --- calibration: N per op so that one baseline measurement takes ~TARGET_MS ------------
say "kernel $(uname -r), $ROUNDS rounds, target ${TARGET_MS} ms per measurement"
for op in $OPS; do
	case $op in
	open) n0=5000 ;;
	exec | mixed) n0=5 ;;
	sexec) n0=20 ;;
	mprotect) n0=5000 ;;
	esac
	measure "$op" base "$n0" >/dev/null || exit 1 # warm-up (page cache, dentries)
	ns=$(measure "$op" base "$n0") || exit 1
	# two significant digits, at least 5
	n=$(awk -v ns="$ns" -v t="$TARGET_MS" 'BEGIN {
		n = t * 1e6 / ns; p = 1; while (n >= 100) { n /= 10; p *= 10 }
		n = int(n + 0.5) * p; if (n < 5) n = 5; print n }')
	eval "N_$op=$n"
	say "calibrated $op: $ns ns/op at N=$n0 -> N=$n"
done

# --- rounds -------------------------------------------------------------------------------
t0=$(now)
nstates=$(echo $STATES | wc -w)
r=0
while [ $r -lt "$ROUNDS" ]; do
	# rotate by r; odd rounds run the rotation backwards
	order=$(echo $STATES | tr ' ' '\n' | awk -v r=$r -v k=$nstates '
		{ s[NR - 1] = $0 }
		END { for (i = 0; i < k; i++) { j = (r % 2) ? (r - i + 2 * k) % k : (r + i) % k; print s[j] } }' | tr '\n' ' ')
	for st in $order; do
		out=$(measure_state "$st") || exit 1
		echo "$out" | while read -r op ns; do echo "$op $st $r $ns"; done >>"$results"
	done
	say "round $((r + 1))/$ROUNDS done (order: $order) at +$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
	r=$((r + 1))
done

# --- the programs' own cost (bpf_stats) -------------------------------------------------------
if [ "$BPFSTATS" = 1 ]; then
	for st in unbound wx r10 r1000 r10000; do
		out=$(measure_state "$st" stats) || exit 1
		echo "$out" | while read -r op rest; do
			eval "n=\$N_$op"
			echo "$op $st $n $rest"
		done >>"$stats"
	done
	say "bpf_stats pass done at +$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
fi

# --- growth: open+close by path depth and by bound cgroups --------------------------------
# open+close of a file DEPTH components deep (/g1; /opt/bench/g4/f;
# /opt/bench/g16/d/.../f), in the states base (no programs), wx (builtin/wx: no
# path rules), ro (builtin/readonly-root: rules deny writes only, so a read-only
# open skips the path) and r10 (rules that could deny a read: every open
# resolves its path and looks its prefixes up). Then, in wx and r10, open+close
# of $FILE with K cgroups bound in krsi_bindings (K-1 made inside the bound
# cgroup, each bound by cgroup_mkdir as a container's nested cgroup is):
# K = 1, 100, 1000. krsi has no decision cache (BENCHMARKS.md says why): every
# open is cold, so there is no cached column. GROWTH_ROUNDS rounds, one
# `krsi run` per state and round; medians.
: "${GROWTH_ROUNDS:=3}"
DEPTHS="1 4 16 64"
COUNTS="1 100 1000"
growth=$work/growth
: >"$growth"
deep() { # deep N: a file N components deep
	if [ "$1" = 1 ]; then echo /g1; return; fi
	p=/opt/bench/g$1
	i=4
	while [ $i -lt "$1" ]; do p=$p/d; i=$((i + 1)); done
	echo "$p/f"
}
for d in $DEPTHS; do
	f=$(deep "$d")
	mkdir -p "$(dirname "$f")" && echo x >"$f" || die "make $f"
	[ "$(echo "$f" | tr -cd / | wc -c)" -eq "$d" ] || die "$f is not $d components deep"
done
# growth_script STATE: prints "depth D NS" and, for wx and r10, "bound K NS" lines
growth_script() {
	script="sleep 5;"
	for d in $DEPTHS; do
		script="$script echo \"depth $d \$($probe loop open $N_open $(deep "$d"))\";"
	done
	case $1 in
	wx | r10)
		script="$script cg=/sys/fs/cgroup\$(cut -d: -f3 /proc/self/cgroup); made=1;"
		for k in $COUNTS; do
			script="$script while [ \$made -lt $k ]; do mkdir \$cg/n\$made || exit 1; made=\$((made + 1)); done;"
			script="$script echo \"bound $k \$($probe loop open $N_open $FILE)\";"
		done
		script="$script i=1; while [ \$i -lt \$made ]; do rmdir \$cg/n\$i; i=\$((i + 1)); done;"
		;;
	esac
	echo "$script"
}
r=0
while [ $r -lt "$GROWTH_ROUNDS" ]; do
	for st in base wx ro r10; do
		script=$(growth_script "$st")
		case $st in
		base)
			n=$(links)
			[ "$n" -eq 0 ] || die "baseline: $n bpf_link fds are open; krsi programs are still attached"
			out=$(sh -c "$script")
			;;
		wx) out=$("$krsi" run --all-programs --nested-per-container 1000 --profile builtin/wx -- sh -c "$script") ;;
		ro) out=$("$krsi" run --all-programs --profile builtin/readonly-root -- sh -c "$script") ;;
		r10) out=$("$krsi" run --all-programs --nested-per-container 1000 --profile "$work/r10.yaml" -- sh -c "$script") ;;
		esac
		sleep 5
		echo "$out" | while read -r kind x word ns; do
			[ "$word" = "ns/op" ] || die "growth $kind $x in state $st: the probe printed: $word $ns"
			echo "$kind $x $st $r $ns"
		done >>"$growth" || exit 1
	done
	say "growth round $((r + 1))/$GROWTH_ROUNDS done at +$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
	r=$((r + 1))
done
say "raw growth (kind x state round ns/op):"
sed 's/^/bench:   /' "$growth"

# --- the table ------------------------------------------------------------------------------
say "raw results (op state round ns/op):"
sed 's/^/bench:   /' "$results"
say "raw bpf_stats (op state N ns/op [bpf program runs ns]...):"
sed 's/^/bench:   /' "$stats"

echo "BENCH-TABLE-START"
if [ -n "$ICOUNT" ]; then
	clock="guest clock from instruction counts (qemu -icount shift=$ICOUNT, 1 vCPU): times are emulated instructions × $((1 << ICOUNT)) ns, not host time"
else
	clock="guest clock = host time (qemu TCG, no icount)"
fi
echo "Kernel \`$(uname -r)\`; $clock; $ROUNDS rounds; N per measurement: open $N_open, exec $N_exec, static exec $N_sexec, mprotect $N_mprotect, mixed $N_mixed."
echo
awk -v states="$STATES" -v ops="$OPS" '
# (busybox awk compares array elements read from fields as strings: "+ 0" everywhere.)
function median(a, k,    i, j, t) { # sorts a[1..k] in place
	for (i = 2; i <= k; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return (k % 2) ? a[(k + 1) / 2] + 0 : (a[k / 2] + a[k / 2 + 1]) / 2
}
function us(ns) { ns += 0; return (ns >= 100000) ? sprintf("%.0f", ns / 1000) : (ns >= 10000) ? sprintf("%.1f", ns / 1000) : sprintf("%.2f", ns / 1000) }
{ v[$1, $2, $3] = $4 + 0; rounds[$3] = 1 }
END {
	nops = split(ops, O, " "); nst = split(states, S, " ")
	label["open"] = "open+close"
	label["exec"] = "exec dyn `true`"
	label["mprotect"] = "mprotect RW↔R"
	label["sexec"] = "exec static `true`"
	label["mixed"] = "mixed: `sh` script"
	slabel["base"] = "baseline: no programs"
	slabel["base2"] = "baseline again (noise)"
	slabel["r10000"] = "bound: 10000 + 10000 rules"
	slabel["unbound"] = "attached, caller unbound"
	slabel["wx"] = "bound: builtin/wx"
	slabel["r10"] = "bound: 10 + 10 rules"
	slabel["r1000"] = "bound: 1000 + 1000 rules"
	print "| op | state | median µs/op | min–max µs/op | × baseline: median / median | added ns/op (median − baseline) | min / min | median of per-round ratios |"
	print "|---|---|--:|--:|--:|--:|--:|--:|"
	for (o = 1; o <= nops; o++) {
		op = O[o]
		k = 0; for (r in rounds) b[++k] = v[op, "base", r]
		base = median(b, k); bmin = b[1]
		for (s = 1; s <= nst; s++) {
			st = S[s]
			k = 0
			for (r in rounds) { x[++k] = v[op, st, r]; q[k] = v[op, st, r] / v[op, "base", r] }
			m = median(x, k); pm = median(q, k)
			printf "| %s | %s | %s | %s–%s | %.2f | %+.0f | %.2f | %.2f |\n", label[op], slabel[st], us(m), us(x[1]), us(x[k]), m / base, m - base, x[1] / bmin, pm
		}
	}
}' "$results"
if [ -s "$stats" ]; then
	echo
	echo "The programs' own cost, from the kernel's bpf_stats (one more run per row with \`kernel.bpf_stats_enabled\`; the trampoline around each program is not included): krsi program runs per operation, ns of BPF per operation, that as a share of the baseline's median, and each program's runs per op × ns per run."
	echo
	awk '
	function median(a, k,    i, j, t) {
		for (i = 2; i <= k; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return (k % 2) ? a[(k + 1) / 2] + 0 : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	FILENAME == ARGV[1] { if ($2 == "base") { k[$1]++; b[$1, k[$1]] = $4 + 0 }; next }
	{
		op = $1; st = $2; n = $3 + 0
		if (!(op in basemed)) { m = 0; for (i = 1; i <= k[op]; i++) x[i] = b[op, i]; basemed[op] = median(x, k[op]) }
		runs = 0; ns = 0; detail = ""
		for (i = 5; i + 3 <= NF; i += 4) {
			name = $(i + 1); r = $(i + 2) + 0; t = $(i + 3) + 0
			runs += r; ns += t
			sub(/^krsi_/, "", name)
			detail = detail sprintf("%s%s %.2g × %.0f", detail == "" ? "" : "; ", name, r / n, r ? t / r : 0)
		}
		printf "| %s | %s | %.2g | %.0f | %.3f %% | %s |\n", op, st, runs / n, ns / n, basemed[op] ? 100 * ns / n / basemed[op] : 0, detail
	}' "$results" "$stats" | sed -e 's/^| open |/| open+close |/' -e 's/^| exec |/| exec dyn `true` |/' \
		-e 's/^| sexec |/| exec static `true` |/' -e 's/^| mprotect |/| mprotect RW↔R |/' -e 's/^| mixed |/| mixed: `sh` script |/' \
		-e 's/| unbound |/| attached, caller unbound |/' -e 's/| wx |/| bound: builtin\/wx |/' \
		-e 's/| r10 |/| bound: 10 + 10 rules |/' -e 's/| r1000 |/| bound: 1000 + 1000 rules |/' -e 's/| r10000 |/| bound: 10000 + 10000 rules |/' >"$work/stats.md"
	echo "| op | state | program runs per op | BPF ns per op | of baseline op | per program: runs/op × ns/run |"
	echo "|---|---|--:|--:|--:|---|"
	cat "$work/stats.md"
fi
echo
echo "Growth of open+close (all programs attached; $GROWTH_ROUNDS rounds, N = $N_open; median µs/op, × the baseline of the same column, added guest ns/op). By path depth (components of the opened path):"
echo
awk -v depths="$DEPTHS" -v counts="$COUNTS" '
function median(a, k,    i, j, t) {
	for (i = 2; i <= k; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return (k % 2) ? a[(k + 1) / 2] + 0 : (a[k / 2] + a[k / 2 + 1]) / 2
}
{ key = $1 SUBSEP $2 SUBSEP $3; n[key]++; v[key, n[key]] = $5 + 0 }
function med(kind, x, st,    key, i, a) { key = kind SUBSEP x SUBSEP st; for (i = 1; i <= n[key]; i++) a[i] = v[key, i]; return n[key] ? median(a, n[key]) : 0 }
function cell(m, b) { return sprintf("%.2f µs · ×%.2f · %+.0f ns", m / 1000, b ? m / b : 0, m - b) }
END {
	nd = split(depths, D, " "); nc = split(counts, C, " ")
	label["base"] = "baseline: no programs"; label["wx"] = "bound: builtin/wx (no path rules)"
	label["ro"] = "bound: builtin/readonly-root (write rules only: a read skips the path)"
	label["r10"] = "bound: 10 + 10 rules, reads deniable (cold: path resolved and looked up)"
	hdr = "| state |"; sep = "|---|"
	for (i = 1; i <= nd; i++) { hdr = hdr " depth " D[i] " |"; sep = sep "--:|" }
	print hdr; print sep
	split("base wx ro r10", S, " ")
	for (s = 1; s <= 4; s++) {
		line = "| " label[S[s]] " |"
		for (i = 1; i <= nd; i++) line = line " " cell(med("depth", D[i], S[s]), med("depth", D[i], "base")) " |"
		print line
	}
	print ""
	print "By cgroups bound in krsi_bindings (open+close of the benchmarked file, 4 components; × the baseline at depth 4):"
	print ""
	hdr = "| state |"; sep = "|---|"
	for (i = 1; i <= nc; i++) { hdr = hdr " " C[i] " bound |"; sep = sep "--:|" }
	print hdr; print sep
	b = med("depth", 4, "base")
	split("wx r10", T, " ")
	for (s = 1; s <= 2; s++) {
		line = "| " label[T[s]] " |"
		for (i = 1; i <= nc; i++) line = line " " cell(med("bound", C[i], T[s]), b) " |"
		print line
	}
}' "$growth"
echo "BENCH-TABLE-END"
