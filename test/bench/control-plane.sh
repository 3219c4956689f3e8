#!/bin/sh
# Control-plane costs of the kernel side, inside krsi's VM (make bench):
# binding and unbinding a cgroup with 10,000 bound, and writing profiles of
# 10 and 10,000 rules. Run by test/vm/run.sh --cmd; output is go test -bench.
set -e
cd /tmp
/tests/enforcement.test -test.run '^$' -test.bench 'BindUnbind' -test.benchtime 10000x
/tests/enforcement.test -test.run '^$' -test.bench 'SetProfile' -test.benchtime 20x
