#!/bin/bash
# A paced leaf load through a real mosquitto and `ganglion run` (the bench's
# deployment: leaf -> temp-filter -> $upstream -> the same broker), for profiling
# (BENCHMARKS.md, section 3). Prints the gateway's CPU, bytes written and context
# switches per leaf message, the leaf -> cloud latency, and its peak and current RSS.
#
#   benches/profile/run.sh RATE SECONDS
#
# Environment: BIN (the gateway binary, default target/release/ganglion), ARGS
# (more `ganglion run` options, e.g. --worker-threads 2), PERF (a perf subcommand
# with its options, run on the gateway over the load, e.g.
# "record -F 1999 --call-graph dwarf,16384"), NAGLE=1 (leave mosquitto's
# set_tcp_nodelay at its default, false). Needs mosquitto and python3; build the
# modules first (`cargo xtask bench` or `cargo xtask test` does).
RATE=$1; SECS=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/ganglion}
D=$(mktemp -d /var/tmp/ganglion-profile.XXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NODELAY="set_tcp_nodelay true"; [ -n "$NAGLE" ] && NODELAY=""
printf "user root\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n%s\nlog_type error\nlistener %s 127.0.0.1\nallow_anonymous true\n" "$NODELAY" "$PORT" > "$D/mosquitto.conf"
mosquitto -c "$D/mosquitto.conf" >/dev/null 2>&1 & MP=$!
sleep 0.5
cat > "$D/manifest.toml" <<EOT
[modules.temp-filter]
path = "$ROOT/target/guests/wasm32-wasip2/release/temp_filter.wasm"
config = { threshold = 25 }

[ingest]
url = "mqtt://127.0.0.1:$PORT"
topics = ["leaves/+/telemetry"]
client-id = "profile-ingest"

[routes]
leaves = "FROM /messages/* WHERE is_defined(\$connectionDeviceId) INTO BrokeredEndpoint('/modules/temp-filter/inputs/input1')"
alerts = "FROM /messages/modules/temp-filter/outputs/output1 INTO \$upstream"
EOT
# shellcheck disable=SC2086
GANGLION_LOG=warn "$BIN" run $ARGS --flow-every 0 --device-id profile-gw --manifest "$D/manifest.toml" \
  --data-dir "$D/data" --upstream "mqtt://127.0.0.1:$PORT" 2>"$D/gateway.log" & GP=$!
sleep 3
python3 "$ROOT/benches/profile/load.py" "$PORT" 50 1 2>/dev/null
sleep 1
cpu() { awk '{print $14+$15}' "/proc/$GP/stat"; }
written() { awk '/^write_bytes/{print $2}' "/proc/$GP/io"; }
switches() { awk '/ctxt/{s+=$2} END{print s}' /proc/$GP/task/*/status; }
T0=$(cpu); W0=$(written); C0=$(switches)
if [ -n "$PERF" ]; then
  # shellcheck disable=SC2086
  perf $PERF -p "$GP" -o "$D/perf.data" -- sleep "$SECS" 2>/dev/null & PF=$!
fi
python3 "$ROOT/benches/profile/load.py" "$PORT" "$RATE" "$SECS"
sleep 1.5
T1=$(cpu); W1=$(written); C1=$(switches)
python3 -c "n=int($RATE*$SECS); print('per leaf message: %.1f us CPU, %.0f B written per forwarded one, %.2f context switches' % (($T1-$T0)*1e6/$(getconf CLK_TCK)/n, ($W1-$W0)/(n/2), ($C1-$C0)/n))"
awk '/^VmHWM|^VmRSS/{printf "%s %.1f MB  ", $1, $2*1024/1e6} END{print ""}' "/proc/$GP/status"
[ -n "$PERF" ] && wait "$PF" && echo "perf data: $D/perf.data"
kill "$GP"; wait "$GP" 2>/dev/null; kill "$MP"
