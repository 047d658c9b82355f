/**
 * Argument checks of the public entry points (browser-safe). A JavaScript caller (no type checker) who
 * leaves an argument out or passes the wrong kind of value gets a typed error naming the function, the
 * argument, what it must be and what was given, instead of a `TypeError` from deep inside:
 *
 * - a missing or malformed options object, number or model: `ConfigError` (field = the option's name);
 * - a token array, byte buffer or other array of the wrong kind: `ShapeError`;
 * - a file-system path that is not a string (Node adapters): `UsageError`.
 *
 * Each check costs O(1) (no pass over the data); value checks stay with the function that knows the rule.
 */
import { ConfigError, ShapeError, UsageError } from '../errors.js';

/** A short description of a value for messages: `undefined`, `null`, `an array of 3`, `a Float32Array of 8`, `string "x"`, `number NaN`. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) {
    const n = (v as unknown as { length?: number }).length ?? (v as DataView).byteLength;
    return `a ${v.constructor.name} of ${n}`;
  }
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'no prototype'})`;
  return `${typeof v} ${String(v)}`;
}

/** `Array.isArray` without narrowing (TypeScript narrows a readonly array type to any[] after it). */
export function isArrayValue(v: unknown): boolean {
  return Array.isArray(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/**
 * An options object: returns it, or `{}` when it is absent and `optional`.
 * @param where the function, e.g. `evaluate`.
 * @param example what to pass, e.g. `{ seqLen: 1024 }`.
 * @throws ConfigError('options') for anything that is not an object (or absent when required).
 */
export function optionsArg<T extends object>(where: string, v: T | null | undefined, example: string, optional = true): T {
  if (v === undefined && optional) return {} as T;
  if (!isPlainObject(v)) {
    throw new ConfigError(
      'options',
      `${where} needs an options object such as ${example}${optional ? ' (or none)' : ''}, got ${describeValue(v)}`,
    );
  }
  return v;
}

/** @throws ShapeError unless `v` is an Int32Array (token ids). */
export function int32Arg(where: string, name: string, v: unknown): asserts v is Int32Array {
  if (!(v instanceof Int32Array)) {
    throw new ShapeError(
      `${where}: ${name} must be an Int32Array of token ids (e.g. new ByteTokenizer().encode(text)), got ${describeValue(v)}${
        Array.isArray(v) ? '; convert it with Int32Array.from(...)' : ''
      }`,
    );
  }
}

/** @throws ShapeError unless `v` is a Uint8Array (raw bytes). */
export function bytesArg(where: string, name: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) {
    throw new ShapeError(
      `${where}: ${name} must be a Uint8Array of bytes (e.g. new TextEncoder().encode(text), or a file's contents), got ${describeValue(v)}`,
    );
  }
}

/** @throws ShapeError unless `v` is an array or typed array (anything with a numeric length and indices). */
export function arrayLikeArg(where: string, name: string, v: unknown, what = 'an array of numbers'): asserts v is ArrayLike<number> {
  const ok =
    (Array.isArray(v) || ArrayBuffer.isView(v)) && typeof (v as { length?: unknown }).length === 'number' && !(v instanceof DataView);
  if (!ok) throw new ShapeError(`${where}: ${name} must be ${what}, got ${describeValue(v)}`);
}

/** @throws ConfigError(field) unless `v` is a finite number. */
export function numberArg(where: string, field: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new ConfigError(field, `${where}: must be a finite number, got ${describeValue(v)}`);
}

/** @throws ConfigError(field) unless `v` is an integer ≥ `min`. */
export function intArg(where: string, field: string, v: unknown, min = 0): asserts v is number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new ConfigError(field, `${where}: must be an integer ≥ ${min}, got ${describeValue(v)}`);
  }
}

/** @throws ConfigError(field) unless `v` is a string. */
export function stringArg(where: string, field: string, v: unknown): asserts v is string {
  if (typeof v !== 'string') throw new ConfigError(field, `${where}: must be a string, got ${describeValue(v)}`);
}

