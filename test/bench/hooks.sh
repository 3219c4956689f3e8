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
#   mprotect  an anonymous page RW->R->RW, never adding PROT_EXEC: the
#             file_mprotect hook, allowed even under W^X
# States:
#   base      no krsi programs loaded at all (checked: no bpf_link fd anywhere)
#   unbound   programs attached by a background `krsi run` (builtin/wx, sleeping);
#             the probe runs from this shell, outside any bound cgroup
#   wx        the probe runs under `krsi run --profile builtin/wx`
#   r10       ... under a profile with W^X, 10 exec.deny and 10 files.rules
#   r1000     ... the same with 1000 + 1000 rules
#   In both rule profiles one files rule allows reading $FILE (so each open
#   walks the path and finds a rule) and the others deny writing to
#   /opt/bench/dirN/fileM; exec.deny names /opt/bench/dirN/binM (deny list, so
#   the benchmarked program still runs).
# Method: N per op is calibrated once so that one measurement takes about
# $TARGET_MS; then ROUNDS rounds, each measuring every (op, state) once, states in
# a rotated order (reversed in odd rounds, so that no state always follows the
# same one). Per (op, state): median, min and max ns/op over the rounds, and three
# ratios to the baseline: median over median, min over min (noise from outside
# only ever adds time), and the median of the ratios within each round (robust to
# a host that gets slower or faster during the run).
#
# Settings (run.sh may set them on lines it prepends): ROUNDS, TARGET_MS.
set -u
: "${ROUNDS:=7}"
: "${TARGET_MS:=1000}"

krsi=${KRSI_BIN:-/bin/krsi}
probe=${KRSI_PROBE:-/bin/krsi-probe}
dyntrue=${KRSI_DYN_TRUE:-/usr/local/dyn/true}
work=/tmp/bench
FILE=/opt/bench/data/file.txt
results=$work/results
OPS="open exec mprotect"
STATES="base unbound wx r10 r1000"

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
			printf "    - path: /opt/bench/dir%d/file%d\n      deny: [write]\n", int(i / 10), i % 10
	}' >"$work/$1.yaml"
}
profile r10 10
profile r1000 1000
"$krsi" profile check "$work/r10.yaml" "$work/r1000.yaml" || die "the generated profiles do not check"

# Sanity, once, untimed: the rule profiles are really in force (their first and
# last generated rules deny, the benchmarked file and program are allowed), so
# the timed runs do the matching the table claims.
mkdir -p /opt/bench/dir0 /opt/bench/dir98 /opt/bench/dir99
: >/opt/bench/dir0/file0
: >/opt/bench/dir98/file8
cp "$dyntrue" /opt/bench/dir0/bin0
cp "$dyntrue" /opt/bench/dir99/bin9
expect() { # expect WANT OUTPUT WHAT
	case $2 in
	"$1"*) ;;
	*) die "sanity: $3: want '$1', got: $2" ;;
	esac
}
for p in r10 r1000; do
	case $p in
	r10) lastfile=/opt/bench/dir0/file0 lastbin=/opt/bench/dir0/bin0 ;;
	r1000) lastfile=/opt/bench/dir98/file8 lastbin=/opt/bench/dir99/bin9 ;;
	esac
	out=$("$krsi" run --profile "$work/$p.yaml" -- sh -c "
		$probe open $FILE r; $probe open /opt/bench/dir0/file0 w; $probe open $lastfile w
		$probe exec /opt/bench/dir0/bin0; $probe exec $lastbin; $probe exec $dyntrue && echo ok" 2>/dev/null)
	set -- $(echo "$out" | cut -d: -f1)
	expect "ok" "${1:-}" "$p: open $FILE r"
	expect "denied" "${2:-}" "$p: open /opt/bench/dir0/file0 w"
	expect "denied" "${3:-}" "$p: open $lastfile w"
	expect "denied" "${4:-}" "$p: exec /opt/bench/dir0/bin0"
	expect "denied" "${5:-}" "$p: exec $lastbin"
	expect "ok" "${6:-}" "$p: exec $dyntrue"
done
say "sanity: both rule profiles deny their first and last rules and allow the benchmarked file and program"

# --- one measurement --------------------------------------------------------------------
links() { ls -l /proc/[0-9]*/fd 2>/dev/null | grep -c 'bpf_link'; }

# args OP N: the probe's loop operands
args() {
	case $1 in
	open) echo "loop open $2 $FILE" ;;
	exec) echo "loop exec $2 $dyntrue" ;;
	mprotect) echo "loop mprotect $2" ;;
	esac
}

bg=
start_background() {
	rm -f /tmp/started
	"$krsi" run --profile builtin/wx -- sh -c 'touch /tmp/started; sleep 100000' >/dev/null &
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

# measure OP STATE N: prints the probe's ns/op
measure() {
	a=$(args "$1" "$3")
	case $2 in
	base)
		n=$(links)
		[ "$n" -eq 0 ] || die "baseline: $n bpf_link fds are open; krsi programs are still attached"
		out=$("$probe" $a)
		;;
	unbound)
		start_background
		out=$("$probe" $a)
		stop_background
		;;
	wx) out=$("$krsi" run --profile builtin/wx -- "$probe" $a) ;;
	r10 | r1000) out=$("$krsi" run --profile "$work/$2.yaml" -- "$probe" $a) ;;
	esac
	case $out in
	"ns/op "*) echo "${out#ns/op }" ;;
	*) die "$1 in state $2: the probe printed: $out" ;;
	esac
}

# --- calibration: N per op so that one baseline measurement takes ~TARGET_MS ------------
say "kernel $(uname -r), $ROUNDS rounds, target ${TARGET_MS} ms per measurement"
for op in $OPS; do
	case $op in
	open) n0=5000 ;;
	exec) n0=5 ;;
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
	for op in $OPS; do
		eval "n=\$N_$op"
		for st in $order; do
			ns=$(measure "$op" "$st" "$n") || exit 1
			echo "$op $st $r $ns" >>"$results"
		done
	done
	say "round $((r + 1))/$ROUNDS done (order: $order) at +$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s"
	r=$((r + 1))
done

# --- the table ------------------------------------------------------------------------------
say "raw results (op state round ns/op):"
sed 's/^/bench:   /' "$results"

echo "BENCH-TABLE-START"
echo "Kernel \`$(uname -r)\`; $ROUNDS rounds; N per measurement: open $N_open, exec $N_exec, mprotect $N_mprotect."
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
	slabel["base"] = "baseline: no programs"
	slabel["unbound"] = "attached, caller unbound"
	slabel["wx"] = "bound: builtin/wx"
	slabel["r10"] = "bound: 10 + 10 rules"
	slabel["r1000"] = "bound: 1000 + 1000 rules"
	print "| op | state | median µs/op | min–max µs/op | × baseline: median / median | min / min | median of per-round ratios |"
	print "|---|---|--:|--:|--:|--:|--:|"
	for (o = 1; o <= nops; o++) {
		op = O[o]
		k = 0; for (r in rounds) b[++k] = v[op, "base", r]
		base = median(b, k); bmin = b[1]
		for (s = 1; s <= nst; s++) {
			st = S[s]
			k = 0
			for (r in rounds) { x[++k] = v[op, st, r]; q[k] = v[op, st, r] / v[op, "base", r] }
			m = median(x, k); pm = median(q, k)
			printf "| %s | %s | %s | %s–%s | %.2f | %.2f | %.2f |\n", label[op], slabel[st], us(m), us(x[1]), us(x[k]), m / base, x[1] / bmin, pm
		}
	}
}' "$results"
echo "BENCH-TABLE-END"
