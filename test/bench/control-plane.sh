#!/bin/sh
# Control-plane costs of the kernel side, inside krsi's VM (make bench):
# binding and unbinding a cgroup with 10,000 bound, writing profiles of
# 10 and 10,000 rules, and the maps' kernel memory at 1,000 bound containers
# and 100 profiles. Run by test/vm/run.sh --cmd; output is go test's.
set -e
cd /tmp
/tests/enforcement.test -test.run '^$' -test.bench 'BindUnbind' -test.benchtime 10000x
/tests/enforcement.test -test.run '^$' -test.bench 'SetProfile' -test.benchtime 20x
/tests/enforcement.test -test.run '^TestMapMemoryPerContainerAndRule$' -test.v
