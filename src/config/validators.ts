/**
 * Validators of single `ReformerConfig` fields: each takes the field name and the raw value, returns the
 * value typed, or throws `ConfigError(field, ...)` saying what was found and what is allowed.
 */
import { ConfigError } from '../errors.js';
import { bucketFactors, MAX_CONFIG_INT, type NumBuckets } from './buckets.js';
import type { AttnLayerType, HiddenAct } from './fields.js';

export { MAX_CONFIG_INT } from './buckets.js';

export const MAX_EXTRA_DEPTH = 64;

/**
 * A non-Reformer key of config.json is kept verbatim, so it must be plain JSON data (plain objects,
 * arrays, strings, numbers, booleans, null: no functions, class instances or typed arrays): not `__proto__`
 * (it would replace the prototype instead of being kept), nested at most MAX_EXTRA_DEPTH levels (a deeper
 * value overflows the stack when copied or written back). Iterative: never recurses on the input.
 * @throws ConfigError(key).
 */
export function checkExtraValue(key: string, value: unknown): void {
  if (key === '__proto__') {
    throw new ConfigError('__proto__', 'is not a valid config.json key (it would be read as the object prototype); remove it');
  }
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'function' || typeof v === 'bigint' || typeof v === 'symbol') {
      throw new ConfigError(key, `must be JSON data (a config.json value), got a ${typeof v}`);
    }
    if (v === null || typeof v !== 'object') continue;
    const proto = Object.getPrototypeOf(v);
    if (!Array.isArray(v) && proto !== Object.prototype && proto !== null) {
      throw new ConfigError(
        key,
        `must be JSON data (a config.json value), got ${ArrayBuffer.isView(v) ? 'a typed array' : `an object of class ${proto?.constructor?.name ?? '?'}`}`,
      );
    }
    if (depth > MAX_EXTRA_DEPTH) {
      throw new ConfigError(
        key,
        `nests objects/arrays more than ${MAX_EXTRA_DEPTH} levels deep; config.json values must be shallow JSON data`,
      );
    }
    for (const x of Object.values(v as object)) stack.push([x, depth + 1]);
  }
}

export function describe(v: unknown): string {
  if (typeof v === 'string') return `"${v}" (a string)`;
  if (Array.isArray(v)) return `[${v.map((x) => (typeof x === 'string' ? `"${x}"` : String(x))).join(', ')}]`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

export function number(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ConfigError(field, `must be a finite number, got ${describe(v)}`);
  }
  return v + 0; // -0 becomes 0, as config.json writes it
}

export function notAboveInt32(field: string, x: number, v: unknown): number {
  if (x > MAX_CONFIG_INT) {
    throw new ConfigError(field, `must be at most ${MAX_CONFIG_INT} (sizes and ids are int32), got ${describe(v)}`);
  }
  return x;
}

export function posInt(field: string, v: unknown): number {
  const x = number(field, v);
  if (!Number.isInteger(x) || x < 1)
    throw new ConfigError(field, `must be a positive integer, got ${describe(v)}; e.g. ${Math.max(1, Math.round(Math.abs(x)))}`);
  return notAboveInt32(field, x, v);
}

export function nonNegInt(field: string, v: unknown): number {
  const x = number(field, v);
  if (!Number.isInteger(x) || x < 0)
    throw new ConfigError(field, `must be a non-negative integer, got ${describe(v)}; e.g. ${Math.max(0, Math.round(Math.abs(x)))}`);
  return notAboveInt32(field, x, v);
}

export function optionalNonNegInt(field: string, v: unknown): number | null {
  return v === null ? null : nonNegInt(field, v);
}

export function optionalInt(field: string, v: unknown): number | null {
  if (v === null) return null;
  const x = number(field, v);
  if (!Number.isSafeInteger(x)) throw new ConfigError(field, `must be an integer or null, got ${describe(v)}`);
  return x;
}

export function positive(field: string, v: unknown): number {
  const x = number(field, v);
  if (!(x > 0)) throw new ConfigError(field, `must be > 0, got ${describe(v)}`);
  return x;
}

export function nonNegative(field: string, v: unknown): number {
  const x = number(field, v);
  if (x < 0) throw new ConfigError(field, `must be ≥ 0, got ${describe(v)}`);
  return x;
}

export function probability(field: string, v: unknown): number {
  const x = number(field, v);
  if (x < 0 || x >= 1) throw new ConfigError(field, `must be a dropout probability in [0, 1), got ${describe(v)}`);
  return x;
}

export function bool(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(field, `must be true or false, got ${describe(v)}`);
  return v;
}

export function intList(field: string, v: unknown): readonly number[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new ConfigError(field, `must be a non-empty list of positive integers, got ${describe(v)}`);
  v.forEach((x, i) => {
    posInt(`${field}[${i}]`, x);
  });
  return Object.freeze([...(v as number[])]);
}

export function attnLayers(v: unknown): readonly AttnLayerType[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw new ConfigError('attn_layers', `must be a non-empty list of "lsh" / "local", got ${describe(v)}`);
  }
  v.forEach((x, i) => {
    if (x !== 'lsh' && x !== 'local') {
      throw new ConfigError('attn_layers', `entry ${i} is ${describe(x)}; each entry must be "lsh" or "local"`);
    }
  });
  return Object.freeze([...(v as AttnLayerType[])]);
}

export function hiddenAct(v: unknown): HiddenAct {
  if (v !== 'relu' && v !== 'gelu' && v !== 'gelu_new') {
    throw new ConfigError('hidden_act', `is ${describe(v)}; supported: "relu", "gelu" (exact erf) and "gelu_new" (tanh approximation)`);
  }
  return v;
}

/** `num_buckets`: null (automatic) or a value `bucketFactors` accepts (buckets.ts: the one home of the rule). */
export function numBuckets(v: unknown): NumBuckets | null {
  if (v === null) return null;
  bucketFactors(v as NumBuckets);
  return typeof v === 'number' ? v : Object.freeze([...(v as number[])]);
}

export function product(xs: readonly number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v as object)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
