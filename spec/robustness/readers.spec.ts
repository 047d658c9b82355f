/**
 * Fuzzing the readers of untrusted bytes: `parseSafetensors`, checkpoint loading (`lmFromCheckpoint`:
 * config.json + model.safetensors) and `ReformerConfig.fromJSON` / `configFromBytes`, with random
 * bytes and with mutations of valid files (bit flips, truncation, header-length edits, header JSON
 * edits: offsets, dtypes, shapes, huge numbers, duplicated/overlapping/renamed/removed entries).
 *
 * The laws: the only outcome other than success is the typed error (FormatError for the files,
 * ConfigError for config fields) — never another exception; the work is bounded (each call returns
 * within a time limit); and nothing is allocated from header numbers before they are checked against
 * the input: the largest single allocation is at most the input's size (reading a tensor converts it
 * to float32/float64: at most 8× its own bytes).
 *
 * Seeded by spec/setup.ts (FC_SEED replays a failure).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { REFORMER_FIELD_NAMES } from '../../src/config/fields.js';
import { ReformerConfig } from '../../src/config/reformer-config.js';
import { ConfigError, FormatError, ShapeError } from '../../src/errors.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsFile } from '../../src/io/safetensors.js';
import { configFromBytes, lmCheckpointToBytes, lmFromCheckpoint } from '../../src/model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../src/model/lm-model.js';
import { largestAllocation, SMALL } from '../../test/robustness/helpers.js';
import { runs } from '../helpers/runs.js';

/**
 * CPU time a single read may take (a guard against pathological work, ~1000× what a read needs). CPU
 * time of this process, not wall time: on a shared machine a descheduled process would otherwise fail
 * the guard without any bug (docs/TESTING.md).
 */
const TIME_LIMIT_MS = 2000;

/** Runs `fn`, measuring CPU time (ms) and the largest allocation; returns what it threw (null on success). */
function observe<T>(fn: () => T): { error: unknown; bytes: number; ms: number; value: T | null } {
  let value: T | null = null;
  const c0 = process.cpuUsage();
  const { bytes, error } = largestAllocation(() => {
    value = fn();
  });
  const cpu = process.cpuUsage(c0);
  return { error, bytes, ms: (cpu.user + cpu.system) / 1000, value };
}

function expectTypedOnly(error: unknown, ...types: Array<new (...a: never[]) => Error>): void {
  if (error === null) return;
  const ok = types.some((t) => error instanceof t);
  expect(ok, `unexpected ${(error as Error)?.name}: ${(error as Error)?.message}\n${(error as Error)?.stack}`).toBe(true);
}

// ------------------------------------------------------------------ safetensors files and mutations

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Splits a valid file into its header object and data section. */
function split(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(dec.decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>, data: bytes.subarray(8 + n) };
}

