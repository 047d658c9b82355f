/**
 * The demo page's library code in Node (web/src/lib): the LSH picture agrees with the core's quality
 * report (the attended sets computed two ways), buckets and sorted chunks are consistent, live
 * training learns and its checkpoint round-trips, generation streams the core's tokens, the hash
 * separates arrays that differ in one bit.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { lmFromCheckpoint } from '../../src/model/checkpoint.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { generateTokens } from '../../src/train/generate.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';
import { novelExcerpt } from '../../web/src/lib/excerpt.js';
import { streamTokens } from '../../web/src/lib/generation.js';
import { hashArrays } from '../../web/src/lib/hash.js';
import { byteLabels, LshAnalysis, qualityByRounds } from '../../web/src/lib/lsh-view.js';
import { checkpointFiles, trainLive } from '../../web/src/lib/training.js';

const REPO = join(import.meta.dirname, '..', '..');
const MODEL = join(REPO, 'web', 'public', 'model');
const shipped = () => ({ config: readFileSync(join(MODEL, 'config.json')), safetensors: readFileSync(join(MODEL, 'model.safetensors')) });
const excerpt = novelExcerpt(readFileSync(join(REPO, 'data', 'crime-and-punishment.txt'), 'utf8'));

describe('LSH picture', () => {
  const lm = lmFromCheckpoint(loadWasmBackendSync({ variant: 'simd', threads: 1 }), shipped());
  const bytes = new TextEncoder().encode(excerpt).subarray(0, 320);

  it('buckets, sorted chunks and the per-query recall agree with attentionQualityReport', () => {
    for (const numHashes of [1, 3]) {
      const a = new LshAnalysis(lm, bytes, { layer: 1, numHashes, seed: 5 });
      const p = a.picture;
      expect(p.seqLen).toBe(320); // a multiple of the chunk length 64
      expect(p.labels).toHaveLength(320);
      const L = p.seqLen;
      for (let h = 0; h < p.heads; h++) {
        for (let n = 0; n < numHashes; n++) {
          const round = p.sortedPositions.subarray((h * numHashes + n) * L, (h * numHashes + n + 1) * L);
          expect([...round].sort((x, y) => x - y)).toEqual(Array.from({ length: L }, (_, i) => i)); // a permutation per round
          const b = (t: number) => p.buckets[(h * numHashes + n) * L + t]!;
          for (let s = 1; s < L; s++) {
            expect(b(round[s]!)).toBeGreaterThanOrEqual(b(round[s - 1]!)); // sorted by bucket,
            if (b(round[s]!) === b(round[s - 1]!)) expect(round[s]!).toBeGreaterThan(round[s - 1]!); // then position
          }
          for (let t = 0; t < L; t++) expect(b(t) >= 0 && b(t) < p.numBuckets).toBe(true);
        }
      }
      // the mean over every query of the page's recall == the core report's mean recall (same rotations)
      let sum = 0;
      for (let h = 0; h < p.heads; h++) for (let t = 0; t < L; t++) sum += a.query(h, t).recall;
      expect(sum / (p.heads * L)).toBeCloseTo(p.quality.meanMassRecall, 10);
      const [row] = qualityByRounds(lm, bytes, 1, 5, [numHashes]);
      expect(row).toEqual(p.quality);
      // a query sees its own chunk and the one before, in each round
      const q = a.query(0, 200);
      expect(q.rounds).toHaveLength(numHashes);
      for (const r of q.rounds) expect(r.window).toEqual([(r.chunk - 1 + (numHashes * L) / 64) % ((numHashes * L) / 64), r.chunk]);
      expect(q.exact.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 12);
      for (let j = 201; j < L; j++) expect(q.exact[j]).toBe(0); // causal
    }
  });

  it('refuses local layers, short text and bad rounds with the field named', () => {
    expect(() => new LshAnalysis(lm, bytes, { layer: 0, numHashes: 1, seed: 0 })).toThrow(/layer.*0 is not an LSH layer.*LSH: 1/);
    expect(() => new LshAnalysis(lm, bytes.subarray(0, 100), { layer: 1, numHashes: 1, seed: 0 })).toThrow(
      /text.*holds 100 bytes.*at least 128/,
    );
    expect(() => new LshAnalysis(lm, bytes, { layer: 1, numHashes: 0, seed: 0 })).toThrow(/num_hashes/);
  });

  it('labels a multi-byte character at its first byte', () => {
    expect(byteLabels(new TextEncoder().encode('a’b'))).toEqual(['a', '’', '', '', 'b']);
  });
});

describe('live training', () => {
  it('lowers the loss on the text and writes a checkpoint that loads back with the same logits', async () => {
    const be = loadWasmBackendSync({ variant: 'simd', threads: 1 });
    const steps: number[] = [];
    const { model, result, validation } = await trainLive(
      be,
      { text: excerpt, steps: 25, lr: 0.003, seed: 1 },
      { onStep: (s) => void steps.push(s.loss) },
    );
    expect(result.step).toBe(25);
    expect(validation).toBe(true); // 6 KB of text: the last 10% is more than a window
    expect(steps[24]!).toBeLessThan(steps[0]! - 0.5);
    const files = checkpointFiles(model, result.step);
    const back = lmFromCheckpoint(be, files);
    const ids = new ByteTokenizer().encode('Sonia went to');
    const a = be.scope(() => Array.from(model.logits({ inputIds: ids, batch: 1, seqLen: ids.length })));
    const b = be.scope(() => Array.from(back.logits({ inputIds: ids, batch: 1, seqLen: ids.length })));
    expect(b).toEqual(a);
  });

  it('refuses text shorter than a window and bad steps', async () => {
    const be = new ReferenceBackend();
    await expect(trainLive(be, { text: 'short', steps: 5, lr: 0.003, seed: 1 })).rejects.toThrow(/text.*holds 5 bytes.*at least 257/);
    await expect(trainLive(be, { text: excerpt, steps: 0, lr: 0.003, seed: 1 })).rejects.toThrow(/steps/);
  });
});

describe('generation stream and hash', () => {
  it('streams exactly the core generator’s tokens, with tokens/s', () => {
    const be = loadWasmBackendSync({ variant: 'simd', threads: 1 });
    const request = { prompt: 'Raskolnikov ', maxNewTokens: 12, temperature: 0.8, topK: 40, seed: 3 };
    const got = [...streamTokens(lmFromCheckpoint(be, shipped()), request)];
    const want = [
      ...generateTokens(lmFromCheckpoint(be, shipped()), new ByteTokenizer().encode(request.prompt), { ...request, suppressIds: [0] }),
    ];
    expect(got.filter((t) => t.id >= 0).map((t) => t.id)).toEqual(want);
    expect(got.map((t) => t.text).join('')).toBe(new ByteTokenizer().decode(want));
    expect(got.every((t) => t.tokensPerSecond > 0)).toBe(true);
  });

  it('hashArrays: equal bits, equal hash; one flipped bit or another split, another hash', () => {
    const a = Float32Array.of(1, 2, 3);
    expect(hashArrays([a])).toBe(hashArrays([Float32Array.of(1, 2, 3)]));
    const b = Float32Array.from(a);
    new Uint32Array(b.buffer)[1]! ^= 1;
    expect(hashArrays([b])).not.toBe(hashArrays([a]));
    expect(hashArrays([Float32Array.of(1), Float32Array.of(2, 3)])).not.toBe(hashArrays([a]));
    expect(hashArrays([a])).toMatch(/^[0-9a-f]{16}$/);
  });
});
