/**
 * Robustness, tensors: token ids outside [0, vocab_size) (negative ids, the pad id out of range), NaN
 * or Inf in inputs and in weights (NumericalError), mismatched shapes and lengths. Each is a typed error
 * naming the tensor, the value given, what is allowed and how to fix it, raised before any kernel runs.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError, FormatError, NumericalError, ShapeError } from '../../src/errors.js';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import {
  encoderCheckpointToBytes,
  encoderFromCheckpoint,
  lmCheckpointToBytes,
  lmFromCheckpoint,
  loadParameters,
} from '../../src/model/checkpoint.js';
import type { TokenBatch } from '../../src/model/language-model.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { ReformerModel } from '../../src/model/reformer-model.js';
import { checkFinite } from '../../src/model/validate-inputs.js';
import { generateTokens } from '../../src/train/generate.js';
import { ByteTokenizer } from '../../src/train/tokenizer.js';
import { expectTyped, randomIds, SMALL } from './helpers.js';

const be = new ReferenceBackend();
const model = new ReformerModelWithLMHead(be, SMALL, { seed: 3 });
const good: TokenBatch = { inputIds: randomIds(64, 20, 7), batch: 2, seqLen: 32 };
const entryPoints: Array<[string, (b: TokenBatch) => unknown]> = [
  ['loss', (b) => model.loss(b)],
  ['logits', (b) => model.logits(b)],
  ['lossAndGrad', (b) => model.lossAndGrad(b)],
  ['evaluate', (b) => model.evaluate(b)],
];

describe('token ids outside [0, vocab_size)', () => {
  for (const [name, call] of entryPoints) {
    it(`${name}: an id equal to vocab_size, above it, or negative is a ShapeError naming input_ids[i], the value and the range`, () => {
      for (const bad of [20, 1000, -1, -2147483648]) {
        const ids = Int32Array.from(good.inputIds);
        ids[37] = bad;
        expectTyped(
          () => call({ ...good, inputIds: ids }),
          ShapeError,
          new RegExp(`input_ids\\[37\\] = ${bad} is outside the vocabulary \\[0, 20\\)`),
          /ids below vocab_size/,
        );
      }
    });
  }

  it('labels outside the vocabulary (other than −100) are a ShapeError naming labels[i]', () => {
    const labels = Int32Array.from(good.inputIds);
    labels[5] = -7;
    expectTyped(() => model.loss({ ...good, labels }), ShapeError, /labels\[5\] = -7 must be in \[0, 20\) or -100/);
    labels[5] = 20;
    expectTyped(() => model.lossAndGrad({ ...good, labels }), ShapeError, /labels\[5\] = 20/);
  });

  it('a pad id outside the vocabulary: rejected in config.json (pad_token_id) and in generation (pad_id), and as an input id', () => {
    expectTyped(
      () => SMALL.with({ pad_token_id: 20 }),
      ConfigError,
      /^pad_token_id: is 20, outside the vocabulary \[0, 20\); use an id below vocab_size/,
    );
    expectTyped(
      () => ReformerConfig.fromJSON({ ...SMALL.toJSON(), pad_token_id: -1 }),
      ConfigError,
      /^pad_token_id: must be a non-negative integer, got -1/,
    );
    const gen = (padId: number): number[] => [...generateTokens(model, [3, 4], { maxNewTokens: 2, window: 32, padToWindow: true, padId })];
    expectTyped(() => gen(20), ConfigError, /^pad_id: is 20, outside the vocabulary \[0, 20\)/);
    expectTyped(() => gen(-1), ConfigError, /^pad_id: is -1/);
    expect(gen(0)).toHaveLength(2);
    // the pad id used as a token must be in range like any id
    const ids = Int32Array.from(good.inputIds).fill(25, 40);
    expectTyped(() => model.loss({ ...good, inputIds: ids }), ShapeError, /input_ids\[40\] = 25/);
  });

  it('a generation prompt with ids outside the vocabulary or non-integers is a ShapeError naming prompt[i]', () => {
    expectTyped(
      () => [...generateTokens(model, [3, 99], { maxNewTokens: 1, window: 32 })],
      ShapeError,
      /prompt\[1\] = 99 is outside the vocabulary \[0, 20\)/,
    );
    expectTyped(() => [...generateTokens(model, [3, 1.5], { maxNewTokens: 1, window: 32 })], ShapeError, /prompt\[1\] = 1\.5/);
    expectTyped(() => [...generateTokens(model, [-3], { maxNewTokens: 1, window: 32 })], ShapeError, /prompt\[0\] = -3/);
  });

  it('the encoder (ReformerModel.forward) checks ids too', () => {
    const enc = new ReformerModel(be, SMALL.with({ is_decoder: false }));
    const ids = Int32Array.from(good.inputIds);
    ids[0] = -5;
    expectTyped(() => enc.forward({ inputIds: ids, batch: 2, seqLen: 32, training: false }), ShapeError, /input_ids\[0\] = -5/);
  });
});

describe('NaN or Inf in inputs', () => {
  it('ids that are not an Int32Array (floats, NaN, plain arrays) are a ShapeError saying to convert, not silently truncated', () => {
    const floats = Float32Array.from(good.inputIds);
    floats[3] = Number.NaN;
    for (const inputIds of [floats, Array.from(good.inputIds), Float64Array.from(good.inputIds)]) {
      expectTyped(
        () => model.loss({ ...good, inputIds: inputIds as unknown as Int32Array }),
        ShapeError,
        /input_ids \(inputIds\) must be an Int32Array of shape \[batch, seqLen\] = \[2, 32\] = 64 elements/,
        /Int32Array\.from/,
      );
    }
    const labels = Array.from(good.inputIds, (x) => x + 0.5);
    expectTyped(() => model.loss({ ...good, labels: labels as unknown as Int32Array }), ShapeError, /labels must be an Int32Array/);
    const mask = new Float32Array(64).fill(Number.NaN);
    expectTyped(
      () => model.logits({ ...good, attentionMask: mask as unknown as Int32Array }),
      ShapeError,
      /attention_mask \(attentionMask\) must be an Int32Array/,
    );
  });

  it('NaN or infinite injected LSH rotations are a NumericalError naming rotations[layer] and the index', () => {
    const enc = new ReformerModel(be, SMALL.with({ is_decoder: false }));
    const rot = new Float32Array(2 * 8 * 2 * 2).fill(0.5); // [heads, head_size, num_hashes, num_buckets/2]
    const ok = enc.forward({ ...good, training: false, rotations: [null, rot] });
    expect(ok.output.every(Number.isFinite)).toBe(true);
    for (const v of [Number.NaN, Infinity, -Infinity]) {
      const bad = Float32Array.from(rot);
      bad[9] = v;
      expectTyped(
        () => enc.forward({ ...good, training: false, rotations: [null, bad] }),
        NumericalError,
        new RegExp(`rotations\\[1\\]\\[9\\] = ${v} \\(1 of 64 values are NaN or infinite\\)`),
      );
      expectTyped(() => model.loss(good, { rotations: [null, bad] }), NumericalError, /rotations\[1\]\[9\]/);
    }
  });

  it('checkFinite counts every bad value and accepts finite extremes', () => {
    expect(() => checkFinite('x', new Float64Array([Number.MAX_VALUE, -Number.MAX_VALUE, 5e-324, 0]))).not.toThrow();
    expectTyped(() => checkFinite('x', [1, Number.NaN, 2, Infinity]), NumericalError, /^x\[1\] = NaN \(2 of 4 values/);
  });
});

describe('NaN or Inf in weights: refused when a checkpoint is loaded, naming the tensor', () => {
  const files = lmCheckpointToBytes(model);

  /** The checkpoint with `name`'s element `at` replaced by `value` (a well-formed safetensors file). */
  function poisoned(name: string, at: number, value: number): Uint8Array {
    const st = parseSafetensors(files.safetensors);
    return serializeSafetensors(
      st.names().map((n) => {
        const data = st.float32(n);
        if (n === name) data[at] = value;
        return { name: n, shape: st.entry(n).shape, data };
      }),
      st.metadata as Record<string, string>,
    );
  }

  for (const [name, value] of [
    ['reformer.encoder.layers.1.attention.self_attention.query_key.weight', Number.NaN],
    ['lm_head.decoder.weight', Infinity],
    ['reformer.embeddings.position_embeddings.weights.0', -Infinity],
  ] as const) {
    it(`${value} in ${name}`, () => {
      const e = expectTyped(
        () => lmFromCheckpoint(be, { ...files, safetensors: poisoned(name, 3, value) }),
        NumericalError,
        new RegExp(`tensor "${name.replace(/\./g, '\\.')}" holds 1 NaN or infinite value\\(s\\) of \\d+ \\(first at index 3: ${value}\\)`),
        /load an earlier checkpoint/,
      );
      expect(e.message.startsWith('checkpoint: ')).toBe(true);
    });
  }

  it('the encoder loader checks too, and a clean checkpoint still loads bit-identically', () => {
    const enc = new ReformerModel(be, SMALL.with({ is_decoder: false }));
    const ef = encoderCheckpointToBytes(enc);
    const st = parseSafetensors(ef.safetensors);
    const bad = serializeSafetensors(
      st.names().map((n) => ({
        name: n,
        shape: st.entry(n).shape,
        data: st.float32(n).map((x, i) => (n === 'encoder.layer_norm.bias' && i === 0 ? Number.NaN : x)),
      })),
    );
    expectTyped(
      () => encoderFromCheckpoint(be, { ...ef, safetensors: bad }),
      NumericalError,
      /tensor "encoder\.layer_norm\.bias" holds 1 NaN/,
    );
    expect(Array.from(lmFromCheckpoint(be, files).params)).toEqual(Array.from(model.params));
  });

  it('loading into an existing model is all or nothing: a bad last tensor, a wrong shape or a foreign tensor leaves every weight as it was', () => {
    const target = new ReformerModelWithLMHead(be, SMALL, { seed: 11 });
    const before = Float32Array.from(target.params);
    const st = parseSafetensors(files.safetensors);
    const last = target.parameters.entries.at(-1)!.name;
    const rewrite = (
      edit: (n: string, data: Float32Array) => { name: string; shape: readonly number[]; data: Float32Array }[],
    ): Uint8Array => serializeSafetensors(st.names().flatMap((n) => edit(n, st.float32(n))));
    const cases: Array<[string, Uint8Array, RegExp, typeof FormatError | typeof NumericalError]> = [
      [
        'NaN in the last tensor',
        rewrite((n, data) => [
          {
            name: n,
            shape: st.entry(n).shape,
            data:
              n === last || (last === 'lm_head.bias' && n === 'lm_head.decoder.bias')
                ? data.map((x, i) => (i === 0 ? Number.NaN : x))
                : data,
          },
        ]),
        /NaN or infinite/,
        NumericalError,
      ],
      [
        'a wrong shape',
        rewrite((n, data) => [{ name: n, shape: n === 'lm_head.decoder.weight' ? [data.length] : st.entry(n).shape, data }]),
        /has shape \[\d+\], the model expects/,
        FormatError,
      ],
      [
        'a foreign tensor',
        rewrite((n, data) => [
          { name: n, shape: st.entry(n).shape, data },
          ...(n === 'lm_head.decoder.weight' ? [{ name: 'extra.weight', shape: [1], data: Float32Array.of(1) }] : []),
        ]),
        /tensor\(s\) the model does not have: extra\.weight/,
        FormatError,
      ],
    ];
    for (const [what, bytes, message, type] of cases) {
      expectTyped(() => loadParameters(target.parameters, parseSafetensors(bytes)), type, message);
      expect(Float32Array.from(target.params), what).toEqual(before);
    }
    loadParameters(target.parameters, parseSafetensors(files.safetensors)); // and a good file does load
    expect(Array.from(target.params)).toEqual(Array.from(model.params));
  });
});

