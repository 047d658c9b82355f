/** WASM wrapper of the hash-round family (kernel: assembly/rounds.ts `lshRoundCombine`). */
import type { WasmDispatch } from '../../wasm/dispatch.js';
import { type LshRoundCombineParams, validateLshRoundCombine } from './params.js';

export function lshRoundCombine(d: WasmDispatch, p: LshRoundCombineParams): void {
  validateLshRoundCombine(p);
  const op = 'lshRoundCombine';
  const pos = d.i(op, 'pos', p.pos, p.posOffset ?? 0);
  const out = d.f(op, 'roundOut', p.roundOut, p.roundOutOffset ?? 0);
  const lse = d.f(op, 'roundLse', p.roundLse, p.roundLseOffset ?? 0);
  const acc = d.f(op, 'acc', p.acc, p.accOffset ?? 0);
  const stats = d.f(op, 'stats', p.stats, p.statsOffset ?? 0);
  const ldOut = p.ldRoundOut ?? p.d;
  const ldAcc = p.ldAcc ?? p.d;
  // row ranges: the positions of one call are distinct (validated), so the parts write disjoint
  // acc rows and stats entries, each computed from its own row only
  d.split('lshRoundCombine', p.rows, d.partsFor(p.rows * (p.d + 60)), 16, 0, (r0, r1) => [
    r1 - r0,
    p.d,
    p.first ? 1 : 0,
    p.last ? 1 : 0,
    pos + 4 * r0,
    out + 4 * r0 * ldOut,
    ldOut,
    lse + 4 * r0,
    acc,
    ldAcc,
    stats,
  ]);
}
