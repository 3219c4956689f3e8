#!/bin/sh
# kubectl for the test node (first on k8s.sh's PATH, so the page's commands get
# it too): the real kubectl, run again when it could not reach the API server.
#
# Why: the API server here runs on an emulated CPU; on a busy machine it now and
# then misses kubectl's fixed 10 s TLS handshake ("Unable to connect to the
# server: net/http: TLS handshake timeout") and one such miss failed a whole
# run. A request that could not connect was never sent, so running it again is
# what a person at the terminal would do and changes nothing the test checks.
# Any other failure is returned as it is, at once.
#
# stdout streams through (kubectl logs -f, krsi events --follow work); stderr
# is held until the try ends so a retried failure is not shown; `-f -` input is
# kept for the next try. Retries are logged to /var/log/kubectl-retries.log,
# which k8s.sh reports.
real=${KUBECTL_REAL:-/usr/local/bin/kubectl}
tries=5
err=$(mktemp)
in=
prev=
for a in "$@"; do
	case "$prev $a" in
	"-f -" | "--filename -" | *" --filename=-")
		in=$(mktemp)
		cat >"$in"
		;;
	esac
	prev=$a
done
child=
# Ended (doc_follow's SIGTERM): end kubectl, then show what it said on stderr
# (`krsi events` says there what it follows).
trap '[ -n "$child" ] && kill "$child" 2>/dev/null && wait "$child"; cat "$err" >&2; rm -f "$err" ${in:+"$in"}; exit 143' TERM INT
# A background job's stdin is /dev/null unless redirected: keep the caller's.
exec 3<&0
n=1
while :; do
	if [ -n "$in" ]; then
		"$real" "$@" <"$in" 2>"$err" &
	else
		"$real" "$@" <&3 2>"$err" &
	fi
	child=$!
	wait "$child"
	rc=$?
	child=
	if [ "$rc" -ne 0 ] && [ "$n" -lt "$tries" ] && grep -q "Unable to connect to the server" "$err"; then
		echo "$(date +%T) try $n of kubectl $*: $(tail -n 1 "$err")" >>/var/log/kubectl-retries.log
		n=$((n + 1))
		sleep 5
		continue
	fi
	cat "$err" >&2
	rm -f "$err" ${in:+"$in"}
	exit "$rc"
done
