#!/usr/bin/env python3
"""A paced leaf load for benches/profile/run.sh: a QoS 1 publisher of
SimulatedTemperatureSensor readings (half of them above 25) and a subscriber on
the gateway's telemetry topic, which times each forwarded reading.

    load.py PORT RATE SECONDS [TOPIC]"""
import struct
import sys
import threading
import time

from mqtt import connect, packets, publish, subscribe

port, rate, secs = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
cloud_topic = sys.argv[4].encode() if len(sys.argv) > 4 else b"ganglion/profile-gw/messages/events"
sent, latencies, last = {}, [], [0.0]

sub = connect(port, b"sub")
subscribe(sub, cloud_topic, 0)


def timing():
    for header, body in packets(sub):
        if header >> 4 != 3:
            continue
        length = struct.unpack(">H", body[:2])[0]
        payload = body[2 + length:] if header & 6 == 0 else body[4 + length:]
        try:
            seq = int(payload.split(b'"pressure":')[1].split(b"}")[0])
        except (IndexError, ValueError):
            continue
        latencies.append(time.monotonic() - sent[seq])
        last[0] = time.monotonic()


pub = connect(port, b"load")
acked = [0]


def counting():
    for _ in packets(pub):
        acked[0] += 1


threading.Thread(target=timing, daemon=True).start()
threading.Thread(target=counting, daemon=True).start()
time.sleep(0.2)
n = int(rate * secs)
start = time.monotonic()
for i in range(n):
    due = start + i / rate
    ahead = due - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
    body = ('{"machine":{"temperature":%s,"pressure":%d},"ambient":{"temperature":21.0,'
            '"humidity":25},"timeCreated":"2026-11-27T00:00:00.000Z"}'
            % ("26.5" if i % 2 == 0 else "23.5", i)).encode()
    sent[i] = time.monotonic()
    publish(pub, b"leaves/leaf-1/telemetry", i % 65535 + 1, body)
time.sleep(1.0)
while time.monotonic() - last[0] < 1.0:
    time.sleep(0.2)
latencies.sort()


def quantile(q):
    return latencies[int(q * (len(latencies) - 1))] * 1000 if latencies else float("nan")


took = last[0] - start
print("sent %d acked %d received %d p50 %.3f ms p99 %.3f ms; all in %.2f s = %.0f msg/s"
      % (n, acked[0], len(latencies), quantile(0.5), quantile(0.99), took, n / took), file=sys.stderr)
