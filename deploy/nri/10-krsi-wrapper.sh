#!/bin/sh
# Optional: install as /opt/nri/plugins/10-krsi (mode 0755) INSTEAD of the
# krsi binary itself, with the binary at /usr/local/bin/krsi.
#
# Why: the runtime starts a pre-registered plugin with its stdout and stderr
# on /dev/null, so krsi's log (its decisions, refusals and violation events)
# would be lost. This wrapper keeps the runtime's connection (file descriptor
# 3, NRI_PLUGIN_SOCKET and friends are inherited through exec) and sends the
# log to a file. Rotate it with copytruncate (krsi keeps the file open).
exec /usr/local/bin/krsi plugin --log-format json >>/var/log/krsi.log 2>&1
