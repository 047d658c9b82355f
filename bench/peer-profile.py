#!/usr/bin/env python3
"""Where HF's PyTorch Reformer spends a training step on CPU: torch.profiler self CPU time per phase.

  /usr/bin/python3 bench/peer-profile.py --seq-len 4096 --threads 1 --steps 2 [--optimizer sgd] [--json OUT]

The peer is HuggingFace's ReformerModelWithLMHead (../shared/peer-pytorch, README there) on Debian's torch
+ OpenBLAS, on the benchmark config bench-config-<L>.json of the peer folder (the one `reformer bench
vs-pytorch` uses on both sides). The script runs itself again as a child with the environment of the
peer's bench_hf.py (its blas_env: OpenBLAS on LD_LIBRARY_PATH, OPENBLAS_NUM_THREADS / OMP_NUM_THREADS =
--threads, OPENBLAS_CORETYPE only where OpenBLAS misdetects the CPU), builds the model, runs --warmup
untimed steps, one timed step without the profiler, then --steps steps under torch.profiler.

Phases: the list in bench/profile-phases.json (shared with our own profile). Ops are assigned by scope:
HF's methods and modules are wrapped in torch.profiler.record_function("phase::<name>") (hashing =
LSHSelfAttention._hash_vectors, sort = _get_sorted_bucket_idx_and_undo_sorted_bucket_idx, gathers =
_gather_by_expansion and ReverseSort, chunk attention = the rest of LSHSelfAttention / LocalSelfAttention
forward, attention projections = their query/key/value Linear modules and ReformerSelfOutput, feed-forward =
ChunkReformerFeedForward, LayerNorm = every nn.LayerNorm, embeddings/LM head/loss = the model's own
forward outside the encoder, reversible recompute = ReformerLayer.backward_pass outside the nested
backward calls, optimizer = zero_grad + step); the innermost scope wins. A backward op (an autograd
node's evaluate_function event) belongs to the phase of the forward op that created it (matched by the
profiler's sequence number and thread), so each phase has a forward and a backward column. What no op
covers (Python between ops, the profiler itself) is its own row. Self CPU time of an op is time on the
thread that called it; intra-op (OpenMP / OpenBLAS) threads work inside it.

--json OUT: {"phases": [{"name", "forward_ms", "backward_ms", "total_ms", "percent", "top_ops"}], "meta": {...}}.
"""
import argparse
import functools
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PHASES_FILE = os.path.join(HERE, "profile-phases.json")
SCOPE = "phase::"
EVAL = "autograd::engine::evaluate_function: "
OUTSIDE = "(outside any op: Python, profiler)"


def load_phases():
    with open(PHASES_FILE) as f:
        return [p["name"] for p in json.load(f)["phases"]]


PHASES = load_phases()


def phase(name):
    assert name in PHASES, f"{name!r} is not a phase of {PHASES_FILE}"
    return name


HASHING, SORT, GATHERS, CHUNK, PROJ, FF, LN, HEAD, RECOMPUTE, OPT, OTHER = (
    phase("hashing"), phase("sort"), phase("gathers/scatters"), phase("chunk attention"),
    phase("attention projections"), phase("feed-forward GEMMs"), phase("LayerNorm"),
    phase("embeddings, LM head, loss"), phase("reversible recompute"), phase("optimizer"), phase("other"))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq-len", type=int, default=4096)
    ap.add_argument("--mode", default="train", choices=["train", "forward"],
                    help="train: loss + backward (+ --optimizer); forward: eval() + no_grad logits")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2, help="profiled steps (the table is per step)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--optimizer", default="none", choices=["none", "sgd", "adamw"],
                    help="none (default) = loss + gradients only, as `reformer bench vs-pytorch` measures")
    ap.add_argument("--peer-dir", default=os.environ.get("REFORMER_PEER_DIR") or os.path.join(REPO, "..", "shared", "peer-pytorch"))
    ap.add_argument("--pkg", default=os.environ.get("ORACLE_PKG") or os.path.join(os.environ.get("TMPDIR") or "/tmp", "reformer-peer-pytorch", "hfpkg"),
                    help="the HF package the peer's install.sh assembled (default $ORACLE_PKG)")
    ap.add_argument("--python", default="/usr/bin/python3", help="interpreter with torch")
    ap.add_argument("--blas", default="openblas", help="as bench_hf.py --blas (default openblas)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the result here")
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def import_peer(peer_dir):
    if not os.path.exists(os.path.join(peer_dir, "bench_hf.py")):
        raise SystemExit(f"peer-profile: no bench_hf.py in {peer_dir}: give --peer-dir or set REFORMER_PEER_DIR")
    sys.path.insert(0, os.path.abspath(peer_dir))
    import bench_hf  # the peer's own helpers: BLAS environment, config files, BLAS diagnostics

    return bench_hf


