/** WASM wrappers of the softmax family (kernels: assembly/softmax.ts). */
import type { WasmDispatch } from '../../wasm/dispatch.js';
import { type SoftmaxBackwardParams, type SoftmaxParams, validateSoftmax, validateSoftmaxBackward } from './params.js';

export function softmaxRows(d: WasmDispatch, p: SoftmaxParams): void {
  validateSoftmax(p);
  const op = 'softmaxRows';
  const sp = d.f(op, 's', p.s, p.sOffset ?? 0);
  const pp = d.f(op, 'p', p.p, p.pOffset ?? 0);
  const lse = d.f(op, 'lse', p.lse, p.lseOffset ?? 0);
  d.split('softmaxRows', p.rows, d.partsFor(p.rows * (p.cols * 4 + 20)), 1, 0, (r0, r1) => [
    r1 - r0,
    p.cols,
    sp + 4 * r0 * p.lds,
    p.lds,
    pp + 4 * r0 * p.ldp,
    p.ldp,
    lse + 4 * r0,
  ]);
}

export function softmaxRowsBackward(d: WasmDispatch, p: SoftmaxBackwardParams): void {
  validateSoftmaxBackward(p);
  const op = 'softmaxRowsBackward';
  const pp = d.f(op, 'p', p.p, p.pOffset ?? 0);
  const dp = d.f(op, 'dp', p.dp, p.dpOffset ?? 0);
  const dlse = p.dlse ? d.f(op, 'dlse', p.dlse, p.dlseOffset ?? 0) : 0;
  const ds = d.f(op, 'ds', p.ds, p.dsOffset ?? 0);
  d.split('softmaxRowsBackward', p.rows, d.partsFor(p.rows * (p.cols * 2 + 10)), 1, 0, (r0, r1) => [
    r1 - r0,
    p.cols,
    pp + 4 * r0 * p.ldp,
    p.ldp,
    dp + 4 * r0 * p.lddp,
    p.lddp,
    dlse ? dlse + 4 * r0 : 0,
    ds + 4 * r0 * p.ldds,
    p.ldds,
  ]);
}
