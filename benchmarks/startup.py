"""How long `zoo list` takes next to `python -c "import tensorflow"`.

Listing must never import TensorFlow, so it should cost a small fraction of that import. Each
command runs in a fresh process, once to warm the file cache, then --runs times; the median counts.

    .venv/bin/python benchmarks/startup.py --runs 7 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def zoo_command() -> list[str]:
    """The `zoo` console script of this environment (what users run), else `python -m zoo`."""
    script = Path(sys.executable).parent / "zoo"
    return [str(script)] if script.exists() else [sys.executable, "-m", "zoo"]


def median_seconds(command: list[str], runs: int) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    times = []
    for attempt in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=env)
        if attempt:  # the first run only warms the file cache
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of results")
    args = parser.parse_args(argv)

    zoo_list = median_seconds([*zoo_command(), "list"], args.runs)
    import_tf = median_seconds([sys.executable, "-c", "import tensorflow"], args.runs)
    ratio = zoo_list / import_tf
    rows = [("zoo list", zoo_list), ('python -c "import tensorflow"', import_tf)]
    print(f"median of {args.runs} runs, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for name, seconds in rows:
        print(f"  {name:32s} {seconds:7.3f} s")
    print(f"  {'ratio':32s} {ratio:7.3f}   (target <= 0.05)")
    if args.json:
        print(json.dumps({"zoo_list_s": round(zoo_list, 4), "import_tensorflow_s": round(import_tf, 4),
                          "ratio": round(ratio, 4), "runs": args.runs,
                          "zoo": " ".join(zoo_command())}))


if __name__ == "__main__":
    main()
