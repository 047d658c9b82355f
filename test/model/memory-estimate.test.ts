/**
 * The memory estimate (model/memory.ts) against the WASM arena's measured high-water mark
 * (`Arena.peakBytes`), and the refusal of runs that cannot fit the 4 GiB WASM memory.
 *
 * The estimate replays the model's allocations, so it must be an upper bound of the measured peak and
 * close to it (kernel scratch is the only part counted with an allowance).
 */
import { describe, expect, it } from 'vitest';
import type { AttnLayerType } from '../../src/config/fields.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ResourceError } from '../../src/errors.js';
import { encoderParameterCount, estimateMemory, lmParameterCount } from '../../src/model/memory/estimate.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { ReformerModel } from '../../src/model/reformer-model.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';
import { memoryTestConfig } from '../helpers/memory-config.js';

const be = loadWasmBackendSync({ threads: 1 });

interface Case {
  name: string;
  L: number;
  batch: number;
  layers: AttnLayerType[];
  mode: 'forward' | 'train';
  reversible: boolean;
  padding: boolean;
  ffChunk: number;
  lmChunk: number;
  numBuckets: number | null;
}

function config(c: Case): ReformerConfig {
  return memoryTestConfig(c.layers, c.L, {
    num_buckets: c.numBuckets,
    local_attention_probs_dropout_prob: 0,
    chunk_size_feed_forward: c.ffChunk,
    chunk_size_lm_head: c.lmChunk,
  });
}

const base: Case = {
  name: '',
  L: 2048,
  batch: 1,
  layers: ['local', 'lsh'],
  mode: 'forward',
  reversible: true,
  padding: false,
  ffChunk: 0,
  lmChunk: 0,
  numBuckets: null,
};
const CASES: Case[] = [
  { ...base, name: 'forward, 2 layers' },
  { ...base, name: 'forward, batch 2, padding, 4 layers', batch: 2, padding: true, layers: ['lsh', 'local', 'lsh', 'local'] },
  { ...base, name: 'forward, LM-head and feed-forward chunks', ffChunk: 100, lmChunk: 300, numBuckets: 16 },
  { ...base, name: 'train, reversible', mode: 'train' },
  {
    ...base,
    name: 'train, reversible, batch 2, padding, 3 layers',
    mode: 'train',
    batch: 2,
    padding: true,
    layers: ['lsh', 'local', 'lsh'],
  },
  { ...base, name: 'train, store-activations', mode: 'train', reversible: false },
  {
    ...base,
    name: 'train, store-activations, chunked feed-forward, 4 layers',
    mode: 'train',
    reversible: false,
    ffChunk: 256,
    layers: ['local', 'lsh', 'local', 'lsh'],
  },
  { ...base, name: 'train, short sequence (one chunk)', mode: 'train', L: 32 },
];

