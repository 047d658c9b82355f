/**
 * Flag value parsers for commander: each throws `UsageError` naming the flag, the value given and what
 * is allowed, so every bad value exits with code 2 and one line.
 */
import { UsageError } from '../../errors.js';
import type { LengthRule } from '../engine.js';

type Parser<T> = (value: string) => T;

const bad = (flag: string, value: string, allowed: string): UsageError => new UsageError(`${flag} ${JSON.stringify(value)}: ${allowed}`);

/** Integer ≥ min (default 1). */
export function intFlag(flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (value) => {
    const x = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(x) || x < min || x > max) {
      const range =
        max === Number.MAX_SAFE_INTEGER
          ? min === 1
            ? 'a positive integer (1, 2, 3, ...)'
            : `an integer ≥ ${min}`
          : `an integer in [${min}, ${max}]`;
      throw bad(flag, value, `must be ${range}`);
    }
    return x;
  };
}

/** Finite number in a range; `exclusiveMin` for (min, max]. */
export function numberFlag(
  flag: string,
  min: number,
  max: number,
  opts: { exclusiveMin?: boolean; exclusiveMax?: boolean; what?: string } = {},
): Parser<number> {
  return (value) => {
    const x = value.trim() === '' ? NaN : Number(value);
    const okMin = opts.exclusiveMin ? x > min : x >= min;
    const okMax = opts.exclusiveMax ? x < max : x <= max;
    if (!Number.isFinite(x) || !okMin || !okMax) {
      const lo = `${opts.exclusiveMin ? '(' : '['}${min}`;
      const hi = `${max === Infinity ? '∞' : max}${opts.exclusiveMax || max === Infinity ? ')' : ']'}`;
      throw bad(flag, value, `must be ${opts.what ?? 'a number'} in ${lo}, ${hi}`);
    }
    return x;
  };
}

/** One of `choices`. */
export function choiceFlag<T extends string>(flag: string, choices: readonly T[]): Parser<T> {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw bad(flag, value, `must be one of ${choices.join(', ')}`);
    return value as T;
  };
}

/** Comma-separated positive integers, e.g. `1,2,4,8` (each ≤ max). */
export function intListFlag(flag: string, max = Number.MAX_SAFE_INTEGER): Parser<number[]> {
  return (value) => {
    const parts = value.split(',').map((s) => s.trim());
    const xs = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
    if (parts.length === 0 || xs.some((x) => !Number.isSafeInteger(x) || x <= 0 || x > max)) {
      const range = max === Number.MAX_SAFE_INTEGER ? 'positive integers' : `integers in [1, ${max}]`;
      throw bad(flag, value, `must be a comma-separated list of ${range}, e.g. 1,2,4,8`);
    }
    return xs;
  };
}

/** Comma-separated values of `choices`, each once, e.g. `forward,train`. */
export function choiceListFlag<T extends string>(flag: string, choices: readonly T[]): Parser<T[]> {
  return (value) => {
    const parts = value.split(',').map((s) => s.trim());
    if (parts.some((p) => !(choices as readonly string[]).includes(p)) || new Set(parts).size !== parts.length) {
      throw bad(flag, value, `must be a comma-separated list of distinct values from ${choices.join(', ')}`);
    }
    return parts as T[];
  };
}

/** HF `attn_layers` as a comma-separated list of `local` and `lsh`, repeats allowed (unlike `choiceListFlag`), e.g. `local,lsh,local,lsh`. */
export function attnLayersFlag(flag: string): Parser<('local' | 'lsh')[]> {
  return (value) => {
    const parts = value.split(',').map((s) => s.trim());
    if (parts.some((p) => p !== 'local' && p !== 'lsh'))
      throw bad(flag, value, 'must be a comma-separated list of local and lsh, e.g. local,lsh');
    return parts as ('local' | 'lsh')[];
  };
}

/** A non-empty string (paths, prompts). */
export function nonEmptyFlag(flag: string): Parser<string> {
  return (value) => {
    if (value.length === 0) throw bad(flag, value, 'must not be empty');
    return value;
  };
}

/**
 * Checks a sequence length against a chunk rule before any model is built (`train --seq-len`,
 * `bench model --seq-len`; `verify --seq-len` has the same rule).
 * @param subject what gave the length, e.g. `--seq-len 1000`.
 * @param opts.what text before "must be", e.g. `the training length 4096 (the preset's) `;
 *   `fix` a clause after the examples; `lowest`: suggestions at or below it are left out (default 0).
 * @throws UsageError `--seq-len 1000: must be a multiple of 64 (lsh_attn_chunk_length / local_attn_chunk_length of this model), e.g. 960 or 1024`.
 */
export function checkLengthMultiple(
  subject: string,
  length: number,
  rule: LengthRule,
  opts: { what?: string; fix?: string; lowest?: number } = {},
): void {
  if (length <= rule.min || length % rule.multiple === 0) return;
  const below = Math.floor(length / rule.multiple) * rule.multiple;
  const eg = `${below > (opts.lowest ?? 0) ? `${below} or ` : ''}${below + rule.multiple}`;
  throw new UsageError(
    `${subject}: ${opts.what ?? ''}must be a multiple of ${rule.multiple} (${rule.why}), e.g. ${eg}${opts.fix ? `; ${opts.fix}` : ''}`,
  );
}
