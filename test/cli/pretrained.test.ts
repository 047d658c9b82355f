/**
 * Published-style HF folders end to end through the CLI: the crime-and-punishment-shaped checkpoint
 * (test/fixtures/hf-pretrained: 2020 config.json with legacy keys, pytorch_model.bin in the zip and the
 * legacy format) with the SentencePiece model next to it — `generate`, `eval`, `convert`; the unsafe
 * pickles refused; and fine-tuning (`train --checkpoint`) of a tiny SentencePiece model written as a
 * legacy pytorch_model.bin, resumed, sampled and evaluated with its tokenizer (eval's split of the run's
 * data, and a damaged trainer state).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { parseSafetensors } from '../../src/io/safetensors.js';
import { readPytorchCheckpoint } from '../../src/io/pytorch/checkpoint.js';
import { lmFromCheckpoint } from '../../src/model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { loadCheckpoint } from '../../src/node/checkpoint.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece/tokenizer.js';
import { validationLength } from '../../src/train/data.js';
import { generateTokens } from '../../src/train/generate.js';
import { PRETRAINED_DIR, readFixture } from '../io/hf-pretrained.js';
import { type TorchTensor, torchLegacy } from '../helpers/torch-writer.js';
import { cli, CORPUS } from './helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'reformer-pretrained-'));

/** An HF folder: config.json + pytorch_model.bin of the fixture (`format`), and spiece.model unless told not to. */
function hfFolder(format: 'zip' | 'legacy', spiece = true): string {
  const dir = join(tmp(), `cp-${format}`);
  mkdirSync(dir);
  for (const f of ['config.json', 'pytorch_model.bin']) copyFileSync(join(PRETRAINED_DIR, format, f), join(dir, f));
  if (spiece) copyFileSync(join(PRETRAINED_DIR, 'spiece.model'), join(dir, 'spiece.model'));
  return dir;
}

/** A few paragraphs of the novel. */
function novelSample(bytes: number): string {
  const p = join(tmp(), 'sample.txt');
  writeFileSync(p, readFileSync(CORPUS).subarray(200_000, 200_000 + bytes));
  return p;
}

const PROMPT = 'Raskolnikov looked at Sonia';

