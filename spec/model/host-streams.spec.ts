/**
 * Law: host-resident residual streams (issue 17; `ReformerOptions.hostStreams`, src/backend/host-streams.ts)
 * compute exactly the bits of the arena path. The same model and input run with the streams in the
 * backend's memory (`hostStreams: 'never'`) and forced to plain JS arrays outside it (`'always'`, with
 * row blocks of 4 to 4096 rows streamed through the arena), and every value is compared with `Object.is`
 * (so −0 ≠ +0, NaN = NaN): the evaluation loss, the encoder output and buckets of `ReformerModel.forward`,
 * and of a training step the loss, every parameter gradient and dEmbedding. Cases: LSH and local layers
 * (1–3), 1–3 hashes, causal or not, padding masks, hidden and attention dropout, feed-forward chunks,
 * L = 256 … 2048, batch 1–2; WASM (1 thread, freed memory poisoned with NaN) and the reference backend
 * (f32; there host arrays are ordinary buffers, so this checks the restructured calls).
 * Also: the host path on 1 thread equals 2 and 3 threads (every operation split), as the arena path does
 * (spec/kernels/threads.spec.ts).
 *
 * The comparison can fail: a host path that adds the attention output through a zeroed temporary, or
 * runs the streamed LayerNorm backward's row blocks out of order (WASM), is caught.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { onBackend } from '../../src/backend/host-streams.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import type { AttnLayerType } from '../../src/config/fields.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { ReformerModel } from '../../src/model/reformer-model.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { runs } from '../helpers/runs.js';

const wasm = loadWasmBackendSync({ threads: 1, poisonFreed: true });
const f32 = new ReferenceBackend({ dtype: 'f32' });
const shared = { shared: true, poisonFreed: true } as const;
const wasmOne = loadWasmBackendSync({ ...shared, threads: 1 });
const wasmMany: WasmBackend[] = [
  loadWasmBackendSync({ ...shared, threads: 3, spinMs: 0.05, parallel: { minWorkNs: 0, partWorkNs: 0 } }),
  loadWasmBackendSync({ ...shared, threads: 2, spinMs: 0.05, parallel: { minWorkNs: 0, partWorkNs: Infinity } }),
];
afterAll(() => {
  for (const be of wasmMany) be.close();
});

interface HostCase {
  readonly config: ReformerConfig;
  readonly batch: number;
  readonly seqLen: number;
  readonly ids: Int32Array;
  readonly mask: Int32Array | null;
  readonly seed: number;
  readonly hostBlockRows: number;
}

function arbHostCase(maxLen: number, causalOnly = true): fc.Arbitrary<HostCase> {
  return fc
    .record({
      layers: fc.array(fc.constantFrom<AttnLayerType>('lsh', 'local'), { minLength: 1, maxLength: 3 }),
      heads: fc.integer({ min: 1, max: 2 }),
      headSize: fc.constantFrom(4, 8),
      hidden: fc.constantFrom(8, 16),
      ff: fc.constantFrom(12, 32),
      lshChunk: fc.constantFrom(32, 64),
      localChunk: fc.constantFrom(32, 64),
      numHashes: fc.integer({ min: 1, max: 3 }),
      causal: causalOnly ? fc.constant(true) : fc.boolean(),
      dropout: fc.constantFrom(0, 0.1),
      attnDropout: fc.constantFrom(0, 0.1),
      ffChunk: fc.constantFrom(0, 100),
      lenLog: fc.integer({ min: 8, max: Math.log2(maxLen) }),
      batch: fc.integer({ min: 1, max: 2 }),
      padded: fc.boolean(),
      padLen: fc.integer({ min: 1, max: 40 }),
      hostBlockRows: fc.constantFrom(4, 12, 64, 4096),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    })
    .map((r) => {
      const L = 2 ** r.lenLog;
      const config = new ReformerConfig({
        vocab_size: 11,
        hidden_size: r.hidden,
        num_attention_heads: r.heads,
        attention_head_size: r.headSize,
        feed_forward_size: r.ff,
        attn_layers: r.layers,
        lsh_attn_chunk_length: r.lshChunk,
        local_attn_chunk_length: r.localChunk,
        lsh_num_chunks_before: 1,
        local_num_chunks_before: 1,
        lsh_num_chunks_after: r.causal ? 0 : 1,
        local_num_chunks_after: r.causal ? 0 : 1,
        num_hashes: r.numHashes,
        num_buckets: null,
        is_decoder: r.causal,
        hidden_act: 'gelu',
        axial_pos_embds: false,
        max_position_embeddings: L,
        hidden_dropout_prob: r.dropout,
        lsh_attention_probs_dropout_prob: r.attnDropout,
        local_attention_probs_dropout_prob: r.attnDropout,
        chunk_size_feed_forward: r.ffChunk,
        chunk_size_lm_head: 0,
        initializer_range: 0.5,
        pad_token_id: 0,
        eos_token_id: 1,
      });
      let s = r.seed >>> 0;
      const next = (n: number): number => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return s % n;
      };
      const ids = new Int32Array(r.batch * L);
      const mask = r.padded ? new Int32Array(r.batch * L).fill(1) : null;
      for (let i = 0; i < ids.length; i++) ids[i] = next(11);
      if (mask) for (let t = L - r.padLen; t < L; t++) mask[(r.batch - 1) * L + t] = 0; // the last element pads its tail
      return { config, batch: r.batch, seqLen: L, ids, mask, seed: r.seed, hostBlockRows: r.hostBlockRows };
    });
}

/** Every element identical (`Object.is`), naming the first one that is not. */
function expectIdentical(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) expect.fail(`${what}[${i}]: host ${got[i]} vs arena ${want[i]}`);
  }
}

