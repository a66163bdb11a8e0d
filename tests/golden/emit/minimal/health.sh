#!/bin/sh
# Managed by berth (role services): checks /healthz on every instance of notes
# and restarts the ones that do not answer.
status=0
for port in 3000; do
	if ! curl --silent --fail --max-time 5 --output /dev/null "http://127.0.0.1:${port}/healthz"; then
		echo "tova-notes@${port}: health check failed, restarting" >&2
		systemctl restart "tova-notes@${port}.service" || status=1
	fi
done
exit "$status"
