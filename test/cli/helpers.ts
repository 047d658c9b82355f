/** Runs the CLI in-process with captured output, and locates the compiled CLI for child-process tests. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Rng } from '../../src/util/rng.js';
import { runCli } from '../../src/node/cli/main.js';
import type { CliContext, OutStream } from '../../src/node/cli/context.js';

export const REPO = join(import.meta.dirname, '..', '..');
export const BIN = join(REPO, 'bin', 'reformer.js');
export const CORPUS = join(REPO, 'data', 'crime-and-punishment.txt');

/**
 * Writes a FASTA file of `records` records of uniformly random bases (seeded), 60 per line; gzipped if
 * the path ends in .gz. The best possible model needs exactly 2 bits per base.
 */
export function writeRandomFasta(path: string, records: number, basesPerRecord: number, seed = 1): void {
  const rng = new Rng(seed);
  let text = '';
  for (let r = 0; r < records; r++) {
    text += `>record_${r} synthetic\n`;
    for (let i = 0; i < basesPerRecord; i += 60) {
      let line = '';
      for (let j = i; j < Math.min(i + 60, basesPerRecord); j++) line += 'ACGT'[rng.int(4)];
      text += `${line}\n`;
    }
  }
  const bytes = new TextEncoder().encode(text);
  writeFileSync(path, path.endsWith('.gz') ? gzipSync(bytes) : bytes);
}

/** A stream that keeps what is written. */
export class Capture implements OutStream {
  text = '';
  isTTY = false;
  write(s: string): boolean {
    this.text += s;
    return true;
  }
  lines(): string[] {
    return this.text.split('\n').filter((l) => l.length > 0);
  }
}

export interface CliRun {
  code: number;
  stdout: Capture;
  stderr: Capture;
}

/** `reformer <argv>` in this process (signals not handled). */
export async function cli(argv: string[], ctx: Partial<CliContext> = {}): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, { stdout, stderr, handleSignals: false, ...ctx });
  return { code, stdout, stderr };
}

/** The JSON object on the last stdout line (the `--json` contract of `reformer bench`). */
export function lastJson(out: Capture): Record<string, unknown> {
  const lines = out.text.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

/** Fails clearly if the compiled CLI is missing (child-process tests run dist/, as the bin does). */
export function requireDist(): void {
  if (!existsSync(join(REPO, 'dist', 'src', 'node', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build:ts` before these tests (npm test does)');
  }
}
