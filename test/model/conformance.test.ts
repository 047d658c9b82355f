/**
 * HF fixtures of the model-level components through the conformance runner (src/conformance) with the
 * model handlers (src/model/conformance.ts): feed-forward, position embeddings, reversible layer,
 * ReformerModel and ReformerModelWithLMHead (eval logits/loss, train loss, every parameter gradient,
 * grad:embedding_output), on the f32 reference backend against HF's fp32 numbers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { createConformanceRegistry, formatConformanceReport, runConformance } from '../../src/conformance/index.js';
import { MODEL_CONFORMANCE_CASES, modelConformanceHandlers } from '../../src/model/conformance.js';
import { loadWasmBackendSync } from '../../src/node/wasm.js';
import { HF_FIXTURES_DIR } from '../../spec/helpers/fixtures.js';

function load(name: string) {
  return {
    name,
    json: readFileSync(join(HF_FIXTURES_DIR, `${name}.json`), 'utf8'),
    safetensors: new Uint8Array(readFileSync(join(HF_FIXTURES_DIR, `${name}.safetensors`))),
  };
}

describe('HF fixtures, model components', () => {
  const registry = createConformanceRegistry(modelConformanceHandlers);
  for (const name of MODEL_CONFORMANCE_CASES) {
    it(`${name} matches HF (scaled error ≤ 2e-5, every checked tensor)`, () => {
      const report = runConformance([load(name)], { registry });
      const c = report.cases[0]!;
      if (c.status !== 'passed') console.log(formatConformanceReport(report));
      expect(c.status, c.reason ?? '').toBe('passed');
      const required = JSON.parse(readFileSync(join(HF_FIXTURES_DIR, `${name}.json`), 'utf8')).tolerance.checked_tensors as string[];
      const compared = new Set(c.comparisons.map((x) => x.name));
      for (const t of required) expect(compared.has(t), `${t} compared`).toBe(true);
      console.log(`${name}: worst scaled error ${c.worstScaledError?.toExponential(2)} over ${c.comparisons.length} comparisons`);
    });
  }

  it('every model case also matches HF float64 (ref64:) on the f64 reference backend', () => {
    const report = runConformance(MODEL_CONFORMANCE_CASES.map(load), { registry, backend: new ReferenceBackend({ dtype: 'f64' }) });
    expect(report.against).toBe('ref64');
    expect(report.failed, formatConformanceReport(report)).toBe(0);
    expect(report.passed).toBe(MODEL_CONFORMANCE_CASES.length);
    for (const c of report.cases) console.log(`${c.name} (f64 vs ref64): worst scaled error ${c.worstScaledError?.toExponential(2)}`);
  });

  const wasmBuilt = existsSync(join(import.meta.dirname, '..', '..', 'build', 'kernels.simd.wasm'));
  it.skipIf(!wasmBuilt)('every model case also passes on the WASM backend (freed memory poisoned with NaN)', () => {
    const be = loadWasmBackendSync({ poisonFreed: true });
    const report = be.scope(() => runConformance(MODEL_CONFORMANCE_CASES.map(load), { backend: be }));
    expect(report.failed, formatConformanceReport(report)).toBe(0);
    expect(report.passed).toBe(MODEL_CONFORMANCE_CASES.length);
  });

  it('the default registry (reformer conformance) includes the model handlers', () => {
    const reg = createConformanceRegistry();
    for (const c of Object.keys(modelConformanceHandlers)) expect(reg.has(c)).toBe(true);
  });
});
