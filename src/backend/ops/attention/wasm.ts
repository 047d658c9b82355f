/**
 * WASM wrappers of the chunked-attention family (kernels: assembly/attention.ts). The kernels take the
 * dropout as `dropThreshold` (0: none; else floor(prob·2^32), u32) and `dropScale` 1/(1 − prob)
 * (dropout.ts); the backward's `partition` 1 makes a call own chunks [chunkBegin, chunkEnd) (race-free,
 * bit-identical thread splits), 0 its query chunks only.
 */
import { ResourceError } from '../../../errors.js';
import type { WasmDispatch } from '../../wasm/dispatch.js';
import { dropoutThreshold } from './dropout.js';
import {
  type ChunkAttentionBackwardParams,
  type ChunkAttentionForwardParams,
  type ChunkAttentionParams,
  validateChunkBackward,
  validateChunkForward,
} from './params.js';

export function chunkAttentionForward(d: WasmDispatch, p: ChunkAttentionForwardParams): void {
  validateChunkForward(p);
  const op = 'chunkAttentionForward';
  const c = chunkCommon(d, op, p);
  const out = d.f(op, 'out', p.out, p.outOffset ?? 0);
  const lse = d.f(op, 'lse', p.lse, p.lseOffset ?? 0);
  const k = d.kernels;
  const bytes = scratchBytes(d, op, k.chunkAttentionScratchBytes(p.d, p.chunkLength, p.numChunksBefore, p.numChunksAfter, 0));
  const window = (p.numChunksBefore + 1 + p.numChunksAfter) * p.chunkLength;
  const parts = d.partsFor(((c.end - c.begin) * p.chunkLength * window * p.d) / 7.5);
  // query chunk ranges: each chunk's rows are written by one call, computed as in one call
  d.split('chunkAttentionForward', c.end - c.begin, parts, 1, bytes, (c0, c1, s) => [
    p.n,
    p.d,
    p.chunkLength,
    p.numChunksBefore,
    p.numChunksAfter,
    c.q,
    c.ldq,
    c.k,
    c.ldk,
    c.v,
    c.ldv,
    c.pos,
    c.keyValid,
    p.causal ? 1 : 0,
    p.maskValue,
    c.hasSelf,
    c.selfValue,
    c.paper,
    c.seqLen,
    c.numHashes,
    c.rowBase,
    c.begin + c0,
    c.begin + c1,
    out,
    p.ldOut ?? p.d,
    lse,
    s,
    c.dropSeed,
    c.dropThreshold,
    c.dropScale,
  ]);
}

export function chunkAttentionBackward(d: WasmDispatch, p: ChunkAttentionBackwardParams): void {
  validateChunkBackward(p);
  const op = 'chunkAttentionBackward';
  const c = chunkCommon(d, op, p);
  const lse = d.f(op, 'lse', p.lse, p.lseOffset ?? 0);
  const dOut = d.f(op, 'dOut', p.dOut, p.dOutOffset ?? 0);
  const dLse = p.dLse ? d.f(op, 'dLse', p.dLse, p.dLseOffset ?? 0) : 0;
  const dq = d.f(op, 'dq', p.dq, p.qOffset ?? 0);
  const dk = d.f(op, 'dk', p.dk, p.kOffset ?? 0);
  const dv = d.f(op, 'dv', p.dv, p.vOffset ?? 0);
  const k = d.kernels;
  const bytes = scratchBytes(d, op, k.chunkAttentionScratchBytes(p.d, p.chunkLength, p.numChunksBefore, p.numChunksAfter, 1));
  const numChunks = p.chunkLength > 0 ? p.n / p.chunkLength : 0;
  const window = (p.numChunksBefore + 1 + p.numChunksAfter) * p.chunkLength;
  // only a call over all chunks is split: in partition mode each part owns a chunk range (dq rows of
  // its query chunks, dk/dv rows of its key chunks) and recomputes the few neighbouring query chunks
  // whose windows reach into it, so parts write disjoint rows in the order of one call
  const all = c.begin === 0 && c.end === numChunks;
  const parts = all ? d.partsFor((p.n * window * p.d) / 3, 2) : 1;
  const partition = parts > 1 ? 1 : 0;
  d.split('chunkAttentionBackward', c.end - c.begin, parts, 1, bytes, (c0, c1, s) => [
    p.n,
    p.d,
    p.chunkLength,
    p.numChunksBefore,
    p.numChunksAfter,
    c.q,
    c.ldq,
    c.k,
    c.ldk,
    c.v,
    c.ldv,
    c.pos,
    c.keyValid,
    p.causal ? 1 : 0,
    p.maskValue,
    c.hasSelf,
    c.selfValue,
    c.paper,
    c.seqLen,
    c.numHashes,
    c.rowBase,
    c.begin + c0,
    c.begin + c1,
    lse,
    dOut,
    p.ldOut ?? p.d,
    dLse,
    dq,
    dk,
    dv,
    s,
    c.dropSeed,
    c.dropThreshold,
    c.dropScale,
    partition,
  ]);
}

/**
 * The kernel's scratch size (a double: [chunk, window] scores grow with chunk_length²) checked against what
 * the memory can hold, so a huge chunk gets a ResourceError naming it instead of a trap.
 */
function scratchBytes(d: WasmDispatch, op: string, bytes: number): number {
  const perThread = Math.ceil(bytes / 64) * 64;
  const need = perThread * d.threads;
  if (need > d.maxBufferBytes) {
    throw new ResourceError(
      `${op}: one call needs ${need} bytes of scratch (${d.threads} thread(s) × ${perThread}: scores [chunk, window]), more ` +
        `than the ${d.maxBufferBytes} bytes one WebAssembly memory holds; use a shorter lsh_attn_chunk_length / ` +
        'local_attn_chunk_length (the scratch grows with its square) or fewer threads',
    );
  }
  return bytes;
}

function chunkCommon(d: WasmDispatch, op: string, p: ChunkAttentionParams) {
  const drop = p.dropout && p.dropout.prob > 0 ? p.dropout : null;
  return {
    dropSeed: drop ? drop.seed >>> 0 : 0,
    dropThreshold: drop ? dropoutThreshold(drop.prob) : 0,
    dropScale: drop ? 1 / (1 - drop.prob) : 1,
    q: d.f(op, 'q', p.q, p.qOffset ?? 0),
    k: d.f(op, 'k', p.k, p.kOffset ?? 0),
    v: d.f(op, 'v', p.v, p.vOffset ?? 0),
    ldq: p.ldq ?? p.d,
    ldk: p.ldk ?? p.d,
    ldv: p.ldv ?? p.d,
    pos: d.i(op, 'pos', p.pos),
    keyValid: p.keyValid ? d.i(op, 'keyValid', p.keyValid) : 0,
    hasSelf: p.selfMaskValue !== null ? 1 : 0,
    selfValue: p.selfMaskValue ?? 0,
    paper: p.paper ? d.i(op, 'paper.buckets', p.paper.buckets) : 0,
    seqLen: p.paper ? p.paper.seqLen : 0,
    numHashes: p.paper ? p.paper.numHashes : 0,
    rowBase: p.rowBase ?? 0,
    begin: p.chunkBegin ?? 0,
    end: p.chunkEnd ?? (p.chunkLength > 0 ? p.n / p.chunkLength : 0),
  };
}
