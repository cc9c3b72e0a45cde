"""The studio, measured: its endpoints' latency, its cold start and its memory, as a file.

    python -m gan_tutorials.studio.timing [--requests 20] [--json outputs/bench/studio.json]

Serves the reference runs with `python -m gan_tutorials.studio` on a free
loopback port, as `make studio` starts it, and records:
  * cold start: from launching the process to the page answering;
  * steer (a slider's release) and preview (a drag) for 8 conv-cgan digits,
    as a `gradio_client` user waits for them, over in-band requests;
  * the same two computed in this process, without the server;
  * the server's resident memory (VmRSS) and its peak (VmHWM) after them;
  * how many steered digits, measured here, lie within TOLERANCE of their request.
docs/studio.md's table is written from the file (`python -m gan_tutorials.tables`).
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

from gan_tutorials import bench, runs
from gan_tutorials.control import ATTRIBUTES, measure_array
from gan_tutorials.control.report import joint_requests
from gan_tutorials.control.steering import CORE, TOLERANCE, worst_error
from gan_tutorials.launch import free_port
from gan_tutorials.studio import tabs
from gan_tutorials.studio.shelf import REFERENCE, Shelf, reference_folders

# What `make studio` serves: every committed reference run.
SERVED = tuple(folder.name for folder in reference_folders())
STEERED = "conv-cgan"


def serve(folders, stderr=None):
    """Start the studio; return (process, url, seconds until its page answered).

    `stderr=subprocess.PIPE` keeps the server's messages for the caller (who must read them).
    """
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "gan_tutorials.studio", *map(str, folders),
                                "--port", str(free_port())], stdout=subprocess.PIPE, stderr=stderr,
                               text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = process.stdout.readline()  # blocks until the page is served (or the process ends)
    if not line.startswith("studio: http"):
        process.kill()
        said = process.stderr.read()[-3000:] if stderr == subprocess.PIPE else ""
        raise RuntimeError(f"the studio did not start: {line!r}\n{said}")
    url = line.split()[1]
    with urllib.request.urlopen(url, timeout=60) as page:
        page.read()
    return process, url, time.perf_counter() - began


def memory_mb(pid):
    """(VmRSS, VmHWM) of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))


def requests_for(ctl, count):
    """count in-band requests (attainable joint targets, as control's report draws them)."""
    digits, targets = joint_requests(ctl, per_digit=max(1, count // ctl.classes), seed=7)
    return [(int(d), {a: float(targets[a][i]) for a in CORE}) for i, d in enumerate(digits)][:count]


def within(ctl, saved, digit, targets):
    """Per digit of a steer answer: are its measures, taken here by morphometry, within
    TOLERANCE SD of every target?"""
    achieved = measure_array(saved["images"][..., None])
    requested = np.full_like(achieved, np.nan)  # NaN: a measure left free
    for name, value in targets.items():
        requested[:, ATTRIBUTES.index(name)] = value
    return list(worst_error(ctl, [digit] * len(achieved), achieved, requested) <= TOLERANCE)


def summary(seconds):
    """Median, 95th percentile and count of a list of seconds."""
    return {"median_s": round(statistics.median(seconds), 3),
            "p95_s": round(float(np.percentile(seconds, 95)), 3), "count": len(seconds)}


def timed(fn, *args, **kwargs):
    began = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - began


def measure(count=20):
    """Every figure above, as a dict."""
    from gradio_client import Client
    folders = [REFERENCE / name for name in SERVED]
    process, url, cold = serve(folders)
    try:
        client = Client(url, verbose=False)
        shelf = Shelf([REFERENCE / STEERED])
        run, judge = shelf[STEERED], shelf.judge("mnist")
        asks = requests_for(run.control, count)
        # Warm, as a served page is a minute after its start: the first request of a run
        # traces its Jacobian, and a digit's first draws the article's candidates.
        shelf.warm().join()
        tabs.steer_request(run, judge, {"digit": asks[0][0], "targets": asks[0][1]})
        for digit, targets in {d: t for d, t in asks}.items():  # one request per digit
            client.predict(STEERED, digit, *targets.values(), api_name="/steer")
        results = {"steer_client": [], "preview_client": [], "steer_compute": [], "preview_compute": []}
        met = []
        for digit, targets in asks:
            args = (STEERED, digit, *targets.values())
            began = time.perf_counter()
            npz = client.predict(*args, api_name="/steer")[2]
            results["steer_client"].append(time.perf_counter() - began)
            met.extend(within(run.control, np.load(npz), digit, targets))
            results["preview_client"].append(timed(client.predict, *args, api_name="/preview"))
            request = {"digit": digit, "targets": targets}
            results["steer_compute"].append(timed(tabs.steer_request, run, judge, request))
            results["preview_compute"].append(timed(tabs.preview, run, request))
        rss, peak = memory_mb(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    return {"served": list(SERVED), "steered": STEERED, "digits": tabs.STEERED,
            "met": round(float(np.mean(met)), 4), "met_of": len(met),
            "cold_start_s": round(cold, 2), "rss_mb": round(rss), "peak_rss_mb": round(peak),
            **{k: summary(v) for k, v in results.items()}}


def table(data):
    """The markdown table docs/studio.md shows."""
    r = data["results"]
    row = lambda label, key: (f"| {label} | {r[key]['median_s']:.2f} s | {r[key]['p95_s']:.2f} s | "
                              f"{r[key]['count']} |")
    return "\n".join([
        f"| {r['digits']} {r['steered']} digits | median | 95th percentile | requests |",
        "| --- | ---: | ---: | ---: |",
        row("release -> steered digits, as a client waits", "steer_client"),
        row("release -> steered digits, computed", "steer_compute"),
        row("a drag's preview, as a client waits", "preview_client"),
        row("a drag's preview, computed", "preview_compute"),
        "",
        f"Of the {r['met_of']} digits the steer endpoint returned, {100 * r['met']:.1f}% lie within "
        f"{TOLERANCE} SD of every target, measured by `morphometry` on the `.npz` the client received. "
        f"Cold start to a served page: {r['cold_start_s']:.1f} s. Memory with "
        f"{', '.join(r['served'])} loaded: {r['rss_mb'] / 1024:.2f} GB resident "
        f"({r['peak_rss_mb'] / 1024:.2f} GB at its peak)."])


def main(argv=None):
    """CLI: measure, print the table, and with --json write the file."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.studio.timing",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20, help="in-band requests to time")
    parser.add_argument("--json", help="write the results and the machine to this file")
    args = parser.parse_args(argv)
    command = "python -m gan_tutorials.studio.timing" + " ".join(
        ["", *(argv if argv is not None else sys.argv[1:])])
    data = {"machine": bench.machine(command.strip()), "results": measure(args.requests)}
    print(table(data))
    if args.json:
        runs.write_json(args.json, data)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