function join(header: unknown, data: Uint8Array, headerLength?: bigint): Uint8Array {
  const h = enc.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** Small valid safetensors files of random tensors. */
const arbValidFile = fc
  .array(
    fc.record({
      dtype: fc.constantFrom('F32', 'F64', 'I32', 'I64', 'U8') as fc.Arbitrary<'F32' | 'F64' | 'I32' | 'I64' | 'U8'>,
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      seed: fc.integer({ min: 0, max: 1000 }),
    }),
    { minLength: 1, maxLength: 4 },
  )
  .map((ts) =>
    serializeSafetensors(
      ts.map((t, i) => {
        const n = t.shape.reduce((a, b) => a * b, 1);
        const values = Array.from({ length: n }, (_, j) => ((t.seed + 31 * j) % 200) - 100);
        const data =
          t.dtype === 'F32'
            ? Float32Array.from(values)
            : t.dtype === 'F64'
              ? Float64Array.from(values)
              : t.dtype === 'U8'
                ? Uint8Array.from(values, (v) => v & 255)
                : Int32Array.from(values);
        return { name: `t${i}`, shape: t.shape, data, dtype: t.dtype };
      }),
      { format: 'pt' },
    ),
  );

/** Numbers a hostile header may hold. */
const arbHostileNumber = fc.oneof(
  fc.integer({ min: -3, max: 200 }),
  fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e308, -1e308, Number.MAX_SAFE_INTEGER),
  fc.double({ noNaN: true }),
);
const arbHostileValue = fc.oneof(
  arbHostileNumber,
  fc.string({ maxLength: 6 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(arbHostileNumber, { maxLength: 4 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** One edit of a parsed header (entries are tensor descriptions or __metadata__). */
const arbHeaderEdit = fc.oneof(
  fc.record({
    kind: fc.constant('offsets' as const),
    at: fc.nat(),
    value: fc.oneof(fc.tuple(arbHostileNumber, arbHostileNumber), arbHostileValue),
  }),
  fc.record({
    kind: fc.constant('dtype' as const),
    at: fc.nat(),
    value: fc.oneof(
      fc.constantFrom('F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'F8_E5M2', '', 'toString', '__proto__'),
      arbHostileValue,
    ),
  }),
  fc.record({
    kind: fc.constant('shape' as const),
    at: fc.nat(),
    value: fc.oneof(fc.array(arbHostileNumber, { maxLength: 4 }), arbHostileValue),
  }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), value: fc.string({ maxLength: 4 }) }),
  fc.record({ kind: fc.constant('remove' as const), at: fc.nat(), value: fc.constant(null) }),
  fc.record({ kind: fc.constant('rename' as const), at: fc.nat(), value: fc.string({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: arbHostileValue }),
  fc.record({ kind: fc.constant('metadata' as const), at: fc.nat(), value: arbHostileValue }),
);
type HeaderEdit = typeof arbHeaderEdit extends fc.Arbitrary<infer T> ? T : never;

function applyEdit(header: Record<string, unknown>, e: HeaderEdit): Record<string, unknown> {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  if (names.length === 0) return header;
  const name = names[e.at % names.length]!;
  const entry = { ...(header[name] as Record<string, unknown>) };
  const out = { ...header };
  switch (e.kind) {
    case 'offsets':
      out[name] = { ...entry, data_offsets: e.value };
      break;
    case 'dtype':
      out[name] = { ...entry, dtype: e.value };
      break;
    case 'shape':
      out[name] = { ...entry, shape: e.value };
      break;
    case 'duplicate':
      out[`${name}${e.value}`] = entry; // same bytes twice: overlapping
      break;
    case 'remove':
      delete out[name];
      break;
    case 'rename':
      delete out[name];
      out[e.value] = entry;
      break;
    case 'replace':
      out[name] = e.value;
      break;
    case 'metadata':
      out.__metadata__ = e.value;
      break;
  }
  return out;
}

/** A byte-level mutation. */
const arbByteMutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), bit: fc.constant(0) }),
  fc.record({ kind: fc.constant('length' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 63 }) }),
  fc.record({ kind: fc.constant('delta' as const), at: fc.integer({ min: -64, max: 64 }), bit: fc.constant(0) }),
);
type ByteMutation = typeof arbByteMutation extends fc.Arbitrary<infer T> ? T : never;

function mutateBytes(bytes: Uint8Array, m: ByteMutation): Uint8Array {
  const out = Uint8Array.from(bytes);
  const dv = new DataView(out.buffer);
  switch (m.kind) {
    case 'flip':
      if (out.length > 0) out[m.at % out.length]! ^= 1 << m.bit;
      return out;
    case 'truncate':
      return out.subarray(0, m.at % (out.length + 1));
    case 'length':
      if (out.length >= 8) dv.setBigUint64(0, dv.getBigUint64(0, true) ^ (1n << BigInt(m.bit)), true);
      return out;
    case 'delta':
      if (out.length >= 8) dv.setBigUint64(0, BigInt.asUintN(64, dv.getBigUint64(0, true) + BigInt(m.at)), true);
      return out;
  }
}

/** Parses; on success reads every tensor in every way. Checks the laws. */
function checkSafetensors(bytes: Uint8Array): void {
  const parsed = observe(() => parseSafetensors(bytes));
  expectTypedOnly(parsed.error, FormatError);
  expect(parsed.ms).toBeLessThan(TIME_LIMIT_MS);
  expect(parsed.bytes, 'allocation larger than the input').toBeLessThanOrEqual(bytes.byteLength);
  const st = parsed.value as SafetensorsFile | null;
  if (!st) return;
  for (const name of st.names()) {
    const e = st.entry(name);
    // views into the input, inside it
    expect(e.bytes.buffer).toBe(bytes.buffer);
    expect(e.bytes.byteOffset + e.bytes.byteLength).toBeLessThanOrEqual(bytes.byteOffset + bytes.byteLength);
    for (const read of [(): unknown => st.float32(name), (): unknown => st.float64(name), (): unknown => st.int32(name)]) {
      const r = observe(read);
      expectTypedOnly(r.error, FormatError, ShapeError);
      expect(r.bytes).toBeLessThanOrEqual(8 * Math.max(e.bytes.byteLength, 1));
    }
  }
}

describe('parseSafetensors fuzz', () => {
  it('random bytes: success or FormatError, bounded work and allocation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => checkSafetensors(bytes)),
      { numRuns: runs(300) },
    );
  });

  it('random bytes behind a plausible header length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.bigInt({ min: 0n, max: 400n }), (body, n) => {
        const bytes = new Uint8Array(8 + body.length);
        new DataView(bytes.buffer).setBigUint64(0, n, true);
        bytes.set(body, 8);
        checkSafetensors(bytes);
      }),
      { numRuns: runs(300) },
    );
  });

  it('random JSON headers: success or FormatError', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 6 }), arbHostileValue, { maxKeys: 4 }),
        fc.uint8Array({ maxLength: 64 }),
        (header, data) => {
          checkSafetensors(join(header, data));
        },
      ),
      { numRuns: runs(300) },
    );
  });

  it('byte-level mutations of valid files (bit flips, truncation, header-length edits)', () => {
    fc.assert(
      fc.property(arbValidFile, fc.array(arbByteMutation, { minLength: 1, maxLength: 3 }), (file, ms) => {
        checkSafetensors(ms.reduce(mutateBytes, file));
      }),
      { numRuns: runs(400) },
    );
  });

  it('header JSON edits of valid files (offsets, dtypes, shapes, huge numbers, duplicated/overlapping/renamed/removed entries), with the header length kept right or wrong', () => {
    fc.assert(
      fc.property(
        arbValidFile,
        fc.array(arbHeaderEdit, { minLength: 1, maxLength: 3 }),
        fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
        (file, edits, length) => {
          const { header, data } = split(file);
          checkSafetensors(join(edits.reduce(applyEdit, header), data, length ?? undefined));
        },
      ),
      { numRuns: runs(400) },
    );
  });
});

