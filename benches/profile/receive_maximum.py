#!/usr/bin/env python3
"""Does the broker keep to the receive maximum a subscriber asks for while its
acknowledgements flow? An MQTT 5 subscriber (receive maximum RM) acknowledges each
QoS 1 message DELAY seconds after it arrives, in order; a publisher sends 20,000.
Prints the most messages the broker had sent and not had acknowledged.

    receive_maximum.py PORT RM DELAY

mosquitto 2.0.11 on the development machine: RM 256, DELAY 0.01 -> 781 to 2,095
(BENCHMARKS.md, section 3). With no acknowledgements at all it keeps to RM."""
import collections
import struct
import sys
import threading
import time

from mqtt import connect, packets, puback, publish, subscribe

port, receive_maximum, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
# Session expiry (never), receive maximum.
properties = (bytes([0x11]) + struct.pack(">I", 0xFFFFFFFF)
              + bytes([0x21]) + struct.pack(">H", receive_maximum))
sub = connect(port, b"receive-maximum", properties)
subscribe(sub, b"t/x", 1, v5=True)
unacked = collections.deque()
stats = {"received": 0, "acked": 0, "most": 0}
lock = threading.Lock()


def receiving():
    for header, body in packets(sub):
        if header >> 4 != 3:
            continue
        length = struct.unpack(">H", body[:2])[0]
        pid = struct.unpack(">H", body[2 + length:4 + length])[0]
        with lock:
            unacked.append((time.monotonic(), pid))
            stats["received"] += 1
            stats["most"] = max(stats["most"], stats["received"] - stats["acked"])


def acknowledging():
    while True:
        out = b""
        with lock:
            now = time.monotonic()
            while unacked and now - unacked[0][0] >= delay:
                out += puback(unacked.popleft()[1])
                stats["acked"] += 1
        if out:
            sub.sendall(out)
        time.sleep(0.002)


pub = connect(port, b"receive-maximum-pub")


def draining():
    for _ in packets(pub):
        pass


for work in (receiving, acknowledging, draining):
    threading.Thread(target=work, daemon=True).start()
time.sleep(0.2)
for i in range(20000):
    publish(pub, b"t/x", i % 65535 + 1, b"x" * 130)
time.sleep(3)
print("receive maximum", receive_maximum, "acknowledged after", delay, "s -> received",
      stats["received"], "acknowledged", stats["acked"], "most unacknowledged", stats["most"])
