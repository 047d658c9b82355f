/** WASM wrapper of the hashing family (kernel: assembly/hash.ts `lshHash`). */
import type { WasmDispatch } from '../../wasm/dispatch.js';
import { type LshHashParams, validateLshHash } from './params.js';

export function lshHash(d: WasmDispatch, p: LshHashParams): void {
  validateLshHash(p);
  const op = 'lshHash';
  const x = d.f(op, 'x', p.x, p.xOffset ?? 0);
  const rot = d.f(op, 'rotations', p.rotations, p.rotationsOffset ?? 0);
  const buckets = d.i(op, 'buckets', p.buckets, p.bucketsOffset ?? 0);
  const half = p.factors.reduce((s, f) => s + f / 2, 0);
  const k = d.kernels;
  const mark = d.arena.mark();
  try {
    const factorsPtr = d.arena.alloc(p.factors.length * 4);
    new Int32Array(d.arena.buffer, factorsPtr, p.factors.length).set(p.factors);
    const bytes = k.lshHashScratchBytes(p.rows, p.dHead, p.numHashes, half) >>> 0;
    const width = p.numHashes * half;
    const parts = d.partsFor(p.rows * ((p.dHead * width) / 15 + 2 * width));
    // blocks of HASH_ROW_BLOCK = 128 rows, as the kernel rotates them: the bits of one call
    d.split('lshHash', p.rows, parts, 128, bytes, (r0, r1, s) => [
      x + 4 * r0 * p.ldx,
      p.ldx,
      r1 - r0,
      p.dHead,
      rot,
      p.numHashes,
      factorsPtr,
      p.factors.length,
      half,
      buckets + 4 * r0,
      p.rows,
      s,
    ]);
  } finally {
    d.arena.release(mark);
  }
}
