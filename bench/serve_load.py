#!/usr/bin/env python3
"""Open-loop load on forge serve: RATE requests/s for SECONDS, alternating the
given paths, over WORKERS keep-alive connections. Prints per-path and overall
p50/p99/max latency and the error count (anything but a 200 is an error)."""
import http.client
import sys
import threading
import time

host, port = sys.argv[1], int(sys.argv[2])
rate, seconds = float(sys.argv[3]), float(sys.argv[4])
paths = sys.argv[5:]
workers = 16
total = int(rate * seconds)
start = time.monotonic() + 0.2
results = []  # (path, latency_s, ok)
lock = threading.Lock()


def work(offset):
    conn = http.client.HTTPConnection(host, port, timeout=5)
    mine = []
    for i in range(offset, total, workers):
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        path = paths[i % len(paths)]
        # Latency from when the request was due: a late sender counts too.
        sent = max(due, time.monotonic())
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200
        except Exception:
            ok = False
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=5)
        mine.append((path, time.monotonic() - sent, ok))
    with lock:
        results.extend(mine)


threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - start


def line(name, rows):
    lat = sorted(r[1] * 1000 for r in rows)
    if not lat:
        return f"{name}: no requests"
    pick = lambda q: lat[min(len(lat) - 1, int(round((len(lat) - 1) * q)))]
    errors = sum(1 for r in rows if not r[2])
    return f"{name}: {len(rows)} requests, p50 {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms, max {lat[-1]:.2f} ms, {errors} errors"


for p in paths:
    print(line(p, [r for r in results if r[0] == p]))
print(line("all", results) + f" ({len(results) / elapsed:.0f} req/s over {elapsed:.1f} s)")
