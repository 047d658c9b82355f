/**
 * The memory estimate of the host-resident path (issue 17; `hostStreams: true`, model/memory/host-tally.ts)
 * against the WASM arena's measured high-water mark (`Arena.peakBytes`), the host arrays it counts, the
 * choice of path (`checkBackendMemory`: 'auto' takes host streams only when the arena path does not fit)
 * and the refusals naming the longest length that fits.
 */
import { describe, expect, it } from 'vitest';
import { onBackend } from '../../src/backend/host-streams.js';
import type { AttnLayerType } from '../../src/config/fields.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ResourceError } from '../../src/errors.js';
import { checkBackendMemory } from '../../src/model/memory/check.js';
import { estimateMemory } from '../../src/model/memory/estimate.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { Rng } from '../../src/util/rng.js';
import { REFERENCE_CONFIG } from '../../src/node/bench/model.js';
import { memoryTestConfig } from '../helpers/memory-config.js';

const be = loadWasmBackendSync({ threads: 1 });

function config(L: number, layers: AttnLayerType[], dropout: number): ReformerConfig {
  return memoryTestConfig(layers, L, { hidden_dropout_prob: dropout });
}

const CASES = [
  { name: 'forward, 2 layers', L: 2048, layers: ['local', 'lsh'], mode: 'forward', rows: 4096, dropout: 0 },
  { name: 'train, 2 layers', L: 2048, layers: ['local', 'lsh'], mode: 'train', rows: 4096, dropout: 0 },
  {
    name: 'train, 3 layers, blocks of 256 rows, dropout',
    L: 4096,
    layers: ['lsh', 'local', 'lsh'],
    mode: 'train',
    rows: 256,
    dropout: 0.1,
  },
] as const;

describe('host-resident streams: the estimate vs the measured WASM high-water mark', () => {
  for (const c of CASES) {
    it(`${c.name}: measured ≤ estimate ≤ 1.1 × measured + 4 MiB; host arrays counted`, () => {
      const cfg = config(c.L, [...c.layers], c.dropout);
      be.scope(() => {
        const start = be.arena.liveBytes;
        const model = new ReformerModelWithLMHead(be, cfg, { hostStreams: 'always', hostBlockRows: c.rows });
        const rng = new Rng(7);
        const ids = new Int32Array(c.L).map(() => rng.int(cfg.vocab_size));
        const batch = { inputIds: ids, batch: 1, seqLen: c.L };
        be.arena.resetPeak();
        const host = be.scope(() => {
          if (c.mode === 'forward') return model.loss(batch) !== null; // forward: checked through the estimate below
          return !onBackend(be, model.forwardBackward(batch).dEmbedding);
        });
        expect(host).toBe(true);
        const measured = be.arena.peakBytes - start;
        const est = model.memoryEstimate({ batch: 1, seqLen: c.L }, c.mode, { hostStreams: true });
        const arena = model.memoryEstimate({ batch: 1, seqLen: c.L }, c.mode);
        console.log(
          `${c.name}: measured ${measured}, estimate ${est.bytes} (×${(est.bytes / measured).toFixed(3)}), host ${est.hostBytes}, arena path ${arena.bytes}, peak at ${est.peakAt}`,
        );
        expect(est.bytes).toBeGreaterThanOrEqual(measured);
        expect(est.bytes).toBeLessThanOrEqual(1.1 * measured + 4 * 2 ** 20);
        // forward: X1, X2; training: X1, X2, dY1, dY2, dEmbedding, and one attention step's F, n, d(n) (+ mask ⊙ dOut)
        expect(est.hostBytes).toBe(4 * c.L * 64 * (c.mode === 'forward' ? 2 : 8 + (c.dropout > 0 ? 1 : 0)));
        expect(arena.hostBytes).toBe(0);
      });
    });
  }
});