// ------------------------------------------------------------------ config.json

const arbFieldValue = fc.oneof(
  arbHostileNumber,
  fc.constantFrom(2, 4, 8, 16, 20, 24, 32, 64, true, false, null, 'lsh', 'local', 'relu', 'gelu', 'reformer'),
  fc.array(fc.constantFrom('lsh', 'local', 'LSH', 'global', 1), { maxLength: 4 }),
  fc.array(fc.integer({ min: -2, max: 40 }), { maxLength: 4 }),
  arbHostileValue,
);
const arbFields = fc.dictionary(
  fc.constantFrom(...REFORMER_FIELD_NAMES, 'architectures', 'x_extra', '__proto__', 'constructor', 'toString'),
  arbFieldValue,
  { maxKeys: 6 },
);

function checkConfig(run: () => ReformerConfig): void {
  const r = observe(run);
  expectTypedOnly(r.error, ConfigError);
  expect(r.ms).toBeLessThan(TIME_LIMIT_MS);
  const c = r.value as ReformerConfig | null;
  if (c) expect(ReformerConfig.fromJSON(c.toJSONString()).toJSON()).toEqual(c.toJSON()); // what is accepted round-trips
}

describe('ReformerConfig / config.json fuzz', () => {
  const base = SMALL.toJSON();
  const text = SMALL.toJSONString();

  it('random text: success or ConfigError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json()), (s) => checkConfig(() => ReformerConfig.fromJSON(s))),
      { numRuns: runs(300) },
    );
  });

  it('random fields alone and over a valid config, through the API and through config.json text', () => {
    fc.assert(
      fc.property(arbFields, fc.boolean(), (fields, overBase) => {
        const input = overBase ? { ...base, ...fields } : fields;
        checkConfig(() => new ReformerConfig(input));
        checkConfig(() => ReformerConfig.fromJSON(JSON.stringify(input)));
      }),
      { numRuns: runs(400) },
    );
  });

  it('byte mutations of a valid config.json', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), op: fc.constantFrom('set', 'cut', 'insert') }), {
          minLength: 1,
          maxLength: 4,
        }),
        (ms) => {
          let bytes = enc.encode(text);
          for (const m of ms) {
            const at = m.at % (bytes.length + 1);
            if (m.op === 'set' && at < bytes.length) bytes[at] = m.byte;
            else if (m.op === 'cut') bytes = bytes.slice(0, at);
            else bytes = Uint8Array.from([...bytes.subarray(0, at), m.byte, ...bytes.subarray(at)]);
          }
          checkConfig(() => configFromBytes(bytes));
        },
      ),
      { numRuns: runs(300) },
    );
  });
});