describe('memory estimate vs the measured WASM high-water mark', () => {
  for (const c of CASES) {
    it(`${c.name}: measured ≤ estimate ≤ 1.1 × measured + 4 MiB`, () => {
      const cfg = config(c);
      be.scope(() => {
        const start = be.arena.liveBytes;
        const model = new ReformerModelWithLMHead(be, cfg, { reversible: c.reversible });
        const rng = new Rng(7);
        const n = c.batch * c.L;
        const ids = new Int32Array(n).map(() => rng.int(cfg.vocab_size));
        const mask = c.padding ? new Int32Array(n).map((_, i) => (i % c.L < c.L - 5 ? 1 : 0)) : null;
        const batch = { inputIds: ids, batch: c.batch, seqLen: c.L, attentionMask: mask };
        be.arena.resetPeak();
        be.scope(() => (c.mode === 'forward' ? model.loss(batch) : model.lossAndGrad(batch)));
        const measured = be.arena.peakBytes - start; // from the model's parameters on
        const est = estimateMemory(cfg, { batch: c.batch, seqLen: c.L, mode: c.mode, reversible: c.reversible, padding: c.padding });
        console.log(
          `${c.name}: measured ${measured}, estimate ${est.bytes} (×${(est.bytes / measured).toFixed(3)}), peak at ${est.peakAt}`,
        );
        expect(est.bytes).toBeGreaterThanOrEqual(measured);
        expect(est.bytes).toBeLessThanOrEqual(1.1 * measured + 4 * 2 ** 20);
        expect(est.parameterBytes).toBe(2 * Math.ceil((4 * lmParameterCount(cfg)) / 64) * 64);
      });
    });
  }

  // the bare encoder: forward() holds the whole output (and, in training, the caller's dOutput for
  // backward()); forwardRows / trainRows stream it
  const ENCODER: Array<{ name: string; call: 'forward' | 'forwardRows' | 'trainRows'; training: boolean; reversible: boolean; c: Case }> = [
    { name: 'encoder forward() (eval)', call: 'forward', training: false, reversible: true, c: base },
    { name: 'encoder forward() + backward(), reversible', call: 'forward', training: true, reversible: true, c: base },
    {
      name: 'encoder forward() + backward(), store-activations, padding, 3 layers',
      call: 'forward',
      training: true,
      reversible: false,
      c: { ...base, padding: true, layers: ['lsh', 'local', 'lsh'] },
    },
    { name: 'encoder forwardRows()', call: 'forwardRows', training: false, reversible: true, c: { ...base, batch: 2 } },
    { name: 'encoder trainRows(), reversible', call: 'trainRows', training: true, reversible: true, c: base },
  ];
  for (const e of ENCODER) {
    it(`${e.name}: measured ≤ estimate ≤ 1.1 × measured + 4 MiB`, () => {
      const { c } = e;
      const cfg = config(c);
      be.scope(() => {
        const start = be.arena.liveBytes;
        const model = new ReformerModel(be, cfg, { options: { reversible: e.reversible } });
        const rng = new Rng(7);
        const n = c.batch * c.L;
        const ids = new Int32Array(n).map(() => rng.int(cfg.vocab_size));
        const mask = c.padding ? new Int32Array(n).map((_, i) => (i % c.L < c.L - 5 ? 1 : 0)) : null;
        const input = { inputIds: ids, batch: c.batch, seqLen: c.L, attentionMask: mask, training: e.training };
        be.arena.resetPeak();
        be.scope(() => {
          if (e.call === 'forwardRows') model.forwardRows(input, () => {});
          else if (e.call === 'trainRows') model.trainRows(input, (_r0, _n, h, dh) => dh!.set(h));
          else {
            const fwd = model.forward(input);
            if (e.training) model.backward(fwd, be.floats(fwd.output.length).fill(0.01));
          }
        });
        const measured = be.arena.peakBytes - start;
        const est = estimateMemory(cfg, {
          batch: c.batch,
          seqLen: c.L,
          mode: e.training ? 'train' : 'forward',
          reversible: e.reversible,
          padding: c.padding,
          head: false,
          materializeOutput: e.call === 'forward',
        });
        console.log(
          `${e.name}: measured ${measured}, estimate ${est.bytes} (×${(est.bytes / measured).toFixed(3)}), peak at ${est.peakAt}`,
        );
        expect(est.bytes).toBeGreaterThanOrEqual(measured);
        expect(est.bytes).toBeLessThanOrEqual(1.1 * measured + 4 * 2 ** 20);
        expect(est.parameterBytes).toBe(2 * Math.ceil((4 * encoderParameterCount(cfg)) / 64) * 64);
      });
    });
  }

  it('reversible memory hardly grows with depth; store-activations grows by at least the two streams per layer', () => {
    const at = (layers: number, reversible: boolean): number => {
      const cfg = config({ ...base, L: 65536, layers: Array.from({ length: layers }, (_, i) => (i % 2 ? 'lsh' : 'local')) });
      const e = estimateMemory(cfg, { batch: 1, seqLen: 65536, mode: 'train', reversible });
      return e.bytes - e.parameterBytes;
    };
    expect(at(12, true)).toBeLessThan(1.1 * at(2, true));
    expect(at(12, false) - at(2, false)).toBeGreaterThan(10 * 2 * 65536 * 64 * 4);
  });
});

