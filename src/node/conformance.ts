/**
 * Node adapter of the conformance runner: reads a folder of `<case>.json` / `<case>.safetensors`
 * pairs (e.g. test/fixtures/hf-reformer) and runs them.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { pathArg } from '../util/args.js';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { runConformance } from '../conformance/runner.js';
import type { ConformanceCaseInput, ConformanceOptions, ConformanceReport } from '../conformance/types.js';

/**
 * Reads every `<case>.json` in `dir` (sorted by name) with its `<case>.safetensors` (null if missing:
 * that case then fails with a clear reason). Files are read as bytes; parsing happens in the runner.
 * @throws UsageError if `dir` is not a folder or holds no `.json` file.
 */
export function readConformanceFolder(dir: string): ConformanceCaseInput[] {
  pathArg('readConformanceFolder', 'dir', dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`conformance: ${dir} is not a folder; pass the folder holding <case>.json/<case>.safetensors pairs`);
  }
  const jsons = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (jsons.length === 0) throw new UsageError(`conformance: ${dir} holds no <case>.json files`);
  return jsons.map((f) => {
    const name = f.slice(0, -'.json'.length);
    const st = join(dir, `${name}.safetensors`);
    return {
      name,
      json: new Uint8Array(readFileSync(join(dir, f))),
      safetensors: existsSync(st) ? new Uint8Array(readFileSync(st)) : null,
    };
  });
}

/** `readConformanceFolder` + `runConformance`. */
export function runConformanceFolder(dir: string, options: ConformanceOptions = {}): ConformanceReport {
  return runConformance(readConformanceFolder(dir), options);
}