describe('mismatched shapes and lengths', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['no batch at all', undefined, /expected a batch \{inputIds: Int32Array, batch, seqLen, attentionMask\?, labels\?\}, got undefined/],
    ['a plain array as the batch', [1, 2, 3], /expected a batch .*got a plain Array of 3/],
    [
      'ids shorter than batch·seqLen',
      { ...good, inputIds: new Int32Array(63) },
      /input_ids \(inputIds\) must have shape \[batch, seqLen\] = \[2, 32\] = 64 elements, got 63/,
    ],
    ['ids longer than batch·seqLen', { ...good, inputIds: new Int32Array(65) }, /= 64 elements, got 65/],
    ['seqLen 0', { ...good, seqLen: 0 }, /seqLen must be a positive integer, got number 0/],
    ['fractional batch', { ...good, batch: 1.5 }, /batch must be a positive integer, got number 1\.5/],
    ['batch as a string', { ...good, batch: '2' }, /batch must be a positive integer, got the string "2"/],
    [
      'missing inputIds',
      { batch: 2, seqLen: 32 },
      /input_ids \(inputIds\) is required: an Int32Array of shape \[batch, seqLen\] = \[2, 32\] = 64 elements/,
    ],
    [
      'mask of the wrong length',
      { ...good, attentionMask: new Int32Array(32).fill(1) },
      /attention_mask \(attentionMask\) must have shape \[batch, seqLen\] = \[2, 32\] = 64 elements, got 32/,
    ],
    ['labels of the wrong length', { ...good, labels: new Int32Array(10) }, /labels must have shape .* = 64 elements, got 10/],
    [
      'batch·seqLen beyond int32',
      { ...good, batch: 65536, seqLen: 65536 },
      /batch·seqLen = 65536·65536 exceeds the 2147483647 token positions/,
    ],
  ];
  for (const [what, batch, message] of cases) {
    it(`${what} → ShapeError`, () => {
      for (const [, call] of entryPoints) expectTyped(() => call(batch as TokenBatch), ShapeError, message);
    });
  }

  it('mask values other than 0/1, a training length that is not a multiple of the chunk lcm, and a length beyond the model', () => {
    expectTyped(
      () => model.loss({ ...good, attentionMask: new Int32Array(64).fill(3) }),
      ShapeError,
      /attention_mask\[0\] = 3; use 1 for real tokens and 0 for padding/,
    );
    expectTyped(
      () => model.lossAndGrad({ inputIds: randomIds(24, 20), batch: 1, seqLen: 24 }),
      ShapeError,
      /sequence length 24 must be a multiple of 16.*training takes exactly 32 tokens/,
    );
    expectTyped(
      () => model.loss({ inputIds: randomIds(48, 20), batch: 1, seqLen: 48 }),
      ConfigError,
      /max_position_embeddings: sequence length 48 exceeds max_position_embeddings 32/,
    );
    // eval pads 33 to 48 (chunk multiple): the message names both lengths
    expectTyped(
      () => model.loss({ inputIds: randomIds(33, 20), batch: 1, seqLen: 33 }),
      ConfigError,
      /sequence length 48 \(the 33 tokens given, padded to a multiple of the chunk length\) exceeds max_position_embeddings 32/,
    );
  });

  it('the byte tokenizer refuses what is not text or bytes (a number, null, an array) instead of encoding nothing', () => {
    const tok = new ByteTokenizer();
    for (const [bad, got] of [
      [42, 'number'],
      [null, 'null'],
      [[104, 105], 'an array'],
      [new Float32Array(2), 'Float32Array'],
    ] as const) {
      expectTyped(
        () => tok.encode(bad as unknown as string),
        ShapeError,
        new RegExp(`ByteTokenizer\\.encode: expected a string or a Uint8Array of bytes, got ${got}`),
      );
    }
    expect(Array.from(tok.encode(Buffer.from('hi')))).toEqual([106, 107]); // a Buffer is bytes
  });

  it('a model built from a plain object instead of a ReformerConfig is a ConfigError, not a crash later', () => {
    const plain = SMALL.toJSON();
    expectTyped(
      () => new ReformerModelWithLMHead(be, plain as unknown as ReformerConfig),
      ConfigError,
      /^config: ReformerModelWithLMHead needs a ReformerConfig, got an object \(Object\); build it with new ReformerConfig/,
    );
    expectTyped(
      () => new ReformerModel(be, { hidden_size: -1 } as unknown as ReformerConfig),
      ConfigError,
      /^config: ReformerModel needs a ReformerConfig/,
    );
  });

  it('the rejected calls changed nothing: same parameters as a fresh model, no gradient accumulated', () => {
    const fresh = new ReformerModelWithLMHead(be, SMALL, { seed: 3 });
    expect(Array.from(model.params)).toEqual(Array.from(fresh.params));
    expect(model.grads.every((g) => g === 0)).toBe(true);
  });
});
