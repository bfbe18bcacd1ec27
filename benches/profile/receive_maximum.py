#!/usr/bin/env python3
"""Does the broker keep to the receive maximum a subscriber asks for while its
acknowledgements flow? An MQTT 5 subscriber (receive maximum RM) acknowledges each
QoS 1 message DELAY seconds after it arrives, in order; a publisher sends 20,000.
Prints the most messages the broker had sent and not had acknowledged.

    receive_maximum.py PORT RM DELAY

mosquitto 2.0.11 on the development machine: RM 256, DELAY 0.01 -> 781 to 2,095
(BENCHMARKS.md, section 3). With no acknowledgements at all it keeps to RM."""
port = int(sys.argv[1]); rm = int(sys.argv[2]); delay = float(sys.argv[3])
def enc_len(n):
    out = b""
    while True:
        d = n % 128; n //= 128
        if n: d |= 0x80
        out += bytes([d])
        if not n: return out
def s(b): return struct.pack(">H", len(b)) + b
c = socket.create_connection(("127.0.0.1", port)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
props = bytes([0x11]) + struct.pack(">I", 0xffffffff) + bytes([0x21]) + struct.pack(">H", rm)
var = s(b"MQTT") + bytes([5, 0x00]) + struct.pack(">H", 60) + enc_len(len(props)) + props + s(b"rm4-%d" % time.time_ns())
c.sendall(bytes([0x10]) + enc_len(len(var)) + var); time.sleep(0.2); c.recv(100)
var = struct.pack(">H", 1) + bytes([0]) + s(b"t/x") + bytes([1])
c.sendall(bytes([0x82]) + enc_len(len(var)) + var); time.sleep(0.2); c.recv(100)
pend = collections.deque(); stats = {"rx": 0, "ack": 0, "max": 0}
lock = threading.Lock()
def reader():
    buf = b""
    while True:
        d = c.recv(65536)
        if not d: return
        buf += d
        while len(buf) >= 2:
            n, mult, i = 0, 1, 1
            ok = False
            while i < len(buf):
                b = buf[i]; n += (b & 127) * mult; mult *= 128; i += 1
                if not b & 128: ok = True; break
            if not ok or len(buf) < i + n: break
            h, body = buf[0], buf[i:i+n]; buf = buf[i+n:]
            if h >> 4 == 3:
                tl = struct.unpack(">H", body[:2])[0]; pid = struct.unpack(">H", body[2+tl:4+tl])[0]
                with lock:
                    pend.append((time.monotonic(), pid)); stats["rx"] += 1
                    stats["max"] = max(stats["max"], stats["rx"] - stats["ack"])
def acker():
    while True:
        with lock:
            now = time.monotonic(); out = b""
            while pend and now - pend[0][0] >= delay:
                _, pid = pend.popleft(); out += bytes([0x40, 2]) + struct.pack(">H", pid); stats["ack"] += 1
        if out: c.sendall(out)
        time.sleep(0.002)
threading.Thread(target=reader, daemon=True).start(); threading.Thread(target=acker, daemon=True).start()
p = socket.create_connection(("127.0.0.1", port))
var = s(b"MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60) + s(b"rm4pub")
p.sendall(bytes([0x10]) + enc_len(len(var)) + var); p.recv(4)
def drain():
    while p.recv(65536): pass
threading.Thread(target=drain, daemon=True).start()
for i in range(20000):
    var = s(b"t/x") + struct.pack(">H", (i % 65535) + 1) + b"x" * 130
    p.sendall(bytes([0x32]) + enc_len(len(var)) + var)
time.sleep(3)
print("receive-max", rm, "ack delay", delay, "-> received", stats["rx"], "acked", stats["ack"], "max unacked", stats["max"])
