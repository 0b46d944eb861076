#!/usr/bin/python3
"""B5's peer: the same batch scoring script driven by a plain Python loop, in N processes.

    batch_loop.py DRIVER INPUT_DIR OUTPUT_FILE --mini-batch-size 10 --processes 2

Lists INPUT_DIR's top-level files (sorted, as berth does), splits them into mini-batches, and
has N worker processes each import DRIVER, call init() once, then run() over every N-th
mini-batch, writing one line per returned element; the parent concatenates the parts in
mini-batch order into OUTPUT_FILE, and prints {"run_seconds": ...}: the span from the first
run() call to the end of the last. What berth adds on top (the sandbox, scheduling, retries,
persisted progress, exactly-once parts) is what B5 measures.
"""

import argparse
import importlib.util
import multiprocessing
import json
import os
import sys
import time


def worker(driver, mini_batches, k, n, part):
    spec = importlib.util.spec_from_file_location("driver", driver)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(driver))
    spec.loader.exec_module(module)
    module.init()
    began = time.time()
    with open(part, "w") as out:
        for index in range(k, len(mini_batches), n):
            result = module.run(mini_batches[index])
            out.write("".join(f"{index}\t{element}\n" for element in result))
    with open(part + ".times", "w") as times:
        times.write(f"{began} {time.time()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("driver")
    ap.add_argument("input_dir")
    ap.add_argument("output_file")
    ap.add_argument("--mini-batch-size", type=int, default=10)
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    files = sorted(e.path for e in os.scandir(args.input_dir)
                   if e.is_file() and not e.name.startswith("."))
    size = args.mini_batch_size
    mini_batches = [files[i:i + size] for i in range(0, len(files), size)]
    parts = [f"{args.output_file}.part{k}" for k in range(args.processes)]
    procs = [multiprocessing.Process(target=worker,
                                     args=(args.driver, mini_batches, k, args.processes, parts[k]))
             for k in range(args.processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"worker exited with {p.exitcode}")
    rows = []
    spans = []
    for part in parts:
        with open(part + ".times") as times:
            spans.append([float(x) for x in times.read().split()])
        os.remove(part + ".times")
        with open(part) as f:
            for line in f:
                index, element = line.split("\t", 1)
                rows.append((int(index), element))
        os.remove(part)
    rows.sort(key=lambda row: row[0])  # stable: keeps each mini-batch's order
    with open(args.output_file, "w") as out:
        out.write("".join(element for _, element in rows))
    # The span from the first run() call to the last one's end, for B5's steady-state rate.
    print(json.dumps({"run_seconds": max(e for _, e in spans) - min(b for b, _ in spans)}))


if __name__ == "__main__":
    main()
