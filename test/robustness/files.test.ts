/**
 * Robustness, files: safetensors with a truncated body, a header length larger than the file, a header
 * that is not JSON, offsets out of range or overlapping, dtype/shape/byte-length disagreements, a huge
 * header; config.json that is not JSON or misses fields; a checkpoint folder with one file missing or
 * a corrupted file; a HuggingFace folder with only a PyTorch pickle or sharded weights; empty or binary
 * data files. Each is a FormatError (ConfigError for config fields) naming the file and the problem,
 * and no reader allocates more than the input it was given.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ConfigError, FormatError, UsageError } from '../../src/errors.js';
import { MAX_HEADER_BYTES, parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import { lmCheckpointToBytes, lmFromCheckpoint } from '../../src/model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { MANIFEST } from '../../src/node/atomic.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/node/checkpoint.js';
import { readCorpusFile } from '../../src/node/corpus-file.js';
import { AdamW } from '../../src/train/optimizer.js';
import type { TrainerSnapshot } from '../../src/train/trainer.js';
import { expectTyped, largestAllocation, SMALL } from './helpers.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A safetensors file from a header object (or raw header text) and a data section. */
function craft(header: unknown, data: Uint8Array, headerLength?: bigint): Uint8Array {
  const h = typeof header === 'string' ? enc(header) : enc(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const F32x3 = { dtype: 'F32', shape: [3], data_offsets: [0, 12] };
const valid = serializeSafetensors(
  [
    { name: 'a', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    { name: 'b', shape: [4], data: new Int32Array([1, 2, 3, 4]) },
  ],
  { format: 'pt' },
);

/** Parses `bytes`, expecting a FormatError matching `message`, allocating at most the input's size. */
function rejects(bytes: Uint8Array, message: RegExp): void {
  const { bytes: allocated, error } = largestAllocation(() => parseSafetensors(bytes));
  expect(error, `expected ${message}`).toBeInstanceOf(FormatError);
  expect((error as Error).message).toMatch(/^safetensors: /);
  expect((error as Error).message).toMatch(message);
  expect(allocated).toBeLessThanOrEqual(bytes.byteLength);
}

describe('safetensors: every departure from the format is a FormatError that allocates no more than the file', () => {
  it('a valid file parses (the baseline of the cases below)', () => {
    const st = parseSafetensors(valid);
    expect(st.float32('a', [2, 3])).toEqual(new Float32Array([1, 2, 3, 4, 5, 6]));
    expect(st.int32('b')).toEqual(new Int32Array([1, 2, 3, 4]));
  });

  it('a truncated body: the last tensor runs past the end', () => {
    rejects(valid.subarray(0, valid.length - 1), /tensor "b": data_offsets \[24, 40\] run past the 39-byte data section/);
    rejects(valid.subarray(0, valid.length - 16), /data_offsets \[24, 40\] run past the 24-byte data section/);
  });

  it('a file cut inside its header or its length field', () => {
    rejects(valid.subarray(0, 40), /header length \d+ is larger than the 32 bytes after it \(truncated file\?\)/);
    rejects(valid.subarray(0, 5), /file is 5 bytes, too short for the 8-byte header length/);
    rejects(new Uint8Array(0), /file is 0 bytes/);
  });

  it('a header length larger than the file (up to 2^64 − 1) is refused before anything is read or allocated', () => {
    for (const n of [1_000_000n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]) {
      rejects(craft({ a: F32x3 }, new Uint8Array(12), n), new RegExp(`header length ${n} is larger than the \\d+ bytes after it`));
    }
  });

  it(`a huge header: over the ${MAX_HEADER_BYTES}-byte limit even when the file is that large`, () => {
    const big = new Uint8Array(MAX_HEADER_BYTES + 16);
    new DataView(big.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
    const t0 = performance.now();
    rejects(big, new RegExp(`header length ${MAX_HEADER_BYTES + 1} exceeds the ${MAX_HEADER_BYTES}-byte limit`));
    expect(performance.now() - t0).toBeLessThan(2000); // refused from the length field, the 100 MB are not decoded
    rejects(craft('{}', new Uint8Array(0), 1n), /header length 1 is too small for a JSON object/);
  });

  it('a header that is not JSON, not an object, or not UTF-8', () => {
    rejects(craft('{"a": {"dtype": "F32", ', new Uint8Array(0)), /header is not valid JSON \(/);
    rejects(craft('[1, 2, 3]', new Uint8Array(0)), /header does not start with "\{"/);
    rejects(craft('{"a": 5}', new Uint8Array(0)), /entry "a" is not an object/);
    const latin1 = craft('{"\u00e9": 1}', new Uint8Array(0));
    latin1[10] = 0xe9; // a lone Latin-1 byte inside the header
    rejects(latin1, /header is not valid UTF-8|header is not valid JSON/);
    rejects(craft('{"__metadata__": {"format": 5}}', new Uint8Array(0)), /__metadata__\["format"\] must be a string, got number/);
    rejects(craft('{"__metadata__": [1]}', new Uint8Array(0)), /__metadata__ must be an object/);
  });

  it('offsets out of range, reversed, negative, fractional or beyond 2^53', () => {
    const data = new Uint8Array(12);
    rejects(
      craft({ a: { ...F32x3, data_offsets: [0, 16] } }, data),
      /tensor "a": data_offsets \[0, 16\] run past the 12-byte data section/,
    );
    rejects(
      craft({ a: { ...F32x3, data_offsets: [12, 0] } }, data),
      /data_offsets must be \[begin, end\] with 0 <= begin <= end, got \[12,0\]/,
    );
    rejects(craft({ a: { ...F32x3, data_offsets: [-4, 8] } }, data), /data_offsets must be \[begin, end\]/);
    rejects(craft({ a: { ...F32x3, data_offsets: [0, 12.5] } }, data), /data_offsets must be/);
    rejects(craft({ a: { ...F32x3, data_offsets: [0, 2 ** 60] } }, data), /data_offsets must be|run past/);
    rejects(craft({ a: { ...F32x3, data_offsets: [0] } }, data), /data_offsets must be/);
    rejects(craft({ a: { ...F32x3, data_offsets: '0-12' } }, data), /data_offsets must be/);
  });

  it('overlapping, duplicated, leaving holes or trailing bytes', () => {
    const data = new Uint8Array(24);
    rejects(
      craft({ a: { ...F32x3, data_offsets: [0, 12] }, b: { ...F32x3, data_offsets: [8, 20] } }, data),
      /tensor "b" overlaps the previous tensor \(begins at 8 < 12\)/,
    );
    rejects(
      craft({ a: { ...F32x3, data_offsets: [0, 12] }, b: { ...F32x3, data_offsets: [0, 12] } }, data.subarray(0, 12)),
      /overlaps the previous tensor \(begins at 0 < 12\)/,
    );
    rejects(craft({ a: { ...F32x3, data_offsets: [12, 24] } }, data), /data section has a hole at bytes \[0, 12\) before "a"/);
    rejects(craft({ a: F32x3 }, data), /data section has 12 trailing bytes not covered by any tensor/);
    // a name given twice: JSON keeps the last entry, the first one's bytes are then a hole
    rejects(
      craft(`{"a": ${JSON.stringify(F32x3)}, "a": ${JSON.stringify({ ...F32x3, data_offsets: [12, 24] })}}`, data),
      /hole at bytes \[0, 12\)/,
    );
  });

  it('dtype, shape and byte length that disagree', () => {
    const data = new Uint8Array(12);
    rejects(craft({ a: { ...F32x3, shape: [4] } }, data), /tensor "a": F32 \[4\] needs 16 bytes but data_offsets span 12/);
    rejects(craft({ a: { ...F32x3, dtype: 'F64' } }, data), /F64 \[3\] needs 24 bytes but data_offsets span 12/);
    rejects(craft({ a: { ...F32x3, dtype: 'F8_E4M3' } }, data), /tensor "a": unsupported dtype "F8_E4M3" \(supported: F64, F32/);
    rejects(craft({ a: { ...F32x3, dtype: 'toString' } }, data), /unsupported dtype "toString"/);
    rejects(craft({ a: { ...F32x3, dtype: 32 } }, data), /unsupported dtype 32/);
    rejects(craft({ a: { ...F32x3, shape: [-3] } }, data), /shape must be a list of non-negative integers, got \[-3\]/);
    rejects(craft({ a: { ...F32x3, shape: [1.5, 2] } }, data), /shape must be a list of non-negative integers/);
    rejects(craft({ a: { ...F32x3, shape: '3' } }, data), /shape must be a list/);
    // element counts far beyond the file: refused by arithmetic, never allocated
    rejects(craft({ a: { ...F32x3, shape: [2 ** 26, 2 ** 26, 2 ** 26] } }, data), /shape \[67108864,67108864,67108864\] is too large/);
    rejects(craft({ a: { ...F32x3, shape: [2 ** 40] } }, data), /F32 \[1099511627776\] needs 4398046511104 bytes but data_offsets span 12/);
  });

  it('reading a tensor with the wrong expected shape or as the wrong kind is a typed error', () => {
    const st = parseSafetensors(valid);
    expect(() => st.float32('a', [3, 2])).toThrow(/tensor "a" has shape \[2, 3\], expected \[3, 2\]/);
    expectTyped(() => st.int32('a'), FormatError, /tensor "a" has dtype F32, expected an integer dtype/);
    expectTyped(() => st.entry('zzz'), FormatError, /no tensor named "zzz"/);
  });
});

describe('checkpoint bytes: config.json and weights that do not belong together', () => {
  const be = new ReferenceBackend();
  const files = lmCheckpointToBytes(new ReformerModelWithLMHead(be, SMALL, { seed: 1 }));

  it('config.json that is not JSON is a ConfigError naming config.json', () => {
    const e = expectTyped(() => lmFromCheckpoint(be, { ...files, config: '{"vocab_size": 20' }), ConfigError, /is not valid JSON/);
    expect(e.field).toBe('config.json');
  });

  it('config.json missing fields: HF defaults fill them, and the weights then name the first tensor that does not fit', () => {
    const cfg = JSON.parse(new TextDecoder().decode(files.config)) as Record<string, unknown>;
    delete cfg.feed_forward_size; // default 512, the weights have 24
    expectTyped(
      () => lmFromCheckpoint(be, { ...files, config: JSON.stringify(cfg) }),
      FormatError,
      /^checkpoint: tensor "reformer\.encoder\.layers\.0\.feed_forward\.dense\.dense\.weight" has shape \[24, 16\], but config\.json implies \[512, 16\]; the checkpoint and config\.json disagree/,
    );
    delete cfg.attn_layers; // default: 6 layers
    delete cfg.num_hidden_layers;
    expectTyped(() => lmFromCheckpoint(be, { ...files, config: JSON.stringify(cfg) }), FormatError, /has shape|is missing/);
  });

  it('a config.json describing a huge model against small weights is refused before its parameters are allocated', () => {
    const cfg = JSON.parse(new TextDecoder().decode(files.config)) as Record<string, unknown>;
    const huge = { ...cfg, vocab_size: 2 ** 30, hidden_size: 2 ** 20, axial_pos_embds_dim: [2 ** 19, 2 ** 19], feed_forward_size: 2 ** 24 };
    const { bytes, error } = largestAllocation(() => lmFromCheckpoint(be, { ...files, config: JSON.stringify(huge) }));
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(
      /^checkpoint: tensor "reformer\.embeddings\.word_embeddings\.weight" has shape \[20, 16\], but config\.json implies \[1073741824, 1048576\]/,
    );
    expect(bytes).toBeLessThanOrEqual(files.safetensors.byteLength + files.config.byteLength);
  });

  it('a weights file that is not safetensors is a FormatError', () => {
    expectTyped(() => lmFromCheckpoint(be, { ...files, safetensors: enc('PK\u0003\u0004 a zip file') }), FormatError, /^safetensors: /);
    expectTyped(
      () => lmFromCheckpoint(be, { ...files, safetensors: files.safetensors.subarray(0, files.safetensors.length - 4) }),
      FormatError,
      /run past the \d+-byte data section/,
    );
  });
});

describe('a checkpoint folder with one file missing or corrupted', () => {
  const snapshot = {
    state: { format: 'reformer-ts.trainer-state', version: 1, step: 3, tokensSeen: 96, elapsedMs: 5, sampler: {}, options: {} },
    optimizer: new Uint8Array(64).fill(7),
  } as unknown as TrainerSnapshot;
  const fresh = (): string => {
    const dir = join(mkdtempSync(join(tmpdir(), 'reformer-robust-')), 'checkpoint');
    saveCheckpoint(dir, { config: '{"model_type": "reformer"}\n', weights: new Uint8Array(40).fill(1), snapshot });
    return dir;
  };

  it('a complete folder loads (the baseline)', () => {
    const ck = loadCheckpoint(fresh());
    expect(ck.snapshot!.state.step).toBe(3);
    expect(ck.weights).toHaveLength(40);
  });

  for (const name of ['config.json', 'model.safetensors', 'trainer_state.json', 'optimizer.safetensors']) {
    it(`${name} missing → FormatError naming it`, () => {
      const dir = fresh();
      rmSync(join(dir, name));
      expectTyped(() => loadCheckpoint(dir), FormatError, new RegExp(`${name.replace('.', '\\.')} is listed in the manifest but missing`));
    });
  }

  it('manifest.json missing → FormatError saying the save may have been interrupted', () => {
    const dir = fresh();
    rmSync(join(dir, MANIFEST));
    expectTyped(
      () => loadCheckpoint(dir),
      FormatError,
      /no manifest\.json; not a complete checkpoint \(a save may have been interrupted\)/,
    );
  });

  it('a file of the wrong size, or the right size with other bytes (corrupted), is a FormatError', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'model.safetensors'), new Uint8Array(41));
    expectTyped(() => loadCheckpoint(dir), FormatError, /model\.safetensors has 41 bytes, the manifest says 40/);
    writeFileSync(join(dir, 'model.safetensors'), new Uint8Array(40).fill(2));
    expectTyped(
      () => loadCheckpoint(dir),
      FormatError,
      /model\.safetensors does not match its SHA-256 in the manifest \(corrupted, or edited\); if you changed it on purpose, record the new contents with `reformer checkpoint rehash /,
    );
  });

  it('a listed file replaced by a folder is a FormatError, not EISDIR', () => {
    const dir = fresh();
    rmSync(join(dir, 'config.json'));
    mkdirSync(join(dir, 'config.json'));
    expectTyped(() => loadCheckpoint(dir), FormatError, /config\.json is listed in the manifest but is not a regular file/);
  });

  it('a damaged manifest (not JSON, bad entries, names outside the folder) is a FormatError, never a crash or a read elsewhere', () => {
    const dir = fresh();
    const mpath = join(dir, MANIFEST);
    const manifest = JSON.parse(readFileSync(mpath, 'utf8')) as { files: Record<string, unknown> };
    const write = (files: Record<string, unknown>): void => writeFileSync(mpath, JSON.stringify({ ...manifest, files }));
    writeFileSync(mpath, '{"format": "reformer-ts.checkpoint", ');
    expectTyped(() => loadCheckpoint(dir), FormatError, /manifest\.json: not valid JSON/);
    write({ ...manifest.files, 'config.json': null });
    expectTyped(
      () => loadCheckpoint(dir),
      FormatError,
      /the entry of config\.json must be \{"bytes": <non-negative integer>, "sha256": "<hex>"\}, got null/,
    );
    write({ ...manifest.files, 'model.safetensors': { bytes: -1, sha256: 'x' } });
    expectTyped(() => loadCheckpoint(dir), FormatError, /the entry of model\.safetensors must be/);
    write({ ...manifest.files, '../../../../etc/passwd': { bytes: 1, sha256: 'x' } });
    expectTyped(() => loadCheckpoint(dir), FormatError, /lists "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd", which is not a plain file name/);
    writeFileSync(mpath, '[]');
    expectTyped(() => loadCheckpoint(dir), FormatError, /not a reformer-ts checkpoint manifest/);
  });

  it('a folder that does not exist is a UsageError', () => {
    expectTyped(() => loadCheckpoint(join(tmpdir(), 'no-such-reformer-checkpoint-xyz')), UsageError, /no such checkpoint directory/);
  });
});

describe('a plain HuggingFace folder (save_pretrained: config.json + model.safetensors, no manifest)', () => {
  const hfFolder = (files: Record<string, string | Uint8Array>): string => {
    const dir = join(mkdtempSync(join(tmpdir(), 'reformer-hf-')), 'hf');
    mkdirSync(dir);
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
    return dir;
  };

  it('loads as it is: the same bytes, no trainer state, no manifest', () => {
    const weights = new Uint8Array(40).fill(3);
    const dir = hfFolder({ 'config.json': '{"model_type": "reformer"}\n', 'model.safetensors': weights, 'generation_config.json': '{}' });
    const ck = loadCheckpoint(dir);
    expect(ck.dir).toBe(dir);
    expect(ck.weights).toEqual(weights);
    expect(new TextDecoder().decode(ck.config)).toBe('{"model_type": "reformer"}\n');
    expect(ck.snapshot).toBeNull();
    expect(ck.manifest).toBeNull();
  });

  it('a damaged pytorch_model.bin, a sharded index without weight_map, or no weights at all: a FormatError naming the file', () => {
    const config = '{"model_type": "reformer"}';
    expectTyped(
      () => loadCheckpoint(hfFolder({ 'config.json': config, 'pytorch_model.bin': 'PK\x03\x04' })),
      FormatError,
      /pytorch_model\.bin: 4 bytes is too short for a ZIP archive/,
    );
    expectTyped(
      () => loadCheckpoint(hfFolder({ 'config.json': config, 'model.safetensors.index.json': '{}' })),
      FormatError,
      /model\.safetensors\.index\.json: has no "weight_map" object/,
    );
    expectTyped(
      () => loadCheckpoint(hfFolder({ 'config.json': config })),
      FormatError,
      /has config\.json but no weights \(looked for model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin, pytorch_model\.bin\.index\.json/,
    );
    const dirWeights = hfFolder({ 'config.json': config });
    mkdirSync(join(dirWeights, 'model.safetensors'));
    expectTyped(() => loadCheckpoint(dirWeights), FormatError, /model\.safetensors: not a regular file/);
  });

  it('a reformer-ts checkpoint that lost its manifest is still an interrupted save, not an HF folder', () => {
    const dir = hfFolder({ 'config.json': '{}', 'model.safetensors': new Uint8Array(8), 'trainer_state.json': '{}' });
    expectTyped(() => loadCheckpoint(dir), FormatError, /no manifest\.json; not a complete checkpoint/);
  });
});

describe('training data files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reformer-data-'));
  const file = (name: string, bytes: Uint8Array | string): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  it('an empty file', () => {
    expectTyped(
      () => readCorpusFile(file('empty.txt', ''), '--data'),
      FormatError,
      /empty\.txt: is empty \(0 bytes\); expected UTF-8 text or FASTA/,
    );
    expectTyped(() => readCorpusFile(file('empty.txt.gz', gzipSync(new Uint8Array(0))), '--data'), FormatError, /is empty \(0 bytes\)/);
  });

  it('binary data: random bytes, an executable header, a gzip named .txt, a non-gzip named .gz, invalid UTF-8', () => {
    const random = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24);
    expectTyped(() => readCorpusFile(file('blob.bin', random)), FormatError, /blob\.bin: looks like binary data, not text: \d+ NUL bytes/);
    const elf = new Uint8Array(256);
    elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
    expectTyped(() => readCorpusFile(file('a.out', elf)), FormatError, /looks like binary data/);
    // a .txt that holds gzip is decompressed (magic number); a .gz that is not gzip is refused
    expect(readCorpusFile(file('packed.txt', gzipSync(enc('hello world\n')))).bytes).toEqual(enc('hello world\n'));
    expectTyped(() => readCorpusFile(file('fake.txt.gz', 'plain text')), FormatError, /fake\.txt\.gz: named \.gz but not gzip data/);
    expectTyped(
      () => readCorpusFile(file('broken.gz', gzipSync(enc('hello')).subarray(0, 12))),
      FormatError,
      /broken\.gz: not valid gzip data/,
    );
    expectTyped(
      () => readCorpusFile(file('latin1.txt', Uint8Array.of(0x63, 0x61, 0x66, 0xe9, 0x0a))),
      FormatError,
      /latin1\.txt: invalid UTF-8 at byte 3 \(0xe9\)/,
    );
    expectTyped(() => readCorpusFile(file('genome.fa', '>chr1\nACGT\n\u0001\u0002\n')), FormatError, /genome\.fa: /);
  });

  it('a folder or a missing path is a UsageError naming the flag', () => {
    expectTyped(() => readCorpusFile(dir, '--data'), UsageError, /^--data .*: is not a regular file$/);
    expectTyped(() => readCorpusFile(join(dir, 'nope.txt'), '--data'), UsageError, /^--data .*nope\.txt: no such file$/);
  });
});

describe('optimizer state of a training checkpoint', () => {
  const be = new ReferenceBackend();
  const good = (): AdamW => {
    const opt = new AdamW(be, 6);
    const params = be.floats(6);
    const grads = be.floats(6);
    grads.set([0.1, -0.2, 0.3, 0, 1, -1]);
    opt.update(params, grads, 0.01);
    return opt;
  };
  /** The state with one value of `name` replaced. */
  function edited(name: 'm' | 'v', at: number, value: number): Uint8Array {
    const st = parseSafetensors(good().toBytes());
    return serializeSafetensors(
      st
        .names()
        .map((n) => ({ name: n, shape: st.entry(n).shape, data: st.float32(n).map((x, i) => (n === name && i === at ? value : x)) })),
      st.metadata as Record<string, string>,
    );
  }

  it('NaN or infinite moments, a negative second moment, or a truncated file are FormatErrors that change nothing', () => {
    const target = new AdamW(be, 6);
    expect(() => target.loadBytes(good().toBytes())).not.toThrow();
    expect(target.step).toBe(1);
    const fresh = new AdamW(be, 6);
    for (const [name, at, value, message] of [
      ['m', 2, Number.NaN, /tensor "m"\[2\] = NaN \(must be finite\)/],
      ['v', 5, Infinity, /tensor "v"\[5\] = Infinity \(must be finite and ≥ 0\)/],
      ['v', 0, -1, /tensor "v"\[0\] = -1 \(must be finite and ≥ 0\)/],
    ] as const) {
      expectTyped(
        () => fresh.loadBytes(edited(name, at, value)),
        FormatError,
        /^optimizer state: /,
        message,
        /resume from an earlier checkpoint/,
      );
    }
    expectTyped(() => fresh.loadBytes(good().toBytes().subarray(0, 40)), FormatError, /^safetensors: /);
    expect(fresh.step).toBe(0); // a rejected file changed nothing: not even the moment read before the bad one
    expect(Array.from(fresh.m).every((x) => x === 0)).toBe(true);
    expect(() => new AdamW(be, 7).loadBytes(good().toBytes())).toThrow(/tensor "m" has shape \[6\], expected \[7\]/);
  });
});
