#!/usr/bin/env python3
"""Minimal MQTT 3.1.1 paced publisher (QoS1) + subscriber (QoS0) on the cloud topic:
load.py PORT RATE SECONDS [SUBTOPIC]"""
import socket, struct, sys, time, threading
port, rate, secs = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
subtopic = sys.argv[4].encode() if len(sys.argv) > 4 else b"ganglion/profile-gw/messages/events"
def enc_len(n):
    out = b""
    while True:
        d = n % 128; n //= 128
        if n: d |= 0x80
        out += bytes([d])
        if not n: return out
def s(b): return struct.pack(">H", len(b)) + b
def connect(name):
    c = socket.create_connection(("127.0.0.1", port)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    var = s(b"MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60) + s(b"%s-%d" % (name, time.time_ns()))
    c.sendall(bytes([0x10]) + enc_len(len(var)) + var); c.recv(4)
    return c
def packets(c):
    buf = b""
    while True:
        d = c.recv(65536)
        if not d: return
        buf += d
        while len(buf) >= 2:
            n, mult, i = 0, 1, 1
            while True:
                if i >= len(buf): break
                b = buf[i]; n += (b & 127) * mult; mult *= 128; i += 1
                if not b & 128: break
            else: pass
            if i >= len(buf) and n > 0 or len(buf) < i + n: break
            yield buf[0], buf[i:i+n]; buf = buf[i+n:]
sent = {}
lat = []
last = [0]
sub = connect(b"sub")
var = struct.pack(">H", 1) + s(subtopic) + bytes([0])
sub.sendall(bytes([0x82]) + enc_len(len(var)) + var)
def sub_reader():
    for h, body in packets(sub):
        if h >> 4 == 3:
            tl = struct.unpack(">H", body[:2])[0]; payload = body[2+tl:] if h & 6 == 0 else body[4+tl:]
            try:
                seq = int(payload.split(b'"pressure":')[1].split(b"}")[0])
                lat.append(time.monotonic() - sent[seq]); last[0] = time.monotonic()
            except Exception: pass
threading.Thread(target=sub_reader, daemon=True).start()
pub = connect(b"load")
acks = [0]
def pub_reader():
    for h, body in packets(pub): acks[0] += 1
threading.Thread(target=pub_reader, daemon=True).start()
time.sleep(0.2)
topic = b"leaves/leaf-1/telemetry"
n = int(rate * secs); start = time.monotonic(); pid = 0
for i in range(n):
    due = start + i / rate
    now = time.monotonic()
    if due > now: time.sleep(due - now)
    pid = pid % 65535 + 1
    body = ('{"machine":{"temperature":%s,"pressure":%d},"ambient":{"temperature":21.0,"humidity":25},"timeCreated":"2026-11-27T00:00:00.000Z"}' % ("26.5" if i % 2 == 0 else "23.5", i)).encode()
    sent[i] = time.monotonic()
    var = s(topic) + struct.pack(">H", pid) + body
    pub.sendall(bytes([0x32]) + enc_len(len(var)) + var)
time.sleep(1.0)
while time.monotonic() - last[0] < 1.0: time.sleep(0.2)
lat.sort()
p = lambda q: lat[int(q * (len(lat) - 1))] * 1000 if lat else float("nan")
print("sent %d acked %d received %d p50 %.3f ms p99 %.3f ms; all in %.2f s = %.0f msg/s" % (n, acks[0], len(lat), p(0.5), p(0.99), last[0]-start, n/(last[0]-start)), file=sys.stderr)
