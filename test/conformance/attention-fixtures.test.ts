/**
 * The conformance runner on the HF fixtures: every attention-level case passes on the reference
 * backend (f32 against HF fp32, f64 against HF float64), buckets and sort indices exactly; other
 * components are skipped until their handlers are registered; bad cases fail with reasons.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend } from '../../src/backend/reference.js';
import {
  ConformanceRegistry,
  createConformanceRegistry,
  formatConformanceReport,
  runConformance,
  SkipCase,
} from '../../src/conformance/index.js';
import { readConformanceFolder, runConformanceFolder } from '../../src/node/conformance.js';
import { serializeSafetensors } from '../../src/io/safetensors.js';
import { HF_FIXTURES_DIR } from '../../spec/helpers/fixtures.js';

const ATTENTION = new Set(['LSHSelfAttention', 'LocalSelfAttention', 'ReformerAttention']);
const attentionOnly = (_: string, component: string) => ATTENTION.has(component);

describe('conformance runner on the HF attention fixtures', () => {
  it('all attention cases pass on reference-f32 against HF fp32, integer captures exact', () => {
    const report = runConformanceFolder(HF_FIXTURES_DIR, { filter: attentionOnly });
    const text = formatConformanceReport(report);
    console.log(text);
    expect(report.cases.length).toBe(12);
    expect(report.failed, text).toBe(0);
    expect(report.passed).toBe(12);
    for (const c of report.cases) {
      expect(c.comparisons.find((x) => x.name === 'out:hidden_states')?.passed).toBe(true);
      if (c.component !== 'LocalSelfAttention' && !c.name.includes('short_seq')) {
        for (const n of ['cap:buckets', 'cap:sorted_bucket_idx', 'cap:undo_sorted_bucket_idx']) {
          const cmp = c.comparisons.find((x) => x.name === n);
          expect(cmp?.kind, `${c.name} ${n}`).toBe('int');
          expect(cmp?.mismatches, `${c.name} ${n}`).toBe(0);
        }
      }
    }
    expect(text.trim().split('\n').at(-1)).toBe('12 passed, 0 failed, 0 skipped');
  });

  it('all attention cases pass on reference-f64 against HF float64 (ref64:)', () => {
    const report = runConformanceFolder(HF_FIXTURES_DIR, { filter: attentionOnly, backend: new ReferenceBackend({ dtype: 'f64' }) });
    expect(report.against).toBe('ref64');
    expect(report.failed, formatConformanceReport(report)).toBe(0);
    expect(report.passed).toBe(12);
    // a case's worst scaled error counts what is checked: fp32-only captures on an f64 run are informational
    for (const c of report.cases) {
      const counted = c.comparisons.filter((x) => x.kind === 'float' && !x.informational).map((x) => x.scaledError!);
      expect(c.worstScaledError, c.name).toBe(Math.max(...counted));
      expect(c.worstScaledError!, c.name).toBeLessThan(1e-6);
    }
    const block = report.cases.find((c) => c.name === 'lsh_attention_block_causal')!;
    expect(
      block.comparisons.some((x) => x.informational && x.scaledError! > 1e-4),
      'an informational fp32 comparison differs',
    ).toBe(true);
  });

  it('the f64 reference does NOT match HF fp32 on the fp32-logsumexp-sensitive cases (the quirk is real)', () => {
    const report = runConformanceFolder(HF_FIXTURES_DIR, {
      filter: (n, c) => attentionOnly(n, c) && n === 'lsh_nh2_nb8_c8_causal_pad',
      backend: new ReferenceBackend({ dtype: 'f64' }),
      against: 'out',
    });
    expect(report.failed).toBe(1);
  });

  it('skips components without a handler and counts them as skipped, not passed', () => {
    const cases = readConformanceFolder(HF_FIXTURES_DIR);
    const report = runConformance(cases, { registry: new ConformanceRegistry() });
    expect(report.passed).toBe(0);
    expect(report.failed).toBe(0);
    expect(report.skipped).toBe(cases.length);
    expect(formatConformanceReport(report)).toMatch(new RegExp(`0 passed, 0 failed, ${cases.length} skipped$`));
  });
});

describe('conformance runner: failures and registration', () => {
  const json = {
    case: 'toy',
    component: 'Toy',
    config: {},
    tolerance: { checked_tensors: ['out:y'], rtol_recommended_vs_out: 1e-6 },
  };
  const st = serializeSafetensors([
    { name: 'in:x', shape: [3], data: new Float32Array([1, 2, 3]) },
    { name: 'out:y', shape: [3], data: new Float32Array([2, 4, 6]) },
    { name: 'cap:idx', shape: [3], data: new Int32Array([2, 0, 1]), dtype: 'I64' },
  ]);

  it('passes a correct handler and fails a wrong one, naming the worst element', () => {
    const good = createConformanceRegistry({
      Toy: (ctx) => {
        const x = ctx.floats('in:x');
        return { tensors: { 'out:y': x.map((v) => 2 * v), 'cap:idx': [2, 0, 1] } };
      },
    });
    const ok = runConformance([{ json, safetensors: st }], { registry: good });
    expect(ok.passed).toBe(1);
    expect(ok.cases[0]!.comparisons.map((c) => c.name)).toEqual(['out:y', 'cap:idx']);

    const bad = createConformanceRegistry({ Toy: () => ({ tensors: { 'out:y': [2, 4, 6.01], 'cap:idx': [2, 1, 0] } }) });
    const r = runConformance([{ json, safetensors: st }], { registry: bad });
    expect(r.failed).toBe(1);
    const text = formatConformanceReport(r);
    expect(text).toContain('FAIL  toy [Toy]');
    expect(text).toContain('exact: 1/3 equal');
    expect(text).toMatch(/out:y .*scaled error 1\.67e-3/);
    expect(text.trim().split('\n').at(-1)).toBe('0 passed, 1 failed, 0 skipped');
  });

  it('fails when a checked tensor is missing, the handler throws, or the safetensors is missing; skips on SkipCase', () => {
    const reg = new ConformanceRegistry()
      .register('Toy', () => ({ tensors: {} }))
      .register('Thrower', () => {
        throw new Error('boom');
      })
      .register('Skipper', () => {
        throw new SkipCase('not supported');
      });
    const r = runConformance(
      [
        { json, safetensors: st },
        { json: { ...json, case: 'throws', component: 'Thrower' }, safetensors: st },
        { json: JSON.stringify({ ...json, case: 'nofile' }), safetensors: null },
        { json: { ...json, case: 'skip', component: 'Skipper' }, safetensors: st },
        { json: '{not json', safetensors: st },
      ],
      { registry: reg },
    );
    expect(r.cases.map((c) => c.status)).toEqual(['failed', 'failed', 'failed', 'skipped', 'failed']);
    expect(r.cases[0]!.comparisons[0]!.detail).toBe('not produced by the handler');
    expect(r.cases[1]!.reason).toContain('boom');
    expect(r.cases[2]!.reason).toContain('missing .safetensors');
    expect(r.cases[3]!.reason).toBe('not supported');
  });

  it('refuses a duplicate registration unless replaced', () => {
    const reg = createConformanceRegistry();
    expect(reg.components()).toEqual([
      'AxialPositionEmbeddings',
      'ChunkReformerFeedForward',
      'LSHSelfAttention',
      'LocalSelfAttention',
      'PositionEmbeddings',
      'ReformerAttention',
      'ReformerForMaskedLM',
      'ReformerForQuestionAnswering',
      'ReformerForSequenceClassification',
      'ReformerLayer',
      'ReformerModel',
      'ReformerModelWithLMHead',
    ]);
    expect(() => reg.register('LSHSelfAttention', () => ({ tensors: {} }))).toThrow(/already has a handler/);
    expect(() => reg.register('LSHSelfAttention', () => ({ tensors: {} }), { replace: true })).not.toThrow();
  });
});
