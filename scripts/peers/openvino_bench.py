#!/usr/bin/env python3
"""OpenVINO peer benchmark for anglerFISH: the QDQ int8 ONNX on the CPU plugin.

Run through scripts/peers/openvino.sh (pins the version, makes the QDQ file).
Reports, per tile size, the convolutions' runtime precisions in the compiled
graph (u8 means OpenVINO really runs them in int8) and the median latency of
one synchronous inference at 1 and 2 threads.
"""
import argparse, collections, json, os, platform, statistics, sys, time

import numpy as np
import openvino as ov

p = argparse.ArgumentParser()
p.add_argument("--qdq", required=True)
p.add_argument("--out", default="target/peers")
p.add_argument("--runs-small", type=int, default=60)
p.add_argument("--runs-large", type=int, default=8)
p.add_argument("--warmup", type=int, default=3)
a = p.parse_args()


def tile(h, w, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(130.0, 5.0, size=(1, 16, h, w))
    return np.clip(x, 0, 255).astype(np.float32)


def rt(op, key):
    info = op.get_rt_info()
    if key not in info:
        return "?"
    value = info[key]
    return value.astype(str) if hasattr(value, "astype") else str(value)


core = ov.Core()
rows, precisions = [], {}
for (h, w), threads, runs in [((40, 40), 1, a.runs_small), ((40, 40), 2, a.runs_small),
                              ((256, 256), 1, a.runs_large), ((256, 256), 2, a.runs_large)]:
    model = core.read_model(a.qdq)
    model.reshape({model.inputs[0].get_any_name(): [1, 16, h, w]})
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                 "PERFORMANCE_HINT": "LATENCY",
                                                 "NUM_STREAMS": 1})
    convs = [op for op in compiled.get_runtime_model().get_ordered_ops()
             if rt(op, "layerType") == "Convolution"]
    precisions[f"{h}x{w}"] = dict(collections.Counter(rt(op, "runtimePrecision") for op in convs))
    request = compiled.create_infer_request()
    x = tile(h, w)
    for _ in range(a.warmup):
        request.infer({0: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        request.infer({0: x})
        times.append((time.perf_counter() - t0) * 1e3)
    rows.append(dict(runtime="openvino", version=ov.__version__, tile=f"{h}x{w}", threads=threads,
                     median_ms=round(statistics.median(times), 3), min_ms=round(min(times), 3),
                     runs=runs, load1=round(os.getloadavg()[0], 2)))
    print(f"  openvino {h}x{w} t={threads} median {rows[-1]['median_ms']:.2f} ms", file=sys.stderr, flush=True)

with open(os.path.join(a.out, "openvino.json"), "w") as f:
    json.dump(dict(cpu=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                   qdq=a.qdq, results=rows, conv_runtime_precisions=precisions), f, indent=1)
print(f"OpenVINO {ov.__version__}, CPU plugin, LATENCY hint, 1 stream, on {os.path.basename(a.qdq)}\n")
print("| tile | threads | median ms | min ms | runs |\n|---|---|---|---|---|")
for r in rows:
    print(f"| {r['tile']} | {r['threads']} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | {r['runs']} |")
print("\nConvolutions by runtime precision in the compiled graph:", precisions)
