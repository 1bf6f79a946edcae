#!/bin/sh
# The moto server of compose.yaml (DynamoDB, S3 and Cognito), with state that outlives the
# container. moto keeps everything in memory; with MOTO_ENABLE_RECORDING it appends each request
# it receives to MOTO_RECORDER_FILEPATH (on a named volume), and this script replays that file
# when the server starts. A new recording starts with a seed request, and a replay sends every
# recorded request again in order (moto draws its "random" ids from the seeded generator, and
# every AWS request, reads included, takes from it), so user pools, app clients, users' sub and
# object versions come back with the same ids.
#
# The file grows with every AWS request, readiness probes included: compose.yaml probes the api
# every 5 minutes once it is healthy. Only moto's own status page requests (the healthcheck) are
# dropped before a replay. `docker compose down --volumes` (make down VOLUMES=1) starts afresh.
set -eu

port="${MOTO_PORT:-5000}"
recording="${MOTO_RECORDER_FILEPATH:?MOTO_RECORDER_FILEPATH is not set}"
ready="${MOTO_READY_FILE:-/tmp/moto-ready}"
base="http://127.0.0.1:$port"

rm -f "$ready"
mkdir -p "$(dirname "$recording")"

# Decided before the server starts: its own start-up requests are recorded too.
replay=false
if [ -s "$recording" ]; then
    python3 - "$recording" <<'PY'
import json
import os
import sys
from urllib.parse import urlsplit

path = sys.argv[1]
kept = []
with open(path, encoding="utf-8") as handle:
    for line in handle:
        if not line.strip():
            continue
        entry = json.loads(line)
        status_page = urlsplit(entry.get("url", "")).path.startswith("/moto-api/")
        if status_page and entry.get("method") == "GET":
            continue  # moto's own status page: takes no id, changes nothing
        kept.append(line if line.endswith("\n") else line + "\n")
with open(path + ".tmp", "w", encoding="utf-8") as handle:
    handle.writelines(kept)
os.replace(path + ".tmp", path)
PY
    if [ -s "$recording" ]; then
        replay=true
    fi
fi

moto_server -H 0.0.0.0 -p "$port" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server"; exit 0' TERM INT

until curl -fs -o /dev/null "$base/moto-api/"; do
    kill -0 "$server" 2>/dev/null || exit 1
    sleep 0.2
done

if [ "$replay" = true ]; then
    echo "moto: replaying $(wc -l < "$recording") recorded requests"
    curl -fsS -o /dev/null -X POST "$base/moto-api/recorder/replay-recording"
else
    curl -fsS -o /dev/null -X POST "$base/moto-api/seed?a=${MOTO_SEED:-42}"
fi

touch "$ready"
echo "moto: ready on port $port"
wait "$server"
