#!/usr/bin/env bash
# The commands of docs/install.md's "Kubernetes quick start", for the
# Kubernetes end-to-end test to run as they are written:
#
#   test/k8s/docs.sh docs/install.md OUTDIR
#
# Every fenced block of that section must follow a marker line
#
#   <!-- test/k8s: NAME -->
#
# A `sh` block becomes OUTDIR/NAME.sh (test/k8s/k8s.sh runs it, from a copy of
# the repository's layout, where its scenario says); any other block is a file
# the commands use, written as OUTDIR/NAME (e.g. `my-values.yaml`). A block
# with no marker fails here with its line number, so the page cannot gain a
# command the test does not run. A command line ending in the comment
# `# follows; Ctrl-C ends it` runs as `doc_follow COMMAND` (k8s.sh: it must
# still be following after a while, then it is interrupted).
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 INSTALL_MD OUTDIR" >&2; exit 2; }
md=$1 out=$2
mkdir -p "$out"
awk -v out="$out" -v md="$md" '
function fail(msg) { printf "%s:%d: %s\n", md, NR, msg > "/dev/stderr"; bad = 1; exit 1 }
/^## / { insec = ($0 == "## Kubernetes quick start"); if (insec) seen = 1; next }
!insec { next }
/^<!-- test\/k8s: [A-Za-z0-9._-]+ -->$/ {
	if (name != "") fail("marker " name " is not followed by a fenced block")
	name = $3; next
}
/^```/ && !inblock {
	if (name == "") fail("a fenced block of the Kubernetes quick start without a <!-- test/k8s: NAME --> marker: the test must run it")
	lang = substr($0, 4)
	file = out "/" name (lang == "sh" ? ".sh" : "")
	if (file in written) fail("two blocks named " name)
	written[file] = 1
	printf "" > file
	inblock = 1; n++; next
}
/^```$/ && inblock { close(file); inblock = 0; name = ""; next }
inblock {
	line = $0
	if (lang == "sh" && sub(/[ \t]*# follows; Ctrl-C ends it$/, "", line)) line = "doc_follow " line
	print line > file
	next
}
END {
	if (bad) exit 1
	if (!seen) { printf "%s: no \"## Kubernetes quick start\" section\n", md > "/dev/stderr"; exit 1 }
	if (inblock) { printf "%s: a block of the Kubernetes quick start is not closed\n", md > "/dev/stderr"; exit 1 }
	printf "docs: %d blocks of %s\n", n, md > "/dev/stderr"
}' "$md"
