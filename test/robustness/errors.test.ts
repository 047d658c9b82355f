/**
 * Robustness, typed errors: the error classes, their names in messages, and the CLI's mapping to exit
 * codes (usage/input 2, runtime 1, not available 3) as documented in `reformer --help`.
 */
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { ConfigError, FormatError, NumericalError, ReformerError, ResourceError, ShapeError, UsageError } from '../../src/errors.js';
import { EXIT, NotAvailableError } from '../../src/node/cli/context.js';
import { errorLine, exitCodeOf } from '../../src/node/cli/main.js';
import { cli } from '../cli/helpers.js';

describe('typed errors', () => {
  it('every class is a ReformerError and an Error named after its class; ConfigError carries the field', () => {
    for (const E of [ShapeError, FormatError, UsageError, ResourceError, NumericalError]) {
      const e = new E('what');
      expect(e).toBeInstanceOf(ReformerError);
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe(E.name);
    }
    const c = new ConfigError('num_buckets', 'must be even, got 7; e.g. 8');
    expect(c.field).toBe('num_buckets');
    expect(c.message).toBe('num_buckets: must be even, got 7; e.g. 8');
    expect(c.name).toBe('ConfigError');
  });

  it('exit codes: input errors 2, runtime failures 1, not available 3; help and version 0', () => {
    for (const e of [
      new UsageError('x'),
      new ConfigError('f', 'x'),
      new FormatError('x'),
      new ShapeError('x'),
      new CommanderError(1, 'commander.unknownOption', 'x'),
    ]) {
      expect(exitCodeOf(e), e.name).toBe(EXIT.usage);
    }
    for (const e of [
      new ResourceError('x'),
      new NumericalError('x'),
      new Error('x'),
      new TypeError('x'),
      new RangeError('Array buffer allocation failed'),
      'a string',
    ]) {
      expect(exitCodeOf(e), String(e)).toBe(EXIT.failure);
    }
    expect(exitCodeOf(new NotAvailableError('x'))).toBe(EXIT.unavailable);
    expect(EXIT.usage).not.toBe(EXIT.failure);
  });

  it('the error line is one line naming the kind (usage errors speak for themselves)', () => {
    expect(errorLine(new FormatError('model.safetensors:\n  truncated'))).toBe('reformer: FormatError: model.safetensors: truncated');
    expect(errorLine(new ConfigError('hidden_size', 'must be a positive integer, got 0'))).toBe(
      'reformer: ConfigError: hidden_size: must be a positive integer, got 0',
    );
    expect(errorLine(new UsageError('--steps "0": must be a positive integer'))).toBe('reformer: --steps "0": must be a positive integer');
    expect(errorLine(new RangeError('Invalid typed array length: 1e+21'))).toBe('reformer: RangeError: Invalid typed array length: 1e+21');
  });

  it('--help documents the codes', async () => {
    const r = await cli(['--help']);
    expect(r.stdout.text).toMatch(/1 {2}runtime failure \(e\.g\. NaN loss: NumericalError; out of memory: ResourceError/);
    expect(r.stdout.text).toMatch(/2 {2}usage or input error .*\n.*UsageError, ConfigError, FormatError, ShapeError/);
    expect(r.stdout.text).toMatch(/one line on stderr; add --verbose for the stack trace/);
  });
});
