/**
 * Flag value parsers for commander: each throws `UsageError` naming the flag, the value given and what
 * is allowed, so every bad value exits with code 2 and one line.
 */
import { UsageError } from '../../errors.js';

type Parser<T> = (value: string) => T;

const bad = (flag: string, value: string, allowed: string): UsageError => new UsageError(`${flag} ${JSON.stringify(value)}: ${allowed}`);

/** Integer ≥ min (default 1). */
export function intFlag(flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (value) => {
    const x = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(x) || x < min || x > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? (min === 1 ? 'a positive integer (1, 2, 3, ...)' : `an integer ≥ ${min}`) : `an integer in [${min}, ${max}]`;
      throw bad(flag, value, `must be ${range}`);
    }
    return x;
  };
}

/** Finite number in a range; `exclusiveMin` for (min, max]. */
export function numberFlag(flag: string, min: number, max: number, opts: { exclusiveMin?: boolean; exclusiveMax?: boolean; what?: string } = {}): Parser<number> {
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

/** Comma-separated positive integers, e.g. `1,2,4,8`. */
export function intListFlag(flag: string): Parser<number[]> {
  return (value) => {
    const parts = value.split(',').map((s) => s.trim());
    const xs = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
    if (parts.length === 0 || xs.some((x) => !Number.isSafeInteger(x) || x <= 0)) {
      throw bad(flag, value, 'must be a comma-separated list of positive integers, e.g. 1,2,4,8');
    }
    return xs;
  };
}

/** A non-empty string (paths, prompts). */
export function nonEmptyFlag(flag: string): Parser<string> {
  return (value) => {
    if (value.length === 0) throw bad(flag, value, 'must not be empty');
    return value;
  };
}
