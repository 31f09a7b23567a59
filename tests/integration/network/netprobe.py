"""Traffic a hostile guest sends, run inside a test namespace (`ip netns exec NS python ...`).

udp SRC DST PORT                      one datagram from SRC (an address on an interface)
tcp DST PORT                          exit 0 if a TCP connection opens within 2 s, else 1
arp IFACE SRC_MAC SENDER_MAC SENDER_IP TARGET_IP   one raw ARP request, headers as given
listen ADDR PORT                      accept TCP connections forever (killed by the test)
"""

from __future__ import annotations

import socket
import sys


def udp(src: str, dst: str, port: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((src, 0))
        sock.sendto(b"probe\n", (dst, int(port)))
    return 0


def tcp(dst: str, port: str) -> int:
    try:
        with socket.create_connection((dst, int(port)), timeout=2):
            return 0
    except OSError:
        return 1


def arp(iface: str, src_mac: str, sender_mac: str, sender_ip: str, target_ip: str) -> int:
    def mac(text: str) -> bytes:
        return bytes.fromhex(text.replace(":", ""))

    header = b"\x00\x01\x08\x00\x06\x04\x00\x01"  # Ethernet, IPv4, 6, 4, request
    payload = header + mac(sender_mac) + socket.inet_aton(sender_ip)
    payload += b"\x00" * 6 + socket.inet_aton(target_ip)
    frame = b"\xff" * 6 + mac(src_mac) + b"\x08\x06" + payload
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((iface, 0))
        sock.send(frame)
    return 0


def listen(addr: str, port: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr, int(port)))
        sock.listen()
        print("listening", flush=True)
        while True:
            conn, _ = sock.accept()
            conn.close()


if __name__ == "__main__":
    verbs = {"udp": udp, "tcp": tcp, "arp": arp, "listen": listen}
    sys.exit(verbs[sys.argv[1]](*sys.argv[2:]))
