/**
 * A classifier trained by our CLI (`reformer train --task classify`) loads STRICTLY into HuggingFace's
 * `ReformerForSequenceClassification` (transformers' modeling_reformer.py on PyTorch, the peer package
 * of shared/peer-pytorch: `load_state_dict(strict=True)`, no missing or unexpected key) and gives our
 * logits and loss within the HF fixture rule (max|ours − HF| ≤ 2e-5·max(1, max|HF|)), on a padded
 * batch, with the same LSH rotations on both sides (HF's torch.randn calls are served ours by
 * hf_seqcls_check.py). A control with other rotations must miss the rule, so the check can fail.
 *
 * Needs torch + the HF package: `/usr/bin/python3` (or $REFORMER_PYTHON) with `import torch`, and the
 * package at $ORACLE_PKG (default $TMPDIR/reformer-peer-pytorch/hfpkg, made by
 * shared/peer-pytorch/install.sh). Without them the test is skipped and says why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../../src/backend/reference.js';
import type { Backend } from '../../../src/backend/backend.js';
import { compareFloats, DEFAULT_CONFORMANCE_RTOL } from '../../../src/conformance/runner.js';
import { modelFromCheckpoint } from '../../../src/model/heads/checkpoint.js';
import { ReformerForSequenceClassification } from '../../../src/model/heads/sequence-classification.js';
import { loadWasmBackendSync } from '../../../src/node/wasm.js';
import { padBatch } from '../../../src/train/tasks/batching.js';
import { ByteTokenizer } from '../../../src/train/tokenizer.js';
import { Rng } from '../../../src/util/rng.js';
import { cli, REPO } from '../../cli/helpers.js';
import { tinyClassifierConfig } from '../../helpers/tiny-classifier.js';

const PYTHON = process.env.REFORMER_PYTHON ?? '/usr/bin/python3';
const PKG = process.env.ORACLE_PKG ?? join(process.env.TMPDIR ?? '/tmp', 'reformer-peer-pytorch', 'hfpkg');
const SCRIPT = join(import.meta.dirname, 'hf_seqcls_check.py');

/** Why the HF check cannot run here, or null when it can. */
function unavailable(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (set REFORMER_PYTHON)`;
  const probe = 'import sys; sys.path.insert(0, sys.argv[1]); import numpy, torch; import transformers.models.reformer.modeling_reformer';
  const r = spawnSync(PYTHON, ['-c', probe, PKG], { encoding: 'utf8' });
  if (r.status !== 0) {
    const last = `${r.stderr ?? ''}`.trim().split('\n').at(-1) ?? 'failed';
    return `torch + HF's Reformer not importable with ${PYTHON} and ORACLE_PKG=${PKG} (${last}); see shared/peer-pytorch/README.md`;
  }
  return null;
}
const reason = unavailable();
if (reason) console.log(`skipping the HF strict-load check: ${reason}`);

