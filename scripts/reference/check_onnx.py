"""Checks the ONNX exports that tests/onnx.rs writes, as listed in its manifest (JSON):

- every file passes onnx.checker (full check, with shape inference) and carries the expected
  metadata;
- "runs": onnxruntime's outputs for the given inputs equal the expected ones (raw little-endian
  files, ours) within a tolerance;
- "pytorch": a state_dict in the official layout, exported to ONNX, gives the official network's
  output: in eval mode for the whole batch, or with --batch-stats in train mode (batch statistics,
  no dropout) image by image.

Prints one line per check and exits 1 if any failed.

usage: check_onnx.py MANIFEST.json
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(__file__))


def load_raw(path, dtype, shape):
    return np.fromfile(path, dtype=dtype).reshape(shape)


def check_file(case):
    model = onnx.load(case["onnx"])
    onnx.checker.check_model(model, full_check=True)
    metadata = {p.key: p.value for p in model.metadata_props}
    for key, value in case.get("metadata", {}).items():
        if metadata.get(key) != value:
            return f"metadata {key} is {metadata.get(key)!r}, expected {value!r}"
    return None


def session(path):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def run_case(case):
    failure = check_file(case)
    if failure:
        return failure, None
    worst = 0.0
    sess = session(case["onnx"])
    for run in case["runs"]:
        x = load_raw(run["input"], run["dtype"], run["input_shape"])
        expected = load_raw(run["expected"], run["dtype"], run["expected_shape"])
        (y,) = sess.run(["output"], {"input": x})
        if y.shape != expected.shape:
            return f"output shape {y.shape}, expected {expected.shape}", None
        diff = float(np.abs(y.astype(np.float64) - expected.astype(np.float64)).max())
        worst = max(worst, diff)
        if diff > run["tolerance"]:
            return f"differs by {diff:.3e} at input {run['input_shape']}", diff
    return None, worst


def run_pytorch(case):
    import torch

    from networks import define_G

    failure = check_file(case)
    if failure:
        return failure, None
    net = define_G(case["input_nc"], case["output_nc"], case["ngf"], case["net_g"], case["norm"], case["dropout"])
    net.load_state_dict(torch.load(case["pth"], map_location="cpu", weights_only=True), strict=True)
    x = torch.load(case["io"], map_location="cpu", weights_only=True)["input"]
    with torch.no_grad():
        if case["batch_stats"]:
            net.train()
            for module in net.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.eval()
            expected = torch.cat([net(x[i : i + 1]) for i in range(len(x))])
            sess = session(case["onnx"])
            y = np.concatenate([sess.run(["output"], {"input": x[i : i + 1].numpy()})[0] for i in range(len(x))])
        else:
            net.eval()
            expected = net(x)
            (y,) = session(case["onnx"]).run(["output"], {"input": x.numpy()})
    diff = float(np.abs(y - expected.numpy()).max())
    return (f"differs from PyTorch by {diff:.3e}" if diff > 1e-4 else None), diff


def main():
    with open(sys.argv[1]) as f:
        manifest = json.load(f)
    failed = 0
    for kind, check in (("runs", run_case), ("pytorch", run_pytorch)):
        for case in manifest.get(kind, []):
            try:
                failure, diff = check(case)
            except Exception as e:  # a file onnx or onnxruntime refuses
                failure, diff = f"{type(e).__name__}: {e}", None
            shown = "" if diff is None else f" (max abs diff {diff:.3e})"
            if failure:
                failed += 1
                print(f"FAIL {case['name']}: {failure}{shown}")
            else:
                print(f"ok {case['name']}{shown}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