describe('the crime-and-punishment-shaped folder (pytorch_model.bin + spiece.model)', () => {
  it('generate runs end to end with the SentencePiece tokenizer: the same text as the library computes', async () => {
    const dir = hfFolder('zip');
    const r = await cli(['generate', '--checkpoint', dir, '--prompt', PROMPT, '--max-new-tokens', '12', '--temperature', '0']);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stderr.text).toContain('note: weights read from pytorch_model.bin (PyTorch zip format)');
    expect(r.stderr.text).toContain(
      "note: config.json: num_chunks_before 1 (2020 key: chunks each chunk attends to before it) is ignored, as by HF's ReformerConfig",
    );
    // the library: same weights, same tokenizer, greedy decoding of 12 tokens, the same special ids
    const tok = SentencePieceTokenizer.fromModelBytes(readFixture('spiece.model'));
    const lm = lmFromCheckpoint(new ReferenceBackend(), {
      config: readFixture('zip', 'config.json'),
      safetensors: readPytorchCheckpoint(readFixture('zip', 'pytorch_model.bin')).tensors,
    });
    const prompt = tok.encode(PROMPT);
    const ids = [...generateTokens(lm, prompt, { maxNewTokens: 12, temperature: 0, suppressIds: [0, 1], stopAfter: (x) => x === 2 })];
    expect(ids.length).toBeGreaterThan(0);
    const d = tok.streamDecoder(prompt);
    const want = ids.map((id) => d.push(id)).join('') + d.flush();
    expect(r.stdout.text).toBe(want);
    expect(r.stdout.text.length).toBeGreaterThan(0);
  });

  it('eval reports tokens and bits per byte = nats per token / ln 2 × tokens / bytes', async () => {
    const dir = hfFolder('legacy');
    const data = novelSample(1500);
    const r = await cli(['eval', '--checkpoint', dir, '--data', data, '--seq-len', '128']);
    expect(r.code, r.stderr.text).toBe(0);
    const out = r.stdout.text;
    const m = /tokenizer: sentencepiece \(320 pieces\): ([\d,]+) tokens, ([\d.]+) bytes per token/.exec(out);
    expect(m, out).not.toBeNull();
    const tokens = Number(m![1]!.replaceAll(',', ''));
    expect(tokens).toBe(SentencePieceTokenizer.fromModelBytes(readFixture('spiece.model')).encode(readFileSync(data)).length);
    const loss = Number(/loss: ([\d.]+) nats per token/.exec(out)![1]);
    const bpb = Number(/bits_per_byte: ([\d.]+)/.exec(out)![1]);
    expect(bpb).toBeCloseTo((loss / Math.LN2) * (tokens / 1500), 4);
    expect(out).toMatch(/scored \d+ tokens/);
  });

  it('convert writes model.safetensors (same tensors), the config.json as it was and spiece.model; the result generates the same text', async () => {
    const src = hfFolder('legacy');
    const out = join(tmp(), 'converted');
    const c = await cli(['convert', src, out]);
    expect(c.code, c.stderr.text).toBe(0);
    expect(c.stdout.text).toMatch(/read: .*: pytorch_model\.bin \(PyTorch legacy format\), 77 tensors, 2,748,544 values/);
    const converted = parseSafetensors(new Uint8Array(readFileSync(join(out, 'model.safetensors'))));
    const original = readPytorchCheckpoint(readFixture('legacy', 'pytorch_model.bin')).tensors;
    expect(converted.names().sort()).toEqual(original.names().sort());
    for (const n of original.names())
      expect(Buffer.from(converted.entry(n).bytes).equals(Buffer.from(original.entry(n).bytes)), n).toBe(true);
    expect(converted.metadata.format).toBe('pt');
    expect(readFileSync(join(out, 'config.json'))).toEqual(readFileSync(join(src, 'config.json')));
    expect(readFileSync(join(out, 'spiece.model'))).toEqual(readFileSync(join(src, 'spiece.model')));
    expect(loadCheckpoint(out).manifest).not.toBeNull();
    const args = ['--prompt', PROMPT, '--max-new-tokens', '6', '--temperature', '0'];
    const a = await cli(['generate', '--checkpoint', src, ...args]);
    const b = await cli(['generate', '--checkpoint', out, ...args]);
    expect(b.code).toBe(0);
    expect(b.stdout.text).toBe(a.stdout.text);
    const again = await cli(['convert', src, out]);
    expect(again.code).toBe(2);
    expect(again.stderr.text).toMatch(/is not empty; give a new folder/);
  });

  it('without spiece.model a 320-id model is refused, naming the file to add', async () => {
    const r = await cli(['generate', '--checkpoint', hfFolder('zip', false), '--prompt', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr.lines()).toHaveLength(1);
    expect(r.stderr.text).toMatch(/vocab_size 320 but the folder has no spiece\.model/);
  });

  for (const format of ['zip', 'legacy'] as const) {
    it(`the unsafe ${format} pickle: exit 2, one line naming __builtin__.print, nothing printed`, async () => {
      const dir = join(PRETRAINED_DIR, 'unsafe', format);
      for (const argv of [
        ['generate', '--checkpoint', dir, '--prompt', 'x'],
        ['convert', dir, join(tmp(), 'out')],
      ]) {
        const r = await cli(argv);
        expect(r.code).toBe(2);
        expect(r.stdout.text).toBe('');
        expect(r.stderr.lines()).toHaveLength(1);
        expect(r.stderr.text).toMatch(/FormatError: .*global __builtin__\.print is not allowed/);
      }
    });
  }
});