// ------------------------------------------------------------------ whole checkpoints

describe('checkpoint loading fuzz (lmFromCheckpoint: config.json + model.safetensors)', () => {
  const be = new ReferenceBackend();
  const files = lmCheckpointToBytes(new ReformerModelWithLMHead(be, SMALL, { seed: 2 }));
  const cfg = JSON.parse(dec.decode(files.config)) as Record<string, unknown>;
  const inputBytes = (s: Uint8Array, c: string): number => s.byteLength + c.length;

  function checkLoad(safetensors: Uint8Array, config: string): void {
    const r = observe(() => lmFromCheckpoint(be, { safetensors, config }));
    expectTypedOnly(r.error, FormatError, ConfigError);
    expect(r.ms).toBeLessThan(TIME_LIMIT_MS);
    if (r.error) {
      // a failed load never allocates more than its input (a model is only built from weights that fit)
      expect(r.bytes, 'allocation larger than the checkpoint').toBeLessThanOrEqual(inputBytes(safetensors, config));
    }
  }

  it('the valid checkpoint loads (baseline)', () => {
    expect(() => lmFromCheckpoint(be, { safetensors: files.safetensors, config: dec.decode(files.config) })).not.toThrow();
  });

  it('mutated weights file: byte mutations and header JSON edits', () => {
    fc.assert(
      fc.property(fc.array(arbByteMutation, { maxLength: 2 }), fc.array(arbHeaderEdit, { maxLength: 2 }), (ms, edits) => {
        let bytes = files.safetensors;
        if (edits.length > 0) {
          const { header, data } = split(bytes);
          bytes = join(edits.reduce(applyEdit, header), data);
        }
        bytes = ms.reduce(mutateBytes, bytes);
        checkLoad(bytes, dec.decode(files.config));
      }),
      { numRuns: runs(150) },
    );
  });

  // mostly plausible values, so that many edited configs pass validation and reach the weights check
  const arbConfigEdit = fc.dictionary(
    fc.constantFrom(...REFORMER_FIELD_NAMES),
    fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 64 }) },
      { weight: 2, arbitrary: fc.constantFrom(2 ** 16, 2 ** 20, 2 ** 24, 2 ** 30, 2 ** 31 - 1) },
      { weight: 1, arbitrary: fc.constantFrom([8, 8], [2, 16], [16, 2], [4, 8], ['lsh'], ['local', 'local', 'lsh'], [8, 4, 4]) },
      { weight: 1, arbitrary: arbFieldValue },
    ),
    { minKeys: 1, maxKeys: 2 },
  );

  it('mutated config.json fields (sizes, layers, buckets, axial shapes, huge numbers, wrong types)', () => {
    fc.assert(
      fc.property(fc.oneof(arbConfigEdit, arbFields), (fields) => checkLoad(files.safetensors, JSON.stringify({ ...cfg, ...fields }))),
      { numRuns: runs(300) },
    );
  });
});
