"""The few MQTT packets the profiling scripts need, on a plain socket (no
client library to install): CONNECT (3.1.1, or 5 with properties), SUBSCRIBE,
QoS 1 PUBLISH and PUBACK, and a reader that splits what arrives into packets."""
import socket
import struct
import time


def varint(n):
    """An MQTT variable byte integer (a remaining length)."""
    out = b""
    while True:
        digit, n = n % 128, n // 128
        out += bytes([digit | (0x80 if n else 0)])
        if not n:
            return out


def string(b):
    """A length-prefixed MQTT string."""
    return struct.pack(">H", len(b)) + b


def packet(header, body):
    return bytes([header]) + varint(len(body)) + body


def connect(port, name, properties=None):
    """A connected session on 127.0.0.1:PORT: MQTT 3.1.1 with a clean session,
    or, given `properties` (encoded), MQTT 5 keeping its session."""
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_id = string(b"%s-%d" % (name, time.time_ns()))
    if properties is None:
        body = string(b"MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60) + client_id
    else:
        body = (string(b"MQTT") + bytes([5, 0x00]) + struct.pack(">H", 60)
                + varint(len(properties)) + properties + client_id)
    c.sendall(packet(0x10, body))
    next(packets(c))  # CONNACK
    return c


def subscribe(c, topic, qos, v5=False):
    options = bytes([0]) if v5 else b""
    c.sendall(packet(0x82, struct.pack(">H", 1) + options + string(topic) + bytes([qos])))


def publish(c, topic, pid, payload):
    """A QoS 1 PUBLISH (MQTT 3.1.1 layout)."""
    c.sendall(packet(0x32, string(topic) + struct.pack(">H", pid) + payload))


def puback(pid):
    return packet(0x40, struct.pack(">H", pid))


def packets(c):
    """Yields (first byte, body) for each packet read from `c`."""
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            return
        buf += d
        while len(buf) >= 2:
            n, mult, i, whole = 0, 1, 1, False
            while i < len(buf):
                b = buf[i]
                n += (b & 127) * mult
                mult *= 128
                i += 1
                if not b & 128:
                    whole = True
                    break
            if not whole or len(buf) < i + n:
                break
            yield buf[0], buf[i:i + n]
            buf = buf[i + n:]
