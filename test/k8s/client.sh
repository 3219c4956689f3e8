#!/bin/sh
# kubectl and helm for the test node (installed as both in /k8s/bin, first on
# k8s.sh's PATH, so the page's commands get them too): the real one, run again
# when its request never reached the API server.
#
# Why: the API server here runs on an emulated CPU; on a busy machine it now and
# then misses client-go's fixed 10 s TLS handshake ("Unable to connect to the
# server: net/http: TLS handshake timeout" from kubectl; "cluster reachability
# check failed" from helm, which checks before it does anything), and one such
# miss failed a whole run. A request that could not connect was never sent, so
# running it again is what a person at the terminal would do and changes
# nothing the test checks. Any other failure is returned as it is, at once.
#
# stdout streams through (kubectl logs -f, krsi events --follow work); stderr
# is held until the try ends so a retried failure is not shown; `-f -` input is
# kept for the next try. Retries are logged to /var/log/kubectl-retries.log,
# which k8s.sh reports.
name=${0##*/}
case $name in
helm)
	real=${HELM_REAL:-/usr/local/bin/helm}
	never_sent='cluster reachability check failed'
	;;
*)
	real=${KUBECTL_REAL:-/usr/local/bin/kubectl}
	never_sent='Unable to connect to the server'
	;;
esac
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
	if [ "$rc" -ne 0 ] && [ "$n" -lt "$tries" ] && grep -q "$never_sent" "$err"; then
		echo "$(date +%T) try $n of $name $*: $(tail -n 1 "$err")" >>/var/log/kubectl-retries.log
		n=$((n + 1))
		sleep 5
		continue
	fi
	cat "$err" >&2
	rm -f "$err" ${in:+"$in"}
	exit "$rc"
done
