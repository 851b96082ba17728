#!/usr/bin/env python3
"""ONNX Runtime peer benchmark for anglerFISH: fp32 vs static int8 (QOperator, QDQ).

Run through scripts/peers/ort.sh, which pins the versions and exports the ONNX.
Quantises the same fp32 checkpoint our shipped int8 model came from, so the
int8 rows compare like with like. Timings are wall clock around session.run.
"""
import argparse, atexit, collections, json, os, platform, shutil, statistics, sys, tempfile, time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

p = argparse.ArgumentParser()
p.add_argument("--onnx", default="target/peers/anglerfish-fp32.onnx")
p.add_argument("--out", default="target/peers")
p.add_argument("--runs-small", type=int, default=60, help="timed runs at 40x40")
p.add_argument("--runs-large", type=int, default=8, help="timed runs at 256x256")
# >=3: with 1 warm-up the next 256x256 runs are still ~15% slow (probably memory-arena growth).
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--calib-tiles", type=int, default=32)
# U8S8 is what MLAS's x86 VNNI kernels consume natively; S8S8 is the quantiser's default.
p.add_argument("--acts", default="u8,s8", help="activation types to try: u8,s8")
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
a.onnx, a.out = os.path.abspath(a.onnx), os.path.abspath(a.out)
# quant_pre_process drops temp files (sym_shape_infer_temp.onnx, *.data) in the
# cwd and leaves them behind if it fails: keep them out of the repo.
os.chdir(tempfile.mkdtemp(prefix="ort-peer-"))
atexit.register(shutil.rmtree, os.getcwd(), True)
rng_seed = 1


def synth_tile(rng, h=40, w=40):
    """Raw camera counts: background ~120-140 plus a few bright gaussian spots up to ~255.
    Calibration data only sets the activation grids (accuracy); it cannot change the
    graph or the kernels, so it has no effect on latency."""
    x = rng.normal(130.0, 5.0, size=(16, h, w))
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(rng.integers(3, 12)):
        cy, cx, ch = rng.uniform(0, h), rng.uniform(0, w), rng.integers(0, 16)
        amp = rng.uniform(30, 125)
        x[ch] += amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.2 ** 2))
    return np.clip(x, 0, 255).astype(np.float32)[None]


class Reader(CalibrationDataReader):
    def __init__(self, name, n):
        rng = np.random.default_rng(rng_seed)
        self.it = iter([{name: synth_tile(rng)} for _ in range(n)])

    def get_next(self):
        return next(self.it, None)


def op_counts(path):
    return collections.Counter(n.op_type for n in onnx.load(path).graph.node)


def session(path, threads, optimized_out=None):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized_out:
        so.optimized_model_filepath = optimized_out
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


fp32 = a.onnx
inp = onnx.load(fp32).graph.input[0].name
# ORT's recommended pre-step: symbolic shape inference + graph cleanup, so the
# quantiser sees shapes for every tensor. auto_merge: the symbolic engine cannot
# prove 2*floor(floor(H/2)/2) == floor(H/2) at the skip Concats; it holds because
# H and W are multiples of 4.
pre = os.path.join(a.out, "anglerfish-fp32-pre.onnx")
quant_pre_process(fp32, pre, auto_merge=True)

models = {"fp32": fp32}
errors = {}
for act in a.acts.split(","):
    at = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}[act]
    for fmt, qf in (("qoperator", QuantFormat.QOperator), ("qdq", QuantFormat.QDQ)):
        name = f"int8-{fmt}-{act}s8"
        path = os.path.join(a.out, f"anglerfish-{name}.onnx")
        try:
            quantize_static(pre, path, Reader(inp, a.calib_tiles), quant_format=qf,
                            per_channel=True, activation_type=at, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
            models[name] = path
        except Exception as e:  # report, don't hide: a format that fails is a finding
            errors[name] = f"quantise: {type(e).__name__}: {e}"

# Node counts in the saved graph, and after ORT's own fusions (QDQ -> QLinearConv
# happens at session creation, so the saved QDQ file alone says little).
QOPS = ("QLinearConv", "DequantizeLinear", "QuantizeLinear", "Conv", "Elu")
counts = {}
for name, path in models.items():
    optp = os.path.join(a.out, f"opt-{name}.onnx")
    try:
        session(path, 1, optp)
        counts[name] = {"file": op_counts(path), "optimised": op_counts(optp)}
    except Exception as e:
        errors[name] = f"session: {type(e).__name__}: {e}"

# Sanity: int8 outputs should track fp32 on a tile (not an accuracy study).
probe = {inp: synth_tile(np.random.default_rng(7))}
ref = session(fp32, 1).run(None, probe)
agree = {}
for name, path in models.items():
    if name == "fp32" or name in errors:
        continue
    try:
        out = session(path, 1).run(None, probe)
        agree[name] = [float(np.abs(r - o).max()) for r, o in zip(ref, out)]
    except Exception as e:
        errors[name] = f"run: {type(e).__name__}: {e}"


def load1():
    return os.getloadavg()[0]


rows = []
plan = [((40, 40), 1, a.runs_small), ((256, 256), 1, a.runs_large), ((256, 256), 2, a.runs_large)]
for (h, w), threads, runs in plan:
    x = {inp: np.stack([synth_tile(np.random.default_rng(3), h, w)[0]])}
    for name, path in models.items():
        if name in errors:
            continue
        s = session(path, threads)
        for _ in range(a.warmup):
            s.run(None, x)
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            s.run(None, x)
            ts.append((time.perf_counter() - t0) * 1e3)
        rows.append(dict(runtime="onnxruntime", version=ort.__version__, format=name,
                         tile=f"{h}x{w}", threads=threads, median_ms=round(statistics.median(ts), 3),
                         min_ms=round(min(ts), 3), runs=runs, load1=round(load1(), 2)))
        r = rows[-1]
        print(f"  {name:22s} {r['tile']:8s} t={threads} median {r['median_ms']:9.2f} ms  min {r['min_ms']:9.2f} ms",
              file=sys.stderr, flush=True)

with open(os.path.join(a.out, "ort.json"), "w") as f:
    json.dump(dict(cpu=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                   onnx=onnx.__version__, numpy=np.__version__, results=rows,
                   node_counts={k: {kk: dict(vv) for kk, vv in v.items()} for k, v in counts.items()},
                   max_abs_diff_vs_fp32=agree, errors=errors), f, indent=1)

print(f"\nONNX Runtime {ort.__version__}, CPUExecutionProvider, ORT_ENABLE_ALL, sequential\n")
print("| format | tile | threads | median ms | min ms | runs |\n|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['format']} | {r['tile']} | {r['threads']} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | {r['runs']} |")
print("\nNode counts (saved file / after ORT session optimisation):\n")
print("| format | " + " | ".join(QOPS) + " |\n|---|" + "---|" * len(QOPS))
for name, c in counts.items():
    print(f"| {name} | " + " | ".join(f"{c['file'][o]} / {c['optimised'][o]}" for o in QOPS) + " |")
print("\nElu has no int8 kernel, so each Elu sits between a DequantizeLinear and a QuantizeLinear.")
print("\nmax |int8 - fp32| on one tile (position, barcode):",
      {k: [round(v, 3) for v in vs] for k, vs in agree.items()})
for k, e in errors.items():
    print(f"FAILED {k}: {e}")
