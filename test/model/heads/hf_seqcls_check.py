#!/usr/bin/env python3
"""Loads a checkpoint folder written by `reformer train --task classify` into HuggingFace's
`ReformerForSequenceClassification` (transformers' modeling_reformer.py, the peer package of
shared/peer-pytorch) with `load_state_dict(strict=True)`, runs one eval-mode forward with labels, and
prints HF's logits and loss as JSON on stdout.

  /usr/bin/python3 hf_seqcls_check.py --pkg <hfpkg> --checkpoint <dir> --inputs <inputs.json>

<dir> holds config.json and model.safetensors (read here with the standard library and numpy: the
format is an 8-byte little-endian header length, a JSON header, then the raw tensors). <inputs.json>:
  {"input_ids": [[...]], "attention_mask": [[...]] | null, "labels": [...],
   "rotations": [{"shape": [H, d, R, r/2], "data": [...]} | null, ...]}   one entry per layer
HF draws LSH rotations with torch.randn; the script serves the given rotations to those calls, in layer
order, so both sides hash with the same rotations. Exit status 0 with {"ok": true, ...}; a strict-load
failure prints {"ok": false, "error": "..."} and exits 1.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        arr = np.frombuffer(raw[base + b : base + end], dtype=dtypes[e["dtype"]]).reshape(e["shape"])
        out[name] = arr.copy()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pkg", required=True, help="folder holding the `transformers` package (peer install.sh)")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--inputs", required=True)
    a = ap.parse_args()
    sys.path.insert(0, a.pkg)
    import torch
    from transformers.models.reformer.configuration_reformer import ReformerConfig
    from transformers.models.reformer.modeling_reformer import ReformerForSequenceClassification

    with open(os.path.join(a.checkpoint, "config.json")) as f:
        cfg = json.load(f)
    config = ReformerConfig(**cfg)
    model = ReformerForSequenceClassification(config)
    state = {k: torch.from_numpy(v) for k, v in read_safetensors(os.path.join(a.checkpoint, "model.safetensors")).items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        print(json.dumps({"ok": False, "error": str(e).replace("\n", " ")}))
        return 1
    model.eval()

    with open(a.inputs) as f:
        inp = json.load(f)
    queue = [torch.tensor(r["data"], dtype=torch.float32).reshape(r["shape"]) for r in inp["rotations"] if r is not None]
    served = []
    real_randn = torch.randn

    def randn(*shape, **kw):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)) else tuple(shape)
        if not queue:
            raise RuntimeError(f"HF drew more rotations than were given (shape {shape})")
        r = queue.pop(0)
        if tuple(r.shape) != shape:
            raise RuntimeError(f"HF asked for rotations of shape {shape}, the next given ones are {tuple(r.shape)}")
        served.append(list(shape))
        return r.to(dtype=kw.get("dtype") or torch.float32)

    ids = torch.tensor(inp["input_ids"], dtype=torch.long)
    mask = torch.tensor(inp["attention_mask"], dtype=torch.long) if inp.get("attention_mask") is not None else None
    labels = torch.tensor(inp["labels"], dtype=torch.long)
    torch.randn = randn
    try:
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
    finally:
        torch.randn = real_randn
    if queue:
        raise RuntimeError(f"{len(queue)} given rotation tensors were not used by HF")
    print(
        json.dumps(
            {
                "ok": True,
                "torch": torch.__version__,
                "num_labels": model.num_labels,
                "problem_type": model.config.problem_type,
                "parameters": len(state),
                "rotations_served": served,
                "logits": out.logits.reshape(-1).tolist(),
                "logits_shape": list(out.logits.shape),
                "loss": float(out.loss),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