/** @throws UsageError unless `v` is a non-empty string (a file-system path; Node adapters). */
export function pathArg(where: string, name: string, v: unknown): asserts v is string {
  if (typeof v !== 'string' || v.length === 0) {
    throw new UsageError(`${where}: ${name} must be a non-empty path string, got ${describeValue(v)}`);
  }
}

/**
 * A compute backend (`ReferenceBackend`, `WasmBackend`): checks the two members every caller uses first.
 * @throws ConfigError('backend') naming how to make one.
 */
export function backendArg(where: string, v: unknown): void {
  const b = v as { floats?: unknown; scope?: unknown } | null | undefined;
  if (b === null || typeof b !== 'object' || typeof b.floats !== 'function' || typeof b.scope !== 'function') {
    throw new ConfigError(
      'backend',
      `${where} needs a compute backend (new ReferenceBackend() from 'reformer-ts', or await loadWasmBackend() from 'reformer-ts/node'), got ${describeValue(v)}`,
    );
  }
}

/**
 * A `CausalLanguageModel` (e.g. `ReformerModelWithLMHead`): checks its backend, vocabulary size and the
 * methods the caller needs.
 * @param methods the methods used, e.g. `['loss']`.
 * @throws ConfigError('model').
 */
export function modelArg(where: string, v: unknown, methods: readonly string[]): void {
  const m = v as Record<string, unknown> | null | undefined;
  const missing =
    m === null || typeof m !== 'object'
      ? ['everything']
      : [
          ...(typeof m.vocabSize === 'number' ? [] : ['vocabSize']),
          ...(m.backend !== null && typeof m.backend === 'object' ? [] : ['backend']),
          ...methods.filter((k) => typeof m[k] !== 'function').map((k) => `${k}()`),
        ];
  if (missing.length > 0) {
    throw new ConfigError(
      'model',
      `${where} needs a CausalLanguageModel (e.g. new ReformerModelWithLMHead(backend, config) or lmFromCheckpoint(backend, files)), got ${describeValue(v)}${
        missing[0] === 'everything' ? '' : ` without ${missing.join(', ')}`
      }`,
    );
  }
}

/**
 * An object argument that is not an options bag (a config, the weights of a layer): returns it.
 * @param what what to pass, e.g. `an AttentionConfig (a ReformerConfig, or attentionConfig({...}))`.
 * @throws ConfigError(field) for null, a primitive, an array or a typed array.
 */
export function objectArg(where: string, field: string, v: unknown, what: string): asserts v is Record<string, unknown> {
  if (!isPlainObject(v)) throw new ConfigError(field, `${where} needs ${what}, got ${describeValue(v)}`);
}

/** @throws ShapeError unless `v` is a Float32Array or Float64Array (a float tensor, e.g. from `backend.floats(n)`). */
export function floatArg(where: string, name: string, v: unknown): asserts v is Float32Array | Float64Array {
  if (!(v instanceof Float32Array) && !(v instanceof Float64Array)) {
    throw new ShapeError(`${where}: ${name} must be a Float32Array or Float64Array (e.g. backend.floats(n)), got ${describeValue(v)}`);
  }
}

/**
 * A shape-carrying object (an attention spec, a forward's cache, oracle parameters): an object whose
 * members `dims` are positive integers. O(dims), never a pass over the data it holds.
 * @param what what to pass, e.g. `the cache of lshAttentionForward`.
 * @throws ShapeError naming the object or its first missing or bad member.
 */
export function dimsArg(
  where: string,
  name: string,
  v: unknown,
  dims: readonly string[],
  what: string,
): asserts v is Record<string, unknown> {
  if (!isPlainObject(v)) throw new ShapeError(`${where}: ${name} must be ${what}, got ${describeValue(v)}`);
  for (const k of dims) {
    const x = v[k];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1) {
      throw new ShapeError(`${where}: ${name}.${k} must be a positive integer (${name} must be ${what}), got ${describeValue(x)}`);
    }
  }
}
