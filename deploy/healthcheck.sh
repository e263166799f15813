#!/bin/sh
# The image's HEALTHCHECK: the stage's /healthz on the port of BW_HTTP_LISTEN.
port=${BW_HTTP_LISTEN##*:}
exec curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${port:-9100}/healthz"
