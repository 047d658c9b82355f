/**
 * The counter the memory estimate replays the model's allocations on (see estimate.ts), and the sizes
 * of one run. Everything is f32/i32: 4 bytes, each buffer rounded up to the arena's 64-byte alignment.
 */
import { bucketCount, resolveNumBuckets, rotationHalfSize } from '../../config/buckets.js';
import type { ReformerConfig } from '../../config/reformer-config.js';
import { chunkAttentionScratchBytes } from '../../backend/ops/attention/scratch.js';
import type { ChunkSpec } from '../../attention/config.js';
import { gemmRowBlock, reductionBlock } from '../../backend/host-streams.js';

/** Depth of the packed GEMM's panels (assembly/gemm.ts KC): where a streamed reduction is cut. */
const GEMM_KC = 256;
/** Bytes of allocation alignment in the arena. */
const ALIGN = 64;
/** Allowance for one GEMM call's scratch per thread: the packed GEMM's panels, (KC·NC + MC·KC + 32)·4 bytes. */
export const GEMM_SCRATCH_BYTES = (256 * 2048 + 96 * 256 + 32) * 4;
/** Rows the LSH hashing kernel rotates at a time (assembly/hash.ts HASH_ROW_BLOCK upper bound used here). */
const HASH_ROW_BLOCK = 4096;

/** Live-bytes counter with stack scopes, mirroring `Backend.floats/ints/scope` of the model code. */
export class Tally {
  live = 0;
  peak = 0;
  peakAt = '';
  where = '';

  /** n floats or ints (4 bytes each), 64-byte aligned. */
  buf(n: number): void {
    this.live += Math.ceil((4 * Math.max(0, n)) / ALIGN) * ALIGN;
    this.bump();
  }

  /** n buffers of `size` elements. */
  bufs(count: number, size: number): void {
    for (let i = 0; i < count; i++) this.buf(size);
  }

  /** A transient of `bytes` (kernel scratch), freed at once. */
  scratch(bytes: number): void {
    this.scope(() => {
      this.live += Math.ceil(bytes / ALIGN) * ALIGN;
      this.bump();
    });
  }

  scope(fn: () => void): void {
    const mark = this.live;
    fn();
    this.live = mark;
  }

  /** Names the phase for `peakAt`. */
  phase(name: string, fn: () => void): void {
    const prev = this.where;
    this.where = name;
    fn();
    this.where = prev;
  }

  private bump(): void {
    if (this.live > this.peak) {
      this.peak = this.live;
      this.peakAt = this.where;
    }
  }
}

/** Sizes of one run. */
export interface Dims {
  readonly cfg: ReformerConfig;
  readonly B: number;
  /** padded length */
  readonly L: number;
  readonly rows: number;
  readonly D: number;
  readonly H: number;
  readonly d: number;
  readonly all: number;
  readonly F: number;
  readonly V: number;
  readonly R: number;
  readonly mask: boolean;
  readonly threads: number;
  /** bytes of one GEMM call's scratch over all threads */
  readonly scratch: number;
  /**
   * Host-resident streams (`hostStreams`): rows per host ↔ arena block (`blockRowsOf(hostBlockRows)`);
   * undefined on the arena path. The block tallies then count the stream copies instead of the [rows, D]
   * buffers that live on the host.
   */
  readonly hostRows?: number;
}

/** Host path: rows of the arena block of C (or A) of a row-streamed GEMM over `m` rows (gemmStreamRows: a short tail joins). */
export function hostGemmRows(m: Dims, rows: number): number {
  return Math.min(rows, gemmRowBlock(m.hostRows ?? rows) + 8);
}

/**
 * Host path: rows of the largest k block of a GEMM reducing over `k` host rows (gemmStreamK), an upper
 * bound: the whole k where the kernel cannot cut the product (assembly/gemm.ts `useDirect`: k·n ≤ 128K
 * elements or m ≤ 8 without transB), else two blocks (a tail too short to stand alone joins the last).
 */
export function hostKRows(m: Dims, rowsOut: number, n: number, k: number): number {
  if (k * n <= 128 * 1024 || rowsOut <= 8) return k;
  return Math.min(k, 2 * reductionBlock(GEMM_KC, m.hostRows ?? k));
}

/** Effective chunking of an attention type at length L (the short path is one chunk of L). */
export function chunkAt(spec: ChunkSpec, L: number): { c: number; before: number; after: number; short: boolean } {
  if (L <= spec.chunkLength) return { c: L, before: 0, after: 0, short: true };
  return { c: spec.chunkLength, before: spec.numChunksBefore, after: spec.numChunksAfter, short: false };
}

/** Scratch of one chunk-attention call over all threads (each split part's thread has its own). */
export function attentionScratch(m: Dims, k: { c: number; before: number; after: number }, backward: boolean): number {
  const one = Math.ceil(chunkAttentionScratchBytes(m.d, k.c, k.before, k.after, backward) / ALIGN) * ALIGN;
  return one * m.threads;
}

export function rotationHalf(m: Dims): number {
  return rotationHalfSize(resolveNumBuckets(m.cfg, m.L));
}

/** N_eff of the LSH layers at this length (1 on the short path, which does not hash). */
export function bucketsPerRound(m: Dims, short: boolean): number {
  if (short) return 1;
  return bucketCount(resolveNumBuckets(m.cfg, m.L)) + (m.mask ? 1 : 0);
}

/** lshHash scratch: one block of rotated rows plus the GEMM's. */
export function hashScratch(m: Dims): number {
  return Math.min(m.L, HASH_ROW_BLOCK) * m.R * rotationHalf(m) * 4 + m.scratch;
}
