/**
 * The exact oracle against HF directly: HF's short-sequence path (L <= chunk length) is exactly the
 * oracle's computation, so the oracle must reproduce `lsh_standard_attn_short_seq` and
 * `local_standard_attn_short_seq` (f32 emulation vs HF fp32, f64 vs HF float64).
 */
import { describe, expect, it } from 'vitest';
import { exactLocalAttention, exactSharedQkAttention, type OraclePrecision } from '../../src/attention/oracle.js';
import { loadFixture } from '../../spec/helpers/fixtures.js';
import { scaledError } from '../../spec/helpers/close.js';

const RTOL = 2e-5;

/** y = x·Wᵀ in float64 (plain loops), rounded to f32 for the f32 emulation. */
function project(x: Float32Array, w: Float32Array, rows: number, inDim: number, outDim: number, f32: boolean): Float64Array {
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let i = 0; i < inDim; i++) s += x[r * inDim + i]! * w[o * inDim + i]!;
      y[r * outDim + o] = f32 ? Math.fround(s) : s;
    }
  return y;
}

describe('exact oracle vs HF short-sequence fixtures', () => {
  for (const precision of ['f32', 'f64'] as OraclePrecision[]) {
    const ref = precision === 'f32' ? 'out:hidden_states' : 'ref64:out:hidden_states';
    it(`lsh_standard_attn_short_seq (${precision} vs ${ref})`, () => {
      const fx = loadFixture('lsh_standard_attn_short_seq');
      const t = fx.tensors;
      const cfg = fx.json.config;
      const [B, L, D] = t.entry('in:hidden_states').shape as [number, number, number];
      const all = cfg.num_attention_heads * cfg.attention_head_size;
      const x = t.float32('in:hidden_states');
      const f32 = precision === 'f32';
      const r = exactSharedQkAttention({
        qk: project(x, t.float32('query_key.weight'), B * L, D, all, f32),
        v: project(x, t.float32('value.weight'), B * L, D, all, f32),
        batch: B,
        seqLen: L,
        heads: cfg.num_attention_heads,
        headSize: cfg.attention_head_size,
        causal: cfg.is_decoder,
        attentionMask: t.int32('in:attention_mask'),
        precision,
      });
      expect(scaledError(r.out, t.float32(ref))).toBeLessThan(RTOL);
    });

    it(`local_standard_attn_short_seq (${precision} vs ${ref})`, () => {
      const fx = loadFixture('local_standard_attn_short_seq');
      const t = fx.tensors;
      const cfg = fx.json.config;
      const [B, L, D] = t.entry('in:hidden_states').shape as [number, number, number];
      const all = cfg.num_attention_heads * cfg.attention_head_size;
      const x = t.float32('in:hidden_states');
      const f32 = precision === 'f32';
      const r = exactLocalAttention({
        q: project(x, t.float32('query.weight'), B * L, D, all, f32),
        k: project(x, t.float32('key.weight'), B * L, D, all, f32),
        v: project(x, t.float32('value.weight'), B * L, D, all, f32),
        batch: B,
        seqLen: L,
        heads: cfg.num_attention_heads,
        headSize: cfg.attention_head_size,
        causal: cfg.is_decoder,
        attentionMask: t.int32('in:attention_mask'),
        precision,
      });
      expect(scaledError(r.out, t.float32(ref))).toBeLessThan(RTOL);
    });
  }
});
