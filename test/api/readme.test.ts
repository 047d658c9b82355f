/**
 * README.md stays complete: every `reformer` command and every one of its flags is in the README's
 * CLI reference, with the exit codes; every file the paper→code map names exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/node/cli/main.js';
import { defaultContext } from '../../src/node/cli/context.js';
import { REPO } from '../cli/helpers.js';

const readme = readFileSync(join(REPO, 'README.md'), 'utf8');

describe('README.md', () => {
  it('documents every command and flag of the CLI, and the exit codes', () => {
    const program = buildProgram(defaultContext(), () => {});
    expect(program.commands.length).toBeGreaterThanOrEqual(7);
    for (const cmd of program.commands) {
      expect(readme, `command ${cmd.name()}`).toMatch(new RegExp(`### \`reformer ${cmd.name()}\\b`));
      for (const o of cmd.options) {
        if (o.long === '--help') continue;
        expect(readme, `reformer ${cmd.name()} ${o.long}`).toContain(`\`${o.long}`);
      }
    }
    for (const code of ['| 0 |', '| 1 |', '| 2 |', '| 3 |']) expect(readme).toContain(code);
  });

  it('every source path in the paper → code map and the docs it links exist', () => {
    const paths = new Set([...readme.matchAll(/`((?:src|assembly|examples|docs|test|data)\/[\w./-]+\.\w+)`/g)].map((m) => m[1]!));
    for (const m of readme.matchAll(/\]\(((?:docs|examples)\/[\w./-]+)\)/g)) paths.add(m[1]!);
    expect(paths.size).toBeGreaterThan(20);
    for (const p of paths) {
      if (p === 'docs/benchmarks.md') continue; // filled by the benchmark work
      expect(existsSync(join(REPO, p)), p).toBe(true);
    }
  });
});