# ------------------------------------------------------------------------------------------------ child (torch)
def install_scopes(MR, model, state):
    """Wraps HF's methods and the model's modules in phase scopes (see the module docstring)."""
    import torch
    from torch.profiler import record_function

    def scoped(name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            with record_function(SCOPE + name):
                return fn(*a, **k)

        return wrapper

    def recompute_aware(name, fn):
        """The layer's attention / feed-forward: inside backward_pass it is the reversible recompute."""
        @functools.wraps(fn)
        def wrapper(*a, **k):
            if state["in_backward_pass"]:
                with record_function(SCOPE + RECOMPUTE):
                    return fn(*a, **k)
            return fn(*a, **k)

        return wrapper

    L = MR.LSHSelfAttention
    L._hash_vectors = scoped(HASHING, L._hash_vectors)
    L._get_sorted_bucket_idx_and_undo_sorted_bucket_idx = scoped(SORT, L._get_sorted_bucket_idx_and_undo_sorted_bucket_idx)
    L._gather_by_expansion = scoped(GATHERS, L._gather_by_expansion)
    L.forward = scoped(CHUNK, L.forward)
    MR.LocalSelfAttention.forward = scoped(CHUNK, MR.LocalSelfAttention.forward)
    MR.ReverseSort.forward = staticmethod(scoped(GATHERS, MR.ReverseSort.forward))
    MR.ReverseSort.backward = staticmethod(scoped(GATHERS, MR.ReverseSort.backward))
    MR.ChunkReformerFeedForward.forward = scoped(FF, MR.ChunkReformerFeedForward.forward)
    MR.ReformerEmbeddings.forward = scoped(HEAD, MR.ReformerEmbeddings.forward)
    MR.ReformerOnlyLMHead.forward = scoped(HEAD, MR.ReformerOnlyLMHead.forward)
    MR.ReformerModelWithLMHead.forward = scoped(HEAD, MR.ReformerModelWithLMHead.forward)
    MR.ReformerEncoder.forward = scoped(OTHER, MR.ReformerEncoder.forward)

    orig_backward_pass = MR.ReformerLayer.backward_pass

    @functools.wraps(orig_backward_pass)
    def backward_pass(self, *a, **k):
        state["in_backward_pass"] = True
        try:
            with record_function(SCOPE + RECOMPUTE):
                return orig_backward_pass(self, *a, **k)
        finally:
            state["in_backward_pass"] = False

    MR.ReformerLayer.backward_pass = backward_pass
    for layer in model.reformer.encoder.layers:
        layer.attention.forward = recompute_aware("attention", layer.attention.forward)
        layer.feed_forward.forward = recompute_aware("feed_forward", layer.feed_forward.forward)
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.forward = scoped(LN, m.forward)
        elif isinstance(m, MR.LSHSelfAttention):
            for lin in (m.query_key, m.value):
                lin.forward = scoped(PROJ, lin.forward)
        elif isinstance(m, MR.LocalSelfAttention):
            for lin in (m.query, m.key, m.value):
                lin.forward = scoped(PROJ, lin.forward)
        elif isinstance(m, MR.ReformerSelfOutput):
            m.dense.forward = scoped(PROJ, m.dense.forward)


def by_op_name(name):
    """Phase of an op outside every scope (e.g. a custom Function's backward), from its name alone."""
    n = name.lower()
    if any(k in n for k in ("gather", "scatter", "index_select", "aten::index")):
        return GATHERS
    if "sort" in n:
        return SORT
    if "layer_norm" in n:
        return LN
    return None


def _norm(op_name):
    """aten::native_layer_norm -> nativelayernorm; NativeLayerNormBackward0 -> nativelayernorm."""
    n = op_name.split("::")[-1]
    n = re.sub(r"Backward\d*$", "", n)
    return n.replace("_", "").lower()


def attribute(events):
    """Self CPU microseconds per (phase, part), part = forward | backward | optimizer; the top ops per phase; and
    the autograd nodes whose forward op was not found (their time goes by op name, else to "other")."""
    # 1: candidates for the forward op behind each autograd node. The profiler gives every op the
    # sequence number the next autograd node will get, so ops that create no node share it with the
    # one that does: the node's name (MmBackward0 <- aten::mm) picks the right one.
    candidates = {}
    for ev in events:
        if ev.sequence_nr is None or ev.sequence_nr < 0 or ev.name.startswith(EVAL) or ev.name.startswith(SCOPE):
            continue
        node, inner = ev, None
        while node is not None and not node.name.startswith(EVAL):
            if node.name.startswith(SCOPE) and node.name[len(SCOPE):] != RECOMPUTE:
                inner = node.name[len(SCOPE):]
                break
            node = node.cpu_parent
        candidates.setdefault((ev.thread, ev.sequence_nr), []).append((_norm(ev.name), inner))

    def forward_phase(e):
        cands = candidates.get((e.fwd_thread, e.sequence_nr), [])
        want = _norm(e.name[len(EVAL):])
        for name, ph in cands:
            if name == want and ph is not None:
                return ph
        phases = {ph for _, ph in cands if ph is not None}
        return phases.pop() if len(phases) == 1 else None

    totals, top, unmatched = {}, {}, {}
    for ev in events:
        if ev.name.startswith(EVAL) and forward_phase(ev) is None:
            unmatched[ev.name[len(EVAL):]] = unmatched.get(ev.name[len(EVAL):], 0) + 1
    for ev in events:
        us = ev.self_cpu_time_total
        if us <= 0:
            continue
        node, inner, recompute, part, ph = ev, None, False, "forward", None
        while node is not None:
            name = node.name
            if name.startswith(EVAL):
                part = "backward"
                if recompute:
                    ph = RECOMPUTE
                else:
                    ph = inner or forward_phase(node) or by_op_name(ev.name) or OTHER
                break
            if name.startswith(SCOPE):
                s = name[len(SCOPE):]
                if s == RECOMPUTE:
                    recompute = True
                elif inner is None:
                    inner = s
            node = node.cpu_parent
        if ph is None:  # not inside any autograd node
            if recompute:
                ph, part = RECOMPUTE, "backward"
            else:
                ph = inner or by_op_name(ev.name) or OTHER
                if ph == OPT:
                    part = "optimizer"
        totals[(ph, part)] = totals.get((ph, part), 0.0) + us
        key = ev.name if not ev.name.startswith(SCOPE) else "(Python inside the scope)"
        top.setdefault(ph, {})
        top[ph][key] = top[ph].get(key, 0.0) + us
    return totals, top, unmatched


def child(args):
    import resource

    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    bench_hf = import_peer(args.peer_dir)
    torch.set_num_threads(args.threads)
    sys.path.insert(0, args.pkg)
    from transformers.models.reformer import modeling_reformer as MR
    from transformers.models.reformer.configuration_reformer import ReformerConfig
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    cfg_dict, cfg_src = bench_hf.load_config_dict(args.peer_dir, args.seq_len)
    cfg = ReformerConfig(**cfg_dict)
    torch.manual_seed(args.seed)
    model = MR.ReformerModelWithLMHead(cfg)
    g = torch.Generator().manual_seed(args.seed + 1)
    ids = torch.randint(1, cfg.vocab_size, (1, args.seq_len), generator=g)
    state = {"in_backward_pass": False}
    install_scopes(MR, model, state)

    opt = None
    if args.mode == "train":
        model.train()
        if args.optimizer == "sgd":
            opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        elif args.optimizer == "adamw":
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    else:
        model.eval()

    def step():
        if args.mode == "forward":
            with torch.no_grad():
                return model(input_ids=ids).logits
        with record_function(SCOPE + OPT):
            model.zero_grad(set_to_none=True)
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        if opt is not None:
            with record_function(SCOPE + OPT):
                opt.step()
        return out.loss

    load_before = os.getloadavg()
    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    step()
    plain_s = time.perf_counter() - t0
    walls = []
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            t0 = time.perf_counter()
            step()
            walls.append(time.perf_counter() - t0)
    events = prof.events()
    totals, top, unmatched = attribute(events)
    n = args.steps
    wall_ms = 1000 * sum(walls) / n
    rows = []
    for ph in PHASES:
        f = totals.get((ph, "forward"), 0.0) / 1000 / n
        b = totals.get((ph, "backward"), 0.0) / 1000 / n
        o = totals.get((ph, "optimizer"), 0.0) / 1000 / n
        t = f + b + o
        ops = sorted(top.get(ph, {}).items(), key=lambda kv: -kv[1])[:6]
        rows.append({"name": ph, "forward_ms": f, "backward_ms": b, "optimizer_ms": o, "total_ms": t,
                     "percent": 100 * t / wall_ms, "top_ops": [[k, v / 1000 / n] for k, v in ops]})
    covered = sum(r["total_ms"] for r in rows)
    rows.append({"name": OUTSIDE, "forward_ms": None, "backward_ms": None, "optimizer_ms": None,
                 "total_ms": wall_ms - covered, "percent": 100 * (wall_ms - covered) / wall_ms, "top_ops": []})
    blas = bench_hf.torch_blas_provider()
    cpu = bench_hf.cpu_info()
    meta = {
        "cpu": cpu["model_name"], "avx512f": "avx512f" in cpu["flags"], "avx2": "avx2" in cpu["flags"], "nproc": os.cpu_count(),
        "seq_len": args.seq_len, "mode": args.mode, "threads": torch.get_num_threads(), "optimizer": args.optimizer if args.mode == "train" else None,
        "steps": n, "step_ms_profiled": wall_ms, "step_ms_profiled_all": [1000 * w for w in walls], "step_ms_unprofiled": 1000 * plain_s,
        "events": len(events), "backward_nodes_unmatched": unmatched, "torch_version": torch.__version__, "hf_commit": bench_hf.HF_COMMIT, "config": cfg_src,
        "sgemm_provider": blas.get("sgemm_provider"), "openblas_core": blas.get("openblas_core"),
        "openblas_config": blas.get("openblas_config"), "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
        "load_avg_before": [round(x, 2) for x in load_before], "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print("PEER_PROFILE_RESULT " + json.dumps({"phases": rows, "meta": meta}), flush=True)


# ------------------------------------------------------------------------------------------------ parent
def fmt_ms(x):
    return "—" if x is None else (f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}")


def print_table(doc):
    m = doc["meta"]
    head = ["phase", "forward ms", "backward ms", "total ms", "%"]
    body = [[r["name"], fmt_ms(r["forward_ms"]), fmt_ms(r["backward_ms"]), fmt_ms(r["total_ms"]), f"{r['percent']:.1f}"]
            for r in doc["phases"]]
    body.append(["step (profiled wall)", "", "", fmt_ms(m["step_ms_profiled"]), "100.0"])
    w = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w[0]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(cells)).rstrip()
    print(line(head))
    print("  ".join("-" * x for x in w))
    for b in body:
        print(line(b))
    simd = "AVX-512" if m["avx512f"] else "AVX2" if m["avx2"] else "no AVX2"
    print(f"(HF ReformerModelWithLMHead @ {m['hf_commit'][:8]}, torch {m['torch_version']}, {m['mode']} at L = {m['seq_len']}, batch 1, "
          f"{m['threads']} thread(s){', optimizer ' + m['optimizer'] if m['optimizer'] else ''}; per step, mean of {m['steps']} profiled step(s); "
          f"a step without the profiler took {m['step_ms_unprofiled']:.0f} ms)")
    print(f"(CPU {m['cpu']}, {m['nproc']} cores, {simd}; BLAS: sgemm_ from {m['sgemm_provider']}, OpenBLAS core {m['openblas_core']}"
          f"{' (OPENBLAS_CORETYPE=' + m['openblas_coretype_env'] + ')' if m['openblas_coretype_env'] else ''}; "
          f"load average {', '.join(map(str, m['load_avg_before']))} before, {', '.join(map(str, m['load_avg_after']))} after)")


def main():
    args = parse_args()
    if args._child:
        child(args)
        return
    bench_hf = import_peer(args.peer_dir)
    _, env_add, drop, note = bench_hf.blas_env(args.blas, "auto", args.threads)
    env = dict(os.environ)
    for k in drop:
        env.pop(k, None)
    env.update(env_add)
    if note:
        print(f"[peer-profile] {note}", file=sys.stderr)
    cmd = [args.python, os.path.abspath(__file__), "--_child"] + [a for a in sys.argv[1:]]
    print(f"[peer-profile] {args.mode} L={args.seq_len}, {args.threads} thread(s): {bench_hf.uptime_str()}", file=sys.stderr)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    line = next((x for x in r.stdout.splitlines() if x.startswith("PEER_PROFILE_RESULT ")), None)
    if line is None:
        raise SystemExit(f"peer-profile: the child failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
    doc = json.loads(line[len("PEER_PROFILE_RESULT "):])
    print_table(doc)
    if args.json:
        tmp = args.json + f".tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
