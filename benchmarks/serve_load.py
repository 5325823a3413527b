#!/usr/bin/env python3
"""Load on `mnist serve`: throughput, latency, errors and memory, on loopback only.

    python benchmarks/serve_load.py                       # Markdown on stdout
    python benchmarks/serve_load.py --out benchmarks/results/serve.md

Starts `mnist serve --port 0` (the shipped model) as its own process and measures:

- start-up: seconds from starting the command to the first answer of /healthz (best and
  worst of a few starts);
- load: CLIENTS concurrent keep-alive clients post PNGs of one digit, 28x28 to 600x600
  (the mix below), for SECONDS; requests per second, latency as the server measures it
  (its Server-Timing header) and as the clients see it, errors (any status but 200);
- memory: the server's resident memory after a warm-up and again once 10,000 more
  requests have been answered.

Everything runs on this machine (the load generator shares its cores with the server) and
stops by itself: each phase is bounded in time. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TARGETS = {"rps": 400, "p50_ms": 5.0, "p99_ms": 50.0, "errors": 0, "rss_growth_mb": 20.0,
           "healthz_s": 1.5}
# side in pixels -> share of requests: mostly what clients send most (28x28 MNIST-style
# images from scripts, the page's 280x280 canvas), some small scans, a few large photos
MIX = {28: 0.35, 56: 0.15, 112: 0.15, 280: 0.25, 600: 0.10}
MEMORY_REQUESTS = 10_000
MEMORY_PHASE_LIMIT = 180.0  # seconds: the memory phase stops here even if short of 10,000
DIGIT = REPO / "fixtures" / "images" / "3_black_on_white.png"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_images() -> list[tuple[int, bytes]]:
    """PNGs of a fixture digit at each size of the mix, dark ink on white (side, bytes),
    repeated in proportion to the mix (100 entries)."""
    from PIL import Image

    with Image.open(DIGIT) as source:
        digit = source.convert("L")
    pngs = {}
    for side in MIX:
        image = digit.resize((side, side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        pngs[side] = buffer.getvalue()
    deck = []
    for side, share in MIX.items():
        deck += [(side, pngs[side])] * round(share * 100)
    random.Random(0).shuffle(deck)  # every stretch of requests has the whole mix
    return deck


def pipeline_cpu_ms(deck) -> dict[int, float]:
    """CPU milliseconds per image of the prediction pipeline alone (predict_sources in
    this process, no HTTP), for each size of the mix: what a request costs at least."""
    from mnistcli.calibration import load_run_predictor
    from mnistcli.predicting import NamedImage, predict_sources
    from mnistcli.runs import shipped_model

    predictor = load_run_predictor(shipped_model())
    costs = {}
    for side in MIX:
        data = next(body for size, body in deck if size == side)
        list(predict_sources([NamedImage("warm-up", data)], predictor))
        repeats = max(5, 2000 // side)
        started = time.process_time()
        for _ in range(repeats):
            list(predict_sources([NamedImage("x", data)], predictor))
        costs[side] = (time.process_time() - started) / repeats * 1000
    return costs


def start_server(extra: list[str] | None = None) -> tuple[subprocess.Popen, str, float]:
    """`mnist serve` on a free loopback port: (process, URL, seconds to /healthz)."""
    env = {**os.environ, "NO_COLOR": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "mnistcli", "serve", "--port", "0", "--host", "127.0.0.1",
         "--no-access-log", "--quiet", *(extra or [])],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, cwd=REPO)
    url = process.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        process.kill()
        raise SystemExit(f"mnist serve did not start (printed {url!r})")
    while True:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=1) as response:
                response.read()
            return process, url, time.monotonic() - started
        except OSError:
            if time.monotonic() - started > 30:
                process.kill()
                raise SystemExit("mnist serve did not answer /healthz within 30 s") from None
            time.sleep(0.002)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server and its workers so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += cpu_seconds(int(child))
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of the server: the process and its workers (--workers)."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) / 1024
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += rss_mb(int(child))
    return total


class Load:
    """CLIENTS threads, each a keep-alive connection posting images of the deck in turn,
    until ``stop`` is set or ``limit`` requests have been sent in all."""

    def __init__(self, url: str, deck, clients: int):
        match = re.match(r"http://([^:/]+):(\d+)/", url)
        self.host, self.port = match.group(1), int(match.group(2))
        self.deck = deck
        self.clients = clients
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.count = 0
            self.errors = 0
            self.server_ms: list[float] = []
            self.client_ms: list[float] = []
            self.by_side: dict[int, list[float]] = {side: [] for side in MIX}

    def run(self, seconds: float, limit: int | None = None) -> float:
        stop = threading.Event()
        threads = [threading.Thread(target=self._client, args=(index, stop, limit))
                   for index in range(self.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        stop.wait(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started

    def _client(self, index: int, stop: threading.Event, limit: int | None) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        position = index * 7
        while not stop.is_set():
            side, body = self.deck[position % len(self.deck)]
            position += 1
            began = time.perf_counter()
            try:
                connection.request("POST", "/api/predict", body=body,
                                   headers={"Content-Type": "image/png"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
                timing = response.getheader("server-timing") or ""
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
                ok, timing = False, ""
            took = (time.perf_counter() - began) * 1000
            server = re.search(r"dur=([\d.]+)", timing)
            with self.lock:
                self.count += 1
                if not ok:
                    self.errors += 1
                else:
                    self.client_ms.append(took)
                    if server:
                        self.server_ms.append(float(server.group(1)))
                        self.by_side[side].append(float(server.group(1)))
                if limit is not None and self.count >= limit:
                    stop.set()
        connection.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load phase length")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--starts", type=int, default=3, help="cold starts to time")
    parser.add_argument("--workers", type=int, default=1, help="mnist serve --workers N")
    parser.add_argument("--out", type=Path, help="write the Markdown here (else stdout)")
    args = parser.parse_args(argv)

    # a SIGTERM (timeout, a CI limit) still stops the server this script started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    deck = make_images()
    pipeline = pipeline_cpu_ms(deck)
    mix_cpu = sum(MIX[side] * cost for side, cost in pipeline.items())
    log("pipeline CPU per image: " + ", ".join(f"{side}px {cost:.2f} ms"
                                              for side, cost in pipeline.items()))
    starts = []
    for _ in range(args.starts):
        process, _, seconds = start_server()
        starts.append(seconds)
        process.terminate()
        process.wait(timeout=10)
    log(f"start-up to /healthz: {', '.join(f'{s:.2f}' for s in starts)} s")

    process, url, _ = start_server(["--workers", str(args.workers)])
    try:
        load = Load(url, deck, args.clients)
        load.run(30, limit=300)  # warm-up: threads, allocator, LiteRT's buffers
        load.reset()
        log(f"load: {args.clients} clients for {args.seconds:.0f} s")
        cpu_before = cpu_seconds(process.pid)
        elapsed = load.run(args.seconds)
        cpu_per_request = (cpu_seconds(process.pid) - cpu_before) / max(load.count, 1)
        rps = load.count / elapsed
        result = {
            "requests": load.count, "rps": rps, "errors": load.errors,
            "p50_ms": percentile(load.server_ms, 50), "p99_ms": percentile(load.server_ms, 99),
            "client_p50_ms": percentile(load.client_ms, 50),
            "client_p99_ms": percentile(load.client_ms, 99),
            "by_side": {side: (percentile(v, 50), percentile(v, 99), len(v))
                        for side, v in load.by_side.items()},
        }
        log(f"{rps:.0f} requests/s, server p50 {result['p50_ms']:.2f} ms, "
            f"p99 {result['p99_ms']:.2f} ms, {load.errors} errors")

        log(f"memory: {MEMORY_REQUESTS:,} more requests")
        before = rss_mb(process.pid)
        load.reset()
        load.run(MEMORY_PHASE_LIMIT, limit=MEMORY_REQUESTS)
        after = rss_mb(process.pid)
        memory_requests, memory_errors = load.count, load.errors
        log(f"resident memory {before:.1f} -> {after:.1f} MB over {memory_requests:,} "
            f"requests")
    finally:
        process.terminate()
        process.wait(timeout=10)

    growth = after - before
    checks = [
        ("requests per second", f"{rps:.0f}", f">= {TARGETS['rps']}", rps >= TARGETS["rps"]),
        ("p50 latency (server)", f"{result['p50_ms']:.2f} ms", f"<= {TARGETS['p50_ms']:.0f} ms",
         result["p50_ms"] <= TARGETS["p50_ms"]),
        ("p99 latency (server)", f"{result['p99_ms']:.2f} ms",
         f"<= {TARGETS['p99_ms']:.0f} ms", result["p99_ms"] <= TARGETS["p99_ms"]),
        ("errors", f"{result['errors'] + memory_errors} of "
                   f"{result['requests'] + memory_requests:,}", "0",
         result["errors"] + memory_errors == 0),
        ("resident memory growth", f"{growth:+.1f} MB over {memory_requests:,} requests "
                                   f"({before:.0f} -> {after:.0f} MB)",
         f"< {TARGETS['rss_growth_mb']:.0f} MB",
         growth < TARGETS["rss_growth_mb"] and memory_requests >= MEMORY_REQUESTS),
        ("/healthz after start", f"{min(starts):.2f} s best, {max(starts):.2f} s worst of "
                                 f"{len(starts)}", f"<= {TARGETS['healthz_s']} s",
         max(starts) <= TARGETS["healthz_s"]),
    ]
    mix = ", ".join(f"{side}x{side} {share:.0%}" for side, share in MIX.items())
    lines = [
        f"`mnist serve --workers {args.workers}` (shipped cnn, LiteRT) on loopback; "
        f"{args.clients} concurrent "
        f"keep-alive clients (threads of the same script, sharing the 2 cores) posting PNGs "
        f"of one digit for {args.seconds:.0f} s: {mix}. Latency is the server's own "
        "(Server-Timing: from the request's arrival in the app to its response).",
        "",
        "| measure | result | target | met |",
        "|---|---|---|---|",
        *(f"| {name} | {value} | {target} | {'yes' if met else 'NO'} |"
          for name, value, target, met in checks),
        "",
        f"Clients saw p50 {result['client_p50_ms']:.1f} ms, p99 "
        f"{result['client_p99_ms']:.1f} ms (queueing behind the other clients included). "
        f"The server spent {cpu_per_request * 1000:.2f} ms of CPU per request: "
        f"{1 / cpu_per_request:.0f} requests/s per core it has to itself (a figure that "
        "does not depend on what else the machine runs; load average during the run: "
        f"{os.getloadavg()[0]:.1f}).",
        "",
        "| image | requests | server p50 | server p99 | pipeline CPU alone |",
        "|---|---|---|---|---|",
        *(f"| {side}x{side} | {count:,} | {p50:.2f} ms | {p99:.2f} ms | "
          f"{pipeline[side]:.2f} ms |"
          for side, (p50, p99, count) in result["by_side"].items()),
        "",
        f"The prediction pipeline alone (decode, preprocess, LiteRT; `predict_sources` in "
        f"one process, no HTTP) costs {mix_cpu:.2f} ms of CPU per image over this mix, "
        f"{mix_cpu / (cpu_per_request * 1000):.0%} of what the server spent per request: "
        "the HTTP layer is the rest.",
    ]
    report = "\n".join(lines) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        day = time.strftime("%Y-%m-%d", time.gmtime())
        args.out.write_text(f"## serve\n\nReproduce: `.venv/bin/python benchmarks/"
                            f"serve_load.py --workers {args.workers}` ({day}, "
                            f"{os.cpu_count()} CPUs)\n\n" + report, encoding="utf-8")
        print(args.out)
    else:
        print(report, end="")
    log(f"median server latency over all requests: "
        f"{statistics.median(load.server_ms) if load.server_ms else float('nan'):.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
