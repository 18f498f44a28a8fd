"""Load test of `pix2pix serve`: requests per second and latency percentiles (p50, p99) with a
number of concurrent clients, each posting the same image to /api/translate as fast as it is
answered. The server is started here, once per set of server flags, on a free loopback port.

usage (from the repository root, after `cargo build --release`):
    python3 scripts/bench/serve_load.py [--binary B] [--size 256] [--clients 1,4,16]
        [--requests 8] [--query eval=true] -- SERVE_FLAGS [--- MORE_SERVE_FLAGS ...]
e.g.  python3 scripts/bench/serve_load.py --query eval=true -- --name u256 --max-batch 1 --- --name u256
Each `---`-separated group of server flags is measured in turn (e.g. without and with batching).
Standard library only.
"""

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def png(size):
    """An RGB PNG of size x size with a gradient pattern."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(size) for v in ((x * 7) % 256, (y * 5) % 256, (x + y) % 256))
        for y in range(size)
    )

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def start(binary, flags):
    proc = subprocess.Popen([binary, "serve", "--port", "0", *flags], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        sys.exit(f"the server did not start: {line!r}")
    return proc, "http://" + line.split("http://")[1].split("/")[0]


def post(url, body):
    started = time.perf_counter()
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=600) as response:
        response.read()
        status = response.status
    return status, time.perf_counter() - started


def measure(url, body, clients, requests):
    latencies, failures = [], []
    lock = threading.Lock()

    def client():
        for _ in range(requests):
            try:
                status, seconds = post(url, body)
            except Exception as error:  # 503 and the like: counted, not timed
                with lock:
                    failures.append(str(error))
                continue
            with lock:
                latencies.append(seconds)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "failed": len(failures),
        "per_second": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": pick(0.99),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "pix2pix"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--requests", type=int, default=8, help="requests per client")
    parser.add_argument("--query", default="", help="extra query parameters, e.g. eval=true")
    parser.add_argument("flags", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    flags = args.flags[1:] if args.flags[:1] == ["--"] else args.flags
    groups, group = [], []
    for flag in flags:
        if flag == "---":
            groups.append(group)
            group = []
        else:
            group.append(flag)
    groups.append(group)
    body = png(args.size)
    print(f"| server flags | clients | requests | requests/s | p50 ms | p99 ms | failed |")
    print("|---|---|---|---|---|---|---|")
    for group in groups:
        proc, base = start(args.binary, group)
        try:
            models = json.load(urllib.request.urlopen(base + "/api/models"))
            query = f"model={models[0]['name']}" + (f"&{args.query}" if args.query else "")
            url = f"{base}/api/translate?{query}"
            for _ in range(2):  # warm-up: loads the generator
                post(url, body)
            for clients in (int(c) for c in args.clients.split(",")):
                row = measure(url, body, clients, args.requests)
                print(
                    f"| `{' '.join(group)}` | {clients} | {row['requests']} | {row['per_second']:.2f} | "
                    f"{row['p50_ms']:.0f} | {row['p99_ms']:.0f} | {row['failed']} |",
                    flush=True,
                )
            health = json.load(urllib.request.urlopen(base + "/healthz"))
            print(f"|   | (requests run in batches: {health['batched']}) | | | | | |", flush=True)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
