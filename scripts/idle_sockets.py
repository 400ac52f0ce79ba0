#!/usr/bin/env python3
"""Opens N idle sockets to the API (half of them sending half a request
head), and prints the server's resident memory before, while they are open,
and after the header timeout closed them; then whether a real request is
answered while they are open.   idle_sockets.py PORT PID N HEADER_TIMEOUT"""
import resource
import socket
import sys
import time


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    port, pid, n, timeout = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 100)), hard))
    before = rss_mb(pid)
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    time.sleep(0.5)
    for i, s in enumerate(socks):
        if i % 2 == 0:
            try:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n")
            except OSError:
                pass
    time.sleep(1.0)
    peak = rss_mb(pid)
    # A real request while they are open: answered once the header timeout
    # has freed connection slots, at the latest.
    t0 = time.monotonic()
    answered = "no answer"
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=timeout * 3 + 5)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = c.recv(64)
        answered = data.split(b"\r\n")[0].decode(errors="replace")
        c.close()
    except OSError as e:
        answered = f"error: {e}"
    waited = time.monotonic() - t0
    time.sleep(timeout + 2)
    after = rss_mb(pid)
    for s in socks:
        s.close()
    time.sleep(1.0)
    closed = rss_mb(pid)
    print(f"{n} idle sockets (half with half a request head): RSS {before:.0f} MB before, "
          f"{peak:.0f} MB with them open, {after:.0f} MB after the {timeout:.0f} s header timeout, "
          f"{closed:.0f} MB once closed; a request meanwhile: {answered!r} in {waited:.1f} s")


if __name__ == "__main__":
    main()
