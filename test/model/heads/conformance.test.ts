/**
 * The shared HF task-head fixtures (`head_*`: ReformerForMaskedLM, ReformerForSequenceClassification
 * with single-label, regression and multi-label losses, ReformerForQuestionAnswering with clamped
 * positions) through the conformance runner: eval logits and loss, train logits and loss, every
 * parameter gradient and grad:embedding_output, the structurally zero gradients (max|g| ≤ 1e-6), on
 * the f32 reference backend (vs HF fp32), the f64 reference backend (vs HF float64) and WASM.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../../src/backend/reference.js';
import { createConformanceRegistry, formatConformanceReport, runConformance } from '../../../src/conformance/index.js';
import { HEAD_CONFORMANCE_CASES, headConformanceHandlers } from '../../../src/model/heads/conformance.js';
import { loadWasmBackendSync } from '../../../src/node/wasm.js';
import { HF_FIXTURES_DIR } from '../../../spec/helpers/fixtures.js';

function load(name: string) {
  return {
    name,
    json: readFileSync(join(HF_FIXTURES_DIR, `${name}.json`), 'utf8'),
    safetensors: new Uint8Array(readFileSync(join(HF_FIXTURES_DIR, `${name}.safetensors`))),
  };
}

function tolerance(name: string): { checked_tensors: string[]; structurally_zero_tensors?: { tensors: string[] } } {
  return JSON.parse(readFileSync(join(HF_FIXTURES_DIR, `${name}.json`), 'utf8')).tolerance;
}

describe('HF fixtures, task heads', () => {
  const registry = createConformanceRegistry();
  for (const name of HEAD_CONFORMANCE_CASES) {
    it(`${name} matches HF fp32 (every checked tensor, scaled error ≤ 2e-5)`, () => {
      const report = runConformance([load(name)], { registry });
      const c = report.cases[0]!;
      if (c.status !== 'passed') console.log(formatConformanceReport(report));
      expect(c.status, c.reason ?? '').toBe('passed');
      const tol = tolerance(name);
      const compared = new Map(c.comparisons.map((x) => [x.name, x]));
      for (const t of tol.checked_tensors) expect(compared.get(t)?.passed, `${t} compared and passed`).toBe(true);
      for (const t of tol.structurally_zero_tensors?.tensors ?? []) {
        const z = compared.get(t);
        expect(z?.kind, `${t} checked as structurally zero`).toBe('zero');
        expect(z!.maxAbsError!).toBeLessThanOrEqual(1e-6);
      }
      // the gradients of the whole model are among the checked tensors
      expect(tol.checked_tensors.filter((t) => t.startsWith('grad:reformer.')).length).toBeGreaterThan(20);
      console.log(`${name}: worst scaled error ${c.worstScaledError?.toExponential(2)} over ${c.comparisons.length} comparisons`);
    });
  }

  it('every head case matches HF float64 (ref64:) on the f64 reference backend', () => {
    const report = runConformance(HEAD_CONFORMANCE_CASES.map(load), { registry, backend: new ReferenceBackend({ dtype: 'f64' }) });
    expect(report.against).toBe('ref64');
    expect(report.failed, formatConformanceReport(report)).toBe(0);
    expect(report.passed).toBe(HEAD_CONFORMANCE_CASES.length);
    for (const c of report.cases) console.log(`${c.name} (f64 vs ref64): worst scaled error ${c.worstScaledError?.toExponential(2)}`);
  });

  const wasmBuilt = existsSync(join(import.meta.dirname, '..', '..', '..', 'build', 'kernels.simd.wasm'));
  it.skipIf(!wasmBuilt)('every head case also passes on the WASM backend (freed memory poisoned with NaN)', () => {
    const be = loadWasmBackendSync({ poisonFreed: true });
    const report = be.scope(() => runConformance(HEAD_CONFORMANCE_CASES.map(load), { backend: be }));
    expect(report.failed, formatConformanceReport(report)).toBe(0);
    expect(report.passed).toBe(HEAD_CONFORMANCE_CASES.length);
  });

  it('the default registry (reformer conformance) includes the head handlers', () => {
    const reg = createConformanceRegistry();
    for (const c of Object.keys(headConformanceHandlers)) expect(reg.has(c)).toBe(true);
  });

  it('a structurally zero tensor above 1e-6 fails the case', () => {
    const name = 'head_qa_lsh_local_clamp';
    const broken = createConformanceRegistry({
      ReformerForQuestionAnswering: (ctx) => {
        const out = headConformanceHandlers.ReformerForQuestionAnswering!(ctx);
        const bias = Float64Array.from(out.tensors['grad:qa_outputs.bias']!);
        bias[0] = 2e-6;
        return { ...out, tensors: { ...out.tensors, 'grad:qa_outputs.bias': bias } };
      },
    });
    const report = runConformance([load(name)], { registry: broken });
    expect(report.cases[0]!.status).toBe('failed');
    expect(report.cases[0]!.comparisons.find((x) => x.name === 'grad:qa_outputs.bias')?.passed).toBe(false);
  });
});