describe('train --checkpoint: fine-tuning a SentencePiece model from a legacy pytorch_model.bin', () => {
  /** A tiny causal Reformer of the spiece.model's vocabulary, as an HF folder with a 2020 config. */
  function tinyFolder(): string {
    const config = new ReformerConfig({
      vocab_size: 320,
      hidden_size: 16,
      num_attention_heads: 2,
      attention_head_size: 8,
      feed_forward_size: 32,
      attn_layers: ['local', 'lsh'],
      local_attn_chunk_length: 8,
      lsh_attn_chunk_length: 8,
      num_buckets: 4,
      is_decoder: true,
      axial_pos_shape: [4, 8],
      axial_pos_embds_dim: [8, 8],
      max_position_embeddings: 32,
      eos_token_id: 2,
      pad_token_id: 0,
      num_chunks_before: 1,
      seed: null,
    });
    const lm = new ReformerModelWithLMHead(new ReferenceBackend(), config, { seed: 3 });
    const tensors: TorchTensor[] = lm.parameters.entries.map((e, i) => ({
      name: e.name,
      key: String(9000 + i),
      dtype: 'F32',
      storage: new Uint8Array(Float32Array.from(lm.parameters.param(e.name)).buffer),
      shape: e.shape,
    }));
    const bias = tensors.find((t) => t.name === 'lm_head.bias')!;
    tensors.push({ ...bias, name: 'lm_head.decoder.bias' }); // tied: the same storage
    const dir = join(tmp(), 'tiny-hf');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), config.toJSONString());
    writeFileSync(join(dir, 'pytorch_model.bin'), torchLegacy(tensors));
    copyFileSync(join(PRETRAINED_DIR, 'spiece.model'), join(dir, 'spiece.model'));
    return dir;
  }

  it('trains on SentencePiece tokens, keeps spiece.model in the run, resumes, and samples with it', async () => {
    const src = tinyFolder();
    const data = novelSample(6000);
    const run = join(tmp(), 'ft');
    const common = ['--data', data, '--eval-every', '0', '--eval-windows', '2', '--backend', 'reference'];
    const t = await cli(['train', '--checkpoint', src, '--out', run, '--steps', '3', '--batch', '2', ...common]);
    expect(t.code, t.stderr.text + t.stdout.text).toBe(0);
    expect(t.stdout.text).toContain(`fine-tuning ${src}`);
    expect(t.stdout.text).toMatch(/tokenizer: sentencepiece \(320 pieces\), [\d.]+ bytes per token/);
    expect(t.stdout.text).toMatch(/batch 2 × 32 tokens/);
    expect(existsSync(join(run, 'checkpoint', 'spiece.model'))).toBe(true);
    const state = JSON.parse(readFileSync(join(run, 'checkpoint', 'trainer_state.json'), 'utf8'));
    expect(state.extra.tokenizer).toBe('sentencepiece');
    expect(state.extra.finetuned_from).toBe(src);
    expect(state.step).toBe(3);
    // the weights moved away from the pretrained ones
    const before = readPytorchCheckpoint(new Uint8Array(readFileSync(join(src, 'pytorch_model.bin')))).tensors;
    const after = parseSafetensors(loadCheckpoint(run).weights);
    expect(Array.from(after.float32('lm_head.bias'))).not.toEqual(Array.from(before.float32('lm_head.bias')));
    const r = await cli(['train', '--resume', run, '--steps', '4', ...common]);
    expect(r.code, r.stderr.text + r.stdout.text).toBe(0);
    expect(r.stdout.text).toMatch(/training from step 3 until step 4/);
    const g = await cli(['generate', '--checkpoint', run, '--prompt', PROMPT, '--max-new-tokens', '5', '--backend', 'reference']);
    expect(g.code, g.stderr.text).toBe(0);
  });

  it('eval of the run: its held-out split in SentencePiece tokens; with a damaged trainer state a warning, the whole file, still SentencePiece', async () => {
    const data = novelSample(6000);
    const run = join(tmp(), 'ft-eval');
    const t = await cli([
      'train',
      '--checkpoint',
      tinyFolder(),
      '--out',
      run,
      '--steps',
      '2',
      '--batch',
      '1',
      '--data',
      data,
      '--eval-every',
      '0',
      '--eval-windows',
      '1',
      '--backend',
      'reference',
    ]);
    expect(t.code, t.stderr.text + t.stdout.text).toBe(0);
    const n = SentencePieceTokenizer.fromModelBytes(readFixture('spiece.model')).encode(readFileSync(data)).length;
    const nVal = validationLength(n, 0.05);
    const e = await cli(['eval', '--checkpoint', run, '--data', data, '--backend', 'reference']);
    expect(e.code, e.stderr.text).toBe(0);
    expect(e.stdout.text).toContain(`tokenizer: sentencepiece (320 pieces): ${n.toLocaleString('en-US')} tokens`);
    expect(e.stdout.text).toContain(`split: val: the held-out last 5% of the run's data, ${nVal.toLocaleString('en-US')} tokens`);
    expect(e.stdout.text).toContain(`scored ${(nVal - 1).toLocaleString('en-US')} tokens`);
    writeFileSync(join(run, 'checkpoint', 'trainer_state.json'), '{ not json');
    const d = await cli(['eval', '--checkpoint', run, '--data', data, '--backend', 'reference']);
    expect(d.code, d.stderr.text).toBe(0);
    expect(d.stderr.text).toMatch(/warning: .*trainer_state\.json.*; eval does not need the trainer state, going on/);
    expect(d.stdout.text).toContain(`tokenizer: sentencepiece (320 pieces): ${n.toLocaleString('en-US')} tokens`);
    expect(d.stdout.text).toContain('split: all: the whole file (the checkpoint records no training data)');
    expect(d.stdout.text).toContain(`scored ${(n - 1).toLocaleString('en-US')} tokens`);
  });

  it('refuses --checkpoint with --resume or --preset, and a --seq-len other than the model length', async () => {
    const src = tinyFolder();
    const data = novelSample(3000);
    const withResume = await cli(['train', '--checkpoint', src, '--resume', src, '--data', data]);
    expect(withResume.code).toBe(2);
    expect(withResume.stderr.text).toMatch(/--checkpoint and --resume: .* give one/);
    const withPreset = await cli(['train', '--checkpoint', src, '--preset', 'tiny', '--data', data]);
    expect(withPreset.code).toBe(2);
    expect(withPreset.stderr.text).toMatch(/--preset\/--config cannot be combined with --checkpoint/);
    const seq = await cli([
      'train',
      '--checkpoint',
      src,
      '--seq-len',
      '64',
      '--data',
      data,
      '--out',
      join(tmp(), 'x'),
      '--backend',
      'reference',
    ]);
    expect(seq.code).toBe(2);
    expect(seq.stderr.text).toMatch(/--seq-len 64: the checkpoint trains on windows of 32 .* leave --seq-len out when fine-tuning/);
  });
});