describe('runs that cannot fit the 4 GiB WASM memory are refused before anything is allocated', () => {
  const reference = new ReformerConfig({
    vocab_size: 256,
    hidden_size: 256,
    num_attention_heads: 4,
    attention_head_size: 64,
    feed_forward_size: 1024,
    attn_layers: ['local', 'lsh'],
    lsh_attn_chunk_length: 64,
    local_attn_chunk_length: 64,
    num_hashes: 4,
    num_buckets: null,
    is_decoder: true,
    axial_pos_embds: true,
    axial_pos_shape: [1024, 1024],
    axial_pos_embds_dim: [64, 192],
    max_position_embeddings: 2 ** 20,
    hidden_dropout_prob: 0,
    local_attention_probs_dropout_prob: 0,
  });

  it('a 2^20-token training step: ResourceError with the estimate, the limit and the ways out', () => {
    be.scope(() => {
      const model = new ReformerModelWithLMHead(be, reference, { hostStreams: 'never' });
      const live = be.arena.liveBytes;
      const L = 2 ** 20;
      let err: unknown = null;
      try {
        model.lossAndGrad({ inputIds: new Int32Array(L), batch: 1, seqLen: L });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ResourceError);
      const msg = (err as Error).message;
      expect(msg).toMatch(/training step of batch 1 × 1048576 tokens needs about [\d.]+ GiB/);
      expect(msg).toMatch(/more than .*\(4\.00 GiB\)/);
      expect(msg).toMatch(/use a sequence length of at most \d+/);
      expect(msg).toMatch(/evaluation only \(a forward needs [\d.]+ GiB\)/);
      expect(be.arena.liveBytes).toBe(live); // nothing allocated
      // the suggested length does fit
      const fit = Number(/at most (\d+)/.exec(msg)![1]);
      expect(estimateMemory(reference, { batch: 1, seqLen: fit, mode: 'train' }).bytes).toBeLessThanOrEqual(be.maxBufferBytes);
    });
  });

  it("the default ('auto') takes host-resident streams for a 2^20-token training step, and refuses 2^22 naming the longest length", () => {
    const model = new ReformerModelWithLMHead(be, reference);
    const live = be.arena.liveBytes;
    expect(model.usesHostStreams({ batch: 1, seqLen: 2 ** 20 }, 'train')).toBe(true);
    expect(model.usesHostStreams({ batch: 1, seqLen: 2 ** 16 }, 'train')).toBe(false);
    expect(() => model.usesHostStreams({ batch: 1, seqLen: 2 ** 22 }, 'train')).toThrow(
      /training step of batch 1 × 4194304 tokens needs about [\d.]+ GiB.*with host-resident streams \(options\.hostStreams\), a sequence length of at most \d+ fits/,
    );
    expect(be.arena.liveBytes).toBe(live); // nothing allocated
  });

  it('the 2^20-token evaluation forward is estimated to fit (2 streams of 1 GiB + per-head temporaries)', () => {
    const e = estimateMemory(reference, { batch: 1, seqLen: 2 ** 20, mode: 'forward' });
    expect(e.bytes).toBeLessThan(be.maxBufferBytes);
    expect(e.bytes).toBeGreaterThan(2 * 2 ** 30);
  });

  it('the bare encoder: a 2^20-token training forward (with its backward) is refused before anything is allocated; forwardRows is not', () => {
    be.scope(() => {
      const model = new ReformerModel(be, reference, { options: { hostStreams: 'never' } });
      const arenaOnly = model;
      const live = be.arena.liveBytes;
      const L = 2 ** 20;
      const input = { inputIds: new Int32Array(L), batch: 1, seqLen: L, training: true };
      expect(() => model.forward(input)).toThrow(ResourceError);
      expect(() => model.trainRows(input, () => {})).toThrow(
        /training step of batch 1 × 1048576 tokens needs about [\d.]+ GiB.*more than .*\(4\.00 GiB\); use a sequence length of at most \d+/,
      );
      expect(be.arena.liveBytes).toBe(live);
      // an eval forward that holds the whole output does not fit the arena either (with host-resident
      // streams, the default 'auto' would run it, as it would the training step); the streamed one is estimated to
      expect(() => arenaOnly.forward({ ...input, training: false })).toThrow(/a forward of batch 1 × 1048576 tokens/);
      // the encoder has no LM head: its phases are not named after one (its peak here is the final LayerNorm)
      expect(estimateMemory(reference, { batch: 1, seqLen: L, mode: 'forward', head: false, materializeOutput: true }).peakAt).toBe(
        'final LayerNorm (streamed)',
      );
      expect(be.arena.liveBytes).toBe(live);
      expect(estimateMemory(reference, { batch: 1, seqLen: L, mode: 'forward', head: false }).bytes).toBeLessThan(be.maxBufferBytes);
    });
  });

  it('a batch too large for evaluation suggests the largest batch that fits', () => {
    be.scope(() => {
      const model = new ReformerModelWithLMHead(be, reference);
      const L = 2 ** 18;
      expect(() => model.loss({ inputIds: new Int32Array(8 * L), batch: 8, seqLen: L })).toThrow(
        /a forward of batch 8 × 262144 tokens needs about .* use .*a batch of at most [1-7]\b/,
      );
    });
  });
});