interface StepResult {
  readonly loss: number;
  readonly grads: Float64Array;
  readonly dEmb: Float64Array;
  /** true if the streams ran outside the backend's memory */
  readonly host: boolean;
}

function trainStep(be: Backend, c: HostCase, hostStreams: 'never' | 'always'): StepResult {
  return be.scope(() => {
    const model = new ReformerModelWithLMHead(be, c.config, { seed: c.seed, hostStreams, hostBlockRows: c.hostBlockRows });
    const r = model.forwardBackward({ inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask });
    const host = !onBackend(be, r.dEmbedding);
    return { loss: r.loss, grads: Float64Array.from(model.grads), dEmb: Float64Array.from(r.dEmbedding), host };
  });
}

function expectSameStep(got: StepResult, want: StepResult, what: string): void {
  expect(Object.is(got.loss, want.loss), `${what}: loss ${got.loss} vs ${want.loss}`).toBe(true);
  expectIdentical(got.grads, want.grads, `${what}: gradients`);
  expectIdentical(got.dEmb, want.dEmb, `${what}: dEmbedding`);
}

describe('host-resident streams compute the bits of the arena path', () => {
  for (const [name, be, maxLen, n] of [
    ['WASM', wasm, 2048, 10],
    ['reference f32', f32, 512, 4],
  ] as const) {
    it(`evaluation: the loss, the encoder output and the buckets (${name})`, () => {
      fc.assert(
        fc.property(arbHostCase(maxLen, false), (c) => {
          const run = (hostStreams: 'never' | 'always') =>
            be.scope(() => {
              const opts = { seed: c.seed, hostStreams, hostBlockRows: c.hostBlockRows };
              const batch = { inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask };
              const loss = c.config.is_decoder ? new ReformerModelWithLMHead(be, c.config, opts).loss(batch).loss : 0;
              const enc = new ReformerModel(be, c.config, { options: opts });
              const out = enc.forward({ inputIds: c.ids, batch: c.batch, seqLen: c.seqLen, attentionMask: c.mask, training: false });
              return {
                loss,
                output: Float64Array.from(out.output),
                embedding: Float64Array.from(out.embedding),
                buckets: out.buckets.map((b) => (b ? Array.from(b) : null)),
                host: !onBackend(be, out.embedding),
              };
            });
          const arena = run('never');
          const host = run('always');
          if (be === wasm) {
            expect(arena.host).toBe(false);
            expect(host.host).toBe(true);
          }
          expect(Object.is(host.loss, arena.loss), `loss ${host.loss} vs ${arena.loss}`).toBe(true);
          expectIdentical(host.output, arena.output, 'encoder output');
          expectIdentical(host.embedding, arena.embedding, 'embedding output');
          expect(host.buckets).toEqual(arena.buckets);
        }),
        { numRuns: runs(n) },
      );
    });

    it(`training step: the loss, every parameter gradient and dEmbedding (${name})`, () => {
      fc.assert(
        fc.property(arbHostCase(maxLen), (c) => {
          const arena = trainStep(be, c, 'never');
          const host = trainStep(be, c, 'always');
          if (be === wasm) {
            expect(arena.host).toBe(false);
            expect(host.host).toBe(true);
          }
          expectSameStep(host, arena, name);
        }),
        { numRuns: runs(n) },
      );
    });
  }

  it('host path: 1 thread equals 2 and 3 threads (every operation split), and the arena path', () => {
    fc.assert(
      fc.property(arbHostCase(1024), (c) => {
        const want = trainStep(wasmOne, c, 'always');
        expectSameStep(want, trainStep(wasmOne, c, 'never'), '1 thread, host vs arena');
        for (const be of wasmMany) expectSameStep(trainStep(be, c, 'always'), want, `${be.threads} threads`);
      }),
      { numRuns: runs(4) },
    );
  });
});