const dir = mkdtempSync(join(tmpdir(), 'reformer-hf-roundtrip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string): string => join(dir, name);

// local + LSH layers (2 hash rounds), bidirectional, axial positions 4×8 = 32 tokens; larger initial
// weights than HF's 0.02 so attention is far from uniform and a wrong rotation shows in the logits
const CONFIG = tinyClassifierConfig({ num_hashes: 2, initializer_range: 0.3, axial_norm_std: 0.3 });
const TEXTS = [
  ['the cat sat on the warm mat today', 'cat'],
  ['a dog ran', 'dog'],
  ['the bird sang a song all morning long', 'bird'],
  ['cats nap', 'cat'],
] as const;

interface HfResult {
  ok: boolean;
  error?: string;
  num_labels: number;
  problem_type: string;
  parameters: number;
  rotations_served: number[][];
  logits: number[];
  logits_shape: number[];
  loss: number;
}

function runHf(checkpoint: string, inputs: unknown): HfResult {
  writeFileSync(p('inputs.json'), JSON.stringify(inputs));
  const r = spawnSync(PYTHON, [SCRIPT, '--pkg', PKG, '--checkpoint', checkpoint, '--inputs', p('inputs.json')], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    timeout: 120_000,
  });
  const line = `${r.stdout ?? ''}`.trim().split('\n').at(-1) ?? '';
  if (!line.startsWith('{')) throw new Error(`hf_seqcls_check.py failed (status ${r.status}): ${r.stderr}`);
  return JSON.parse(line) as HfResult;
}

/** Standard-normal rotations for every LSH layer: [heads, head_size, num_hashes, num_buckets/2] (HF's layout). */
function rotations(model: ReformerForSequenceClassification, seed: number): Array<Float64Array | null> {
  const c = model.config;
  const rng = new Rng(seed);
  const nb = c.num_buckets;
  const rot = typeof nb === 'number' ? nb : (nb as number[]).reduce((a, b) => a + b, 0);
  return c.attn_layers.map((t) => {
    if (t !== 'lsh') return null;
    const r = new Float64Array(c.num_attention_heads * c.attention_head_size * c.num_hashes * (rot / 2));
    for (let i = 0; i < r.length; i++) r[i] = rng.normal();
    return r;
  });
}

describe.skipIf(reason !== null)('HF ReformerForSequenceClassification loads our classifier strictly', () => {
  it('train --task classify → load_state_dict(strict=True) in HF → the same logits and loss', async () => {
    writeFileSync(p('config.json'), JSON.stringify(CONFIG));
    const rng = new Rng(7);
    const lines = Array.from({ length: 24 }, () => {
      const [text, label] = TEXTS[rng.int(TEXTS.length)]!;
      return JSON.stringify({ text, label });
    });
    writeFileSync(p('train.jsonl'), `${lines.join('\n')}\n`);
    const tr = await cli([
      'train',
      '--task',
      'classify',
      '--data',
      p('train.jsonl'),
      '--config',
      p('config.json'),
      '--steps',
      '6',
      '--batch',
      '4',
      '--lr',
      '1e-2',
      '--eval-every',
      '0',
      '--val-fraction',
      '0',
      '--backend',
      'reference',
      '--out',
      p('clf'),
    ]);
    expect(tr.code, tr.stderr.text).toBe(0);
    const ck = p('clf/checkpoint');
    const config = JSON.parse(readFileSync(join(ck, 'config.json'), 'utf8'));
    expect(config.architectures).toEqual(['ReformerForSequenceClassification']);
    expect(config.id2label).toEqual({ 0: 'bird', 1: 'cat', 2: 'dog' });

    // a padded batch of three texts (12 to 32 tokens) and their labels
    const tok = new ByteTokenizer();
    const texts = ['the cat sat on the mat', 'a dog ran far away and back to the yard', 'birds'];
    const batch = padBatch(
      texts.map((t) => tok.encode(new TextEncoder().encode(t)).slice(0, 32)),
      32,
      config.pad_token_id ?? 0,
    );
    expect(batch.attentionMask).not.toBeNull();
    const labels = Int32Array.from([1, 2, 0]);

    const backends: Array<[string, () => Backend]> = [['reference f32', () => new ReferenceBackend()]];
    if (existsSync(join(REPO, 'build', 'kernels.simd.wasm'))) backends.push(['wasm', () => loadWasmBackendSync()]);
    const files = {
      config: new Uint8Array(readFileSync(join(ck, 'config.json'))),
      safetensors: new Uint8Array(readFileSync(join(ck, 'model.safetensors'))),
    };
    const ours = (be: Backend, seed: number) => {
      const model = modelFromCheckpoint(be, files);
      expect(model).toBeInstanceOf(ReformerForSequenceClassification);
      const m = model as ReformerForSequenceClassification;
      const rot = rotations(m, seed);
      const ev = be.scope(() => {
        const injected = rot.map((x) => {
          if (!x) return null;
          const f = be.floats(x.length);
          f.set(x);
          return f;
        });
        const r = m.evaluate(batch, labels, { rotations: injected });
        return { logits: Float64Array.from(r.logits), loss: r.loss! };
      });
      return { ...ev, rot, model: m };
    };
    const inputs = (rot: Array<Float64Array | null>, model: ReformerForSequenceClassification) => ({
      input_ids: Array.from({ length: 3 }, (_, b) => Array.from(batch.inputIds.subarray(b * 32, (b + 1) * 32))),
      attention_mask: Array.from({ length: 3 }, (_, b) => Array.from(batch.attentionMask!.subarray(b * 32, (b + 1) * 32))),
      labels: Array.from(labels),
      rotations: rot.map((r) => {
        if (!r) return null;
        const { num_attention_heads: H, attention_head_size: d, num_hashes: R } = model.config;
        return { shape: [H, d, R, r.length / (H * d * R)], data: Array.from(r) };
      }),
    });

    const ref = ours(new ReferenceBackend(), 11);
    const hf = runHf(ck, inputs(ref.rot, ref.model));
    expect(hf.ok, hf.error).toBe(true);
    expect(hf.num_labels).toBe(3);
    expect(hf.problem_type).toBe('single_label_classification');
    expect(hf.logits_shape).toEqual([3, 3]);
    expect(hf.rotations_served).toEqual([[2, 16, 2, 2]]);
    const hfLogits = Float64Array.from(hf.logits);
    for (const [name, make] of backends) {
      const o = name === 'reference f32' ? ref : ours(make(), 11);
      const cmp = compareFloats('out:eval.logits', 'out:eval.logits', hfLogits, o.logits, DEFAULT_CONFORMANCE_RTOL, true);
      const lossCmp = compareFloats('out:eval.loss', 'out:eval.loss', Float64Array.of(hf.loss), [o.loss], DEFAULT_CONFORMANCE_RTOL, true);
      console.log(
        `HF strict load (${hf.parameters} tensors) + logits, ${name}: scaled error ${cmp.scaledError?.toExponential(2)} (logits up to ${Math.max(...hf.logits.map(Math.abs)).toFixed(3)}), loss ${lossCmp.scaledError?.toExponential(2)}`,
      );
      expect(cmp.passed, `${name}: ${cmp.detail ?? ''}`).toBe(true);
      expect(lossCmp.passed, `${name}: loss ours ${o.loss} vs HF ${hf.loss}`).toBe(true);
    }
    // the control: HF with other rotations gives logits outside the rule, so the comparison above can fail
    const other = rotations(ref.model, 12);
    const hf2 = runHf(ck, inputs(other, ref.model));
    const miss = compareFloats(
      'out:eval.logits',
      'out:eval.logits',
      Float64Array.from(hf2.logits),
      ref.logits,
      DEFAULT_CONFORMANCE_RTOL,
      true,
    );
    expect(miss.passed, `other rotations changed the logits by only ${miss.maxAbsError}`).toBe(false);
  }, 180_000);

  it('a checkpoint with a foreign tensor fails the strict load in HF', async () => {
    // the model of the first test, with one extra tensor appended to the safetensors header
    const ck = p('clf/checkpoint');
    const bytes = new Uint8Array(readFileSync(join(ck, 'model.safetensors')));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    const dataLen = bytes.length - 8 - n;
    header['classifier.extra.weight'] = { dtype: 'F32', shape: [1], data_offsets: [dataLen, dataLen + 4] };
    let h = JSON.stringify(header);
    h += ' '.repeat((8 - (h.length % 8)) % 8);
    const hb = new TextEncoder().encode(h);
    const out = new Uint8Array(8 + hb.length + dataLen + 4);
    new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
    out.set(hb, 8);
    out.set(bytes.subarray(8 + n), 8 + hb.length);
    const bad = p('bad');
    rmSync(bad, { recursive: true, force: true });
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'model.safetensors'), out);
    writeFileSync(join(bad, 'config.json'), readFileSync(join(ck, 'config.json')));
    const hf = runHf(bad, { input_ids: [[2]], attention_mask: null, labels: [0], rotations: [] });
    expect(hf.ok).toBe(false);
    expect(hf.error).toMatch(/Unexpected key\(s\) in state_dict: "classifier\.extra\.weight"/);
  }, 60_000);
});
