/**
 * bench/peer-profile.py's attribution of profiler events to the phases of bench/profile-phases.json,
 * on a hand-made event tree (no torch needed, only a python3): innermost scope wins; the backward op
 * of an autograd node goes to the phase of the forward op that created it, matched by sequence number
 * and the node's name when several forward ops share the number; everything run again inside
 * `backward_pass` outside nested backward calls is the reversible recompute; the optimizer scope has
 * its own part. Also: the script's phase list is the shared file's.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../cli/helpers.js';

const SCRIPT = join(REPO, 'bench', 'peer-profile.py');
const hasPython = spawnSync('python3', ['-c', 'print(1)'], { encoding: 'utf8' }).stdout?.trim() === '1';

const PY = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("pp", sys.argv[1])
pp = importlib.util.module_from_spec(spec); spec.loader.exec_module(pp)
class Ev:
    def __init__(self, name, us, parent=None, seq=-1, thread=1, fwd_thread=1):
        self.name, self.self_cpu_time_total, self.cpu_parent = name, us, parent
        self.sequence_nr, self.thread, self.fwd_thread = seq, thread, fwd_thread
S, E = pp.SCOPE, pp.EVAL
ev = []
def add(*a, **k):
    e = Ev(*a, **k); ev.append(e); return e
ff = add(S + "feed-forward GEMMs", 1)
add("aten::mm", 100, ff, seq=10)
ln = add(S + "LayerNorm", 0, ff)
add("aten::dropout", 5, ff, seq=11)          # creates no node: shares seq 11 with layer_norm
add("aten::native_layer_norm", 20, ln, seq=11)
e1 = add(E + "MmBackward0", 2, seq=10)
add("aten::mm", 200, e1)
e2 = add(E + "NativeLayerNormBackward0", 1, seq=11)
add("aten::native_layer_norm_backward", 30, e2)
e3 = add(E + "_ReversibleFunctionBackward", 1, seq=5)
rc = add(S + "reversible recompute", 0, e3)
att = add(S + "chunk attention", 0, rc)
add("aten::bmm", 50, att, seq=20)
add("aten::sub", 7, rc)
e4 = add(E + "BmmBackward0", 1, rc, seq=20)
add("aten::bmm", 70, e4)
e5 = add(E + "torch::autograd::AccumulateGrad", 1)
add("aten::add_", 3, e5)
opt = add(S + "optimizer", 0)
add("aten::add_", 4, opt)
add("aten::gather", 9)                        # outside every scope: by its name
totals, top, unmatched = pp.attribute(ev)
print(json.dumps({"totals": {f"{k[0]}|{k[1]}": v for k, v in sorted(totals.items())}, "unmatched": unmatched, "phases": pp.PHASES}))
`;

describe.skipIf(!hasPython)('bench/peer-profile.py attribution', () => {
  it('scopes, backward by creator, recompute, optimizer, name fallback', () => {
    const r = spawnSync('python3', ['-c', PY, SCRIPT], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      totals: Record<string, number>;
      unmatched: Record<string, number>;
      phases: string[];
    };
    expect(out.totals).toEqual({
      'chunk attention|backward': 1 + 70,
      'feed-forward GEMMs|backward': 2 + 200,
      'feed-forward GEMMs|forward': 1 + 100 + 5,
      'gathers/scatters|forward': 9,
      'LayerNorm|backward': 1 + 30,
      'LayerNorm|forward': 20,
      'optimizer|optimizer': 4,
      'other|backward': 1 + 1 + 3,
      'reversible recompute|backward': 50 + 7,
    });
    expect(out.unmatched).toEqual({ _ReversibleFunctionBackward: 1, 'torch::autograd::AccumulateGrad': 1 });
    const shared = JSON.parse(readFileSync(join(REPO, 'bench', 'profile-phases.json'), 'utf8')) as { phases: { name: string }[] };
    expect(out.phases).toEqual(shared.phases.map((p) => p.name));
  });
});
