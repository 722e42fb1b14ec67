"""Speed benchmark: grading time as a ratio of a bare `import torch`, phases, batch throughput, memory.

Run from the project root:  GRADER_DATA_DIR=../shared/data .venv/bin/python tests/benchmark/run.py
Options: --repeat N (single-grade repeats), --batch 0|25,50,100 (batch sizes; needs `grade batch`),
--jobs 1,2. Everything is measured in this one run: compare ratios, not seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
REFERENCE = PROJECT / "reference_solution" / "mnist_mlp" / "mnist_mlp.ipynb"
GRADE = [sys.executable, "-m", "grader.cli"]


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=PROJECT, **kw)
    return time.perf_counter() - t, r


def _tree(root: int) -> list[int]:
    """root and all its descendants, from /proc (sandboxed workers included: they are children too)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _memory_mb(pid: int) -> tuple[float, float]:
    """(Pss, Rss) of one process in MB; Pss splits pages shared copy-on-write between the forks."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
        return int(fields["Pss"].split()[0]) / 1024, int(fields["Rss"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return 0.0, 0.0


def run_sampled(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess, float, float]:
    """Run cmd; also return the peak over time of the summed Pss and of the largest single Rss (MB)."""
    peak_pss = peak_rss = 0.0
    t = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT) as proc:
        done = threading.Event()
        result: list = []
        threading.Thread(target=lambda: (result.append(proc.communicate()), done.set()), daemon=True).start()
        while not done.wait(0.25):
            mem = [_memory_mb(pid) for pid in _tree(proc.pid)]
            peak_pss = max(peak_pss, sum(m[0] for m in mem))
            peak_rss = max([peak_rss] + [m[1] for m in mem])
    seconds = time.perf_counter() - t
    return seconds, subprocess.CompletedProcess(cmd, proc.returncode, *result[0]), peak_pss, peak_rss


def torch_floor(n: int) -> float:
    return statistics.median(timed([sys.executable, "-c", "import torch"])[0] for _ in range(n))


def single(repeat: int, out: Path) -> dict:
    runs = []
    for i in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        seconds, r = timed(GRADE + [str(REFERENCE), "--json", str(out / f"single{i}.json")])
        if r.returncode != 0:
            sys.exit(f"grade failed:\n{r.stdout}\n{r.stderr}")
        data = json.loads((out / f"single{i}.json").read_text())
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        runs.append((seconds, data, max(peak, before) / 1024))
    seconds, data, parent_peak = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    extra = data["extra_data"]
    by_file: dict[str, float] = {}
    for nodeid, s in extra["test_seconds"].items():
        by_file[nodeid.split("::")[0]] = by_file.get(nodeid.split("::")[0], 0.0) + s
    slow = sorted(extra["test_seconds"].items(), key=lambda kv: -kv[1])[:4]
    trainings = {k: v for k, v in extra["test_seconds"].items() if "mnist_accuracy" in k}
    return {"seconds": seconds, "score": data["score"], "max": extra["max_score"], "phases": extra["timings"],
            "suites": by_file, "slowest_tests": slow, "trainings": trainings, "worker_peak_mb": extra["worker_peak_mb"],
            "parent_peak_mb": parent_peak}


def make_class(n: int, folder: Path) -> None:
    """n submissions: correct ones, ones with a bug, and ones that do not load."""
    text = REFERENCE.read_text()
    variants = [
        text,
        text.replace("0.1 * x", "0.01 * x"),
        text.replace("-picked.mean()", "-picked.sum()"),
        text.replace("logits.argmax(dim=-1)", "logits.argmin(dim=-1)"),
        "{ not a notebook",
    ]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"student{i:03d}.ipynb").write_text(variants[i % len(variants)])


def batch(sizes: list[int], jobs: list[int], out: Path) -> list[dict]:
    rows = []
    for n in sizes:
        make_class(n, out / f"class{n}")
        for j in jobs:
            target = out / f"batch{n}_j{j}"
            shutil.rmtree(target, ignore_errors=True)
            seconds, r, pss, rss = run_sampled(GRADE + ["batch", str(out / f"class{n}"), "--out", str(target),
                                                        "--jobs", str(j)])
            if r.returncode != 0:
                sys.exit(f"grade batch failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            rows.append({"n": n, "jobs": j, "seconds": seconds, "per_minute": 60 * n / seconds,
                         "total_pss_mb": pss, "largest_rss_mb": rss})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--batch", default="25,50,100", help="class sizes, or 0 to skip batch runs")
    p.add_argument("--jobs", default="1,2")
    args = p.parse_args()
    out = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    floor = torch_floor(5)
    s = single(args.repeat, out)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"bare `python -c 'import torch'` (median of 5): {floor:.2f} s")
    print(f"grade reference end to end (median of {args.repeat}): {s['seconds']:.2f} s = "
          f"{s['seconds'] / floor:.2f} x torch import   [target <= 3.5 x]   score {s['score']}/{s['max']}")
    print("  phases (inside the grader process):")
    for k, v in s["phases"].items():
        print(f"    {k:<48} {v:6.2f} s")
    print(f"    {'start-up, CLI imports, reporting, exit (rest)':<48} {s['seconds'] - sum(s['phases'].values()):6.2f} s")
    print("  MNIST trainings (inside the suites):")
    for k, v in s["trainings"].items():
        print(f"    {k:<70} {v:6.2f} s")
    print("  suites (sum of test durations per file):")
    for k, v in sorted(s["suites"].items()):
        print(f"    {k:<48} {v:6.2f} s")
    print("  slowest tests:")
    for k, v in s["slowest_tests"]:
        print(f"    {k:<70} {v:6.2f} s")
    print(f"  peak RSS: grader process {s['parent_peak_mb']:.0f} MB, worker {s['worker_peak_mb']:.0f} MB "
          "[target < 1536 MB per worker]")
    sizes = [int(x) for x in args.batch.split(",") if int(x) > 0]
    if sizes:
        rows = batch(sizes, [int(j) for j in args.jobs.split(",")], out)
        print("batch (mixed class: correct, buggy, unreadable):")
        for r in rows:
            print(f"  n={r['n']:<4} jobs={r['jobs']}  {r['seconds']:7.1f} s  {r['per_minute']:6.1f}/min  "
                  f"{r['seconds'] / r['n']:5.2f} s each  peak memory of the whole batch {r['total_pss_mb']:.0f} MB "
                  f"(sum of Pss), largest process {r['largest_rss_mb']:.0f} MB RSS")
        if 100 in sizes and 2 in [r["jobs"] for r in rows]:
            r100 = [r for r in rows if r["n"] == 100 and r["jobs"] == 2][0]
            print(f"  n=100 jobs=2: {r100['seconds']:.1f} s [target <= 150 s, >= 40/min]; "
                  f"peak {r100['total_pss_mb'] / 1024:.2f} GiB [target < 4 GiB]")
        for n in sizes:
            one = [r for r in rows if r["n"] == n and r["jobs"] == 1]
            two = [r for r in rows if r["n"] == n and r["jobs"] == 2]
            if one and two:
                print(f"  n={n}: jobs=2 is {one[0]['seconds'] / two[0]['seconds']:.2f} x jobs=1 "
                      "[target >= 1.7 x]")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
