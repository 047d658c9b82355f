/**
 * HF's cached greedy decoding cases (`decode_*`) through the conformance runner: per-step logits
 * (teacher-forced), greedy ids, the prompt's and every step's buckets and windows, the cache after the
 * last step, the non-cached forward of every prefix and the documented relation between the two; on
 * the f32 reference backend against HF fp32, on f64 against HF float64, and on the WASM backend.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { formatConformanceReport, runConformance } from '../../src/conformance/index.js';
import { DECODE_CONFORMANCE_CASES } from '../../src/model/decode-conformance.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { HF_FIXTURES_DIR } from '../../spec/helpers/fixtures.js';

const CASES = DECODE_CONFORMANCE_CASES;

function load(name: string) {
  return {
    name,
    json: readFileSync(join(HF_FIXTURES_DIR, `${name}.json`), 'utf8'),
    safetensors: new Uint8Array(readFileSync(join(HF_FIXTURES_DIR, `${name}.safetensors`))),
  };
}

describe('HF cached decoding fixtures (decode_*)', () => {
  for (const dtype of ['f32', 'f64'] as const) {
    for (const name of CASES) {
      it(`${name} (${dtype})`, () => {
        const report = runConformance([load(name)], { backend: new ReferenceBackend({ dtype }) });
        const c = report.cases[0]!;
        console.log(formatConformanceReport(report));
        expect(c.status, c.reason ?? '').toBe('passed');
        const required = JSON.parse(readFileSync(join(HF_FIXTURES_DIR, `${name}.json`), 'utf8')).tolerance.checked_tensors as string[];
        const compared = new Set(c.comparisons.map((x) => x.name));
        for (const t of required) expect(compared.has(t), `${t} compared`).toBe(true);
        // the captures of every step (window positions of every hashed LSH layer) were compared too
        expect(c.comparisons.filter((x) => x.name.startsWith('cap:step.')).length).toBeGreaterThan(0);
      });
    }
  }

  const wasmBuilt = existsSync(join(import.meta.dirname, '..', '..', 'build', 'kernels.simd.wasm'));
  it.skipIf(!wasmBuilt)('every decode case passes on the WASM backend too (freed memory poisoned with NaN)', () => {
    const be = loadWasmBackendSync({ poisonFreed: true });
    const report = be.scope(() => runConformance(CASES.map(load), { backend: be }));
    expect(report.failed, formatConformanceReport(report)).toBe(0);
    expect(report.passed).toBe(CASES.length);
  });
});