describe('where the streams live, and the refusals of the host path', () => {
  const reference = ReformerConfig.fromJSON({ ...REFERENCE_CONFIG, axial_pos_shape: [1024, 1024], max_position_embeddings: 2 ** 20 });
  const L = 2 ** 20;
  const options = { batch: 1, seqLen: L, mode: 'forward' as const, head: true };

  it("'auto' keeps the arena path while it fits, and takes host streams when only they fit", () => {
    // a forward keeps X1, X2 outside the arena; a training step also dY1, dY2, dEmbedding, F(X2), n, d(n)
    expect(estimateMemory(reference, { ...options, hostStreams: true }).bytes).toBeLessThan(estimateMemory(reference, options).bytes);
    const train = { ...options, mode: 'train' as const };
    const arena = estimateMemory(reference, train).bytes;
    const host = estimateMemory(reference, { ...train, hostStreams: true }).bytes;
    expect(host).toBeLessThan(arena);
    const backend = (limit: number) => ({ name: 'test', maxBufferBytes: limit, threads: 1 });
    expect(checkBackendMemory(backend(arena), reference, { ...train, hostStreams: 'auto' }).hostStreams).toBe(false);
    expect(checkBackendMemory(backend(arena - 1), reference, { ...train, hostStreams: 'auto' }).hostStreams).toBe(true);
    expect(checkBackendMemory(backend(arena), reference, { ...train, hostStreams: 'always' }).hostStreams).toBe(true);
    expect(() => checkBackendMemory(backend(arena - 1), reference, { ...train, hostStreams: 'never' })).toThrow(ResourceError);
    expect(() => checkBackendMemory(backend(host - 1), reference, { ...train, hostStreams: 'auto' })).toThrow(ResourceError);
    // store-activations keeps every layer in the arena: never host streams
    expect(() => checkBackendMemory(backend(arena - 1), reference, { ...train, reversible: false, hostStreams: 'auto' })).toThrow(
      ResourceError,
    );
    // no limit (reference backend): host arrays only when asked for
    expect(checkBackendMemory({ name: 'ref' }, reference, { ...train, hostStreams: 'auto' }).hostStreams).toBe(false);
    expect(checkBackendMemory({ name: 'ref' }, reference, { ...train, hostStreams: 'always' }).hostStreams).toBe(true);
  });

  it('a host path that does not fit is refused with the longest length that fits (WASM part and host budget)', () => {
    const train = { ...options, mode: 'train' as const };
    let msg = '';
    try {
      checkBackendMemory({ name: 'wasm', maxBufferBytes: 2 ** 32, threads: 1 }, reference, {
        ...train,
        hostStreams: 'always',
        hostBudgetBytes: 2 ** 33,
      });
    } catch (e) {
      expect(e).toBeInstanceOf(ResourceError);
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/a training step of batch 1 × 1048576 tokens with host-resident streams needs about [\d.]+ GiB of WASM memory/);
    expect(msg).toMatch(/plus 8\.00 GiB of host arrays/);
    expect(msg).toMatch(/and 8\.00 GiB of host memory in all; use a sequence length of at most \d+ on this machine/);
    const fit = Number(/at most (\d+)/.exec(msg)![1]);
    const e = estimateMemory(reference, { ...train, seqLen: fit, hostStreams: true });
    expect(e.bytes).toBeLessThanOrEqual(2 ** 32);
    expect(e.bytes + e.hostBytes).toBeLessThanOrEqual(2 ** 33);
    // 'auto' where neither fits (2^22 tokens): the arena path's refusal, with the host path's longest length besides
    expect(() =>
      checkBackendMemory({ name: 'wasm', maxBufferBytes: 2 ** 32, threads: 1 }, reference, {
        ...train,
        seqLen: 2 ** 22,
        hostStreams: 'auto',
      }),
    ).toThrow(
      /needs about [\d.]+ GiB .*; with host-resident streams \(options\.hostStreams\), a sequence length of at most \d+ fits this machine/,
    );
  });
});
