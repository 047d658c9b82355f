/**
 * The HF conformance runner (library function behind `reformer conformance`): runs every case through
 * the handler registered for its `component` and compares the results with HF's numbers.
 *
 * Comparison rules (test/fixtures/hf-reformer/README.md, "Tolerances"):
 * - integer tensors (buckets, sort indices; I64 in the files) must match exactly;
 * - float tensors: `max|ours − X| ≤ rtol·S` with `S = max(1, max|X|)` for `out:`/`cap:` tensors and
 *   `S = max|X|` for `grad:` tensors; rtol from the JSON (`rtol_recommended_vs_out`, 2e-5) unless overridden;
 * - against `ref64` (default on an f64 backend), `X` is the fixture's `ref64:<name>` where it exists.
 * - structurally zero tensors (`tolerance.structurally_zero_tensors`, zero in exact arithmetic, stored
 *   as rounding noise): `max|ours| ≤ 1e-6`.
 * Every `tolerance.checked_tensors` entry must be produced; other produced tensors that the fixture
 * holds are compared too. Cases whose component has no handler are skipped (skipped is not passed).
 */
import type { Backend, Float } from '../backend/backend.js';
import { ReferenceBackend } from '../backend/reference.js';
import { FormatError, ShapeError } from '../errors.js';
import { describeValue, isArrayValue, optionsArg } from '../util/args.js';
import { parseSafetensors, SafetensorsFile } from '../io/safetensors.js';
import { createConformanceRegistry } from './builtin.js';
import {
  SkipCase,
  type CaseReport,
  type ConformanceCaseInput,
  type ConformanceContext,
  type ConformanceOptions,
  type ConformanceOutputs,
  type ConformanceReference,
  type ConformanceReport,
  type FixtureJson,
  type TensorComparison,
} from './types.js';

/** Default rtol when the JSON recommends none (README: "The recommended value is rtol = 2e-5"). */
export const DEFAULT_CONFORMANCE_RTOL = 2e-5;

/** Bound on a structurally zero tensor (README "Structurally zero gradients": `max|yours| ≤ 1e-6`). */
export const STRUCTURAL_ZERO_ATOL = 1e-6;

/** Runs the cases and returns a structured report (never throws for a bad case; it fails instead). */
export function runConformance(cases: readonly ConformanceCaseInput[], options: ConformanceOptions = {}): ConformanceReport {
  if (!isArrayValue(cases)) {
    throw new ShapeError(
      `runConformance: cases must be an array of { json, safetensors } (readConformanceFolder(dir) in reformer-ts/node), got ${describeValue(cases)}`,
    );
  }
  optionsArg('runConformance', options, '{ backend: new ReferenceBackend() }');
  const be = options.backend ?? new ReferenceBackend();
  const registry = options.registry ?? createConformanceRegistry();
  const against: ConformanceReference =
    options.against === undefined || options.against === 'auto' ? (be.dtype === 'f64' ? 'ref64' : 'out') : options.against;
  const reports: CaseReport[] = [];
  /** One case's report, or null when the filter leaves it out. */
  const runOne = (input: ConformanceCaseInput, index: number): CaseReport | null => {
    const start = now();
    const done = (r: Omit<CaseReport, 'milliseconds'>): CaseReport => ({ ...r, milliseconds: now() - start });
    let json: FixtureJson;
    try {
      json = parseJson(input.json);
    } catch (e) {
      return done({
        name: input.name ?? `case ${index}`,
        component: '?',
        status: 'failed',
        reason: message(e),
        comparisons: [],
        worstScaledError: null,
      });
    }
    const name = input.name ?? (typeof json.case === 'string' ? json.case : `case ${index}`);
    const component = typeof json.component === 'string' ? json.component : '?';
    if (options.filter && !options.filter(name, component)) return null;
    const fail = (reason: string, comparisons: TensorComparison[] = []): CaseReport =>
      done({ name, component, status: 'failed', reason, comparisons, worstScaledError: worst(comparisons) });
    if (component === '?') return fail('the JSON has no "component" string');
    const handler = registry.get(component);
    if (!handler) {
      return done({
        name,
        component,
        status: 'skipped',
        reason: `no handler registered for component ${component}`,
        comparisons: [],
        worstScaledError: null,
      });
    }
    let tensors: SafetensorsFile;
    try {
      if (input.safetensors === null || input.safetensors === undefined) throw new FormatError(`${name}: missing .safetensors data`);
      tensors = input.safetensors instanceof SafetensorsFile ? input.safetensors : parseSafetensors(input.safetensors);
    } catch (e) {
      return fail(message(e));
    }
    let outputs: ConformanceOutputs;
    try {
      outputs = handler(makeContext(be, name, json, tensors));
    } catch (e) {
      if (e instanceof SkipCase) {
        return done({ name, component, status: 'skipped', reason: e.message, comparisons: [], worstScaledError: null });
      }
      return fail(message(e));
    }
    const comparisons = compareOutputs(json, tensors, outputs, against, options.rtol);
    const failedOnes = comparisons.filter((c) => !c.passed && !c.informational);
    if (comparisons.length === 0) return fail('the handler produced nothing that the fixture holds');
    if (failedOnes.length > 0) return fail(`${failedOnes.length} of ${comparisons.length} comparisons failed`, comparisons);
    return done({ name, component, status: 'passed', comparisons, worstScaledError: worst(comparisons) });
  };
  for (const [index, input] of cases.entries()) {
    const r = runOne(input, index);
    if (r) reports.push(r);
    options.onProgress?.(index + 1, cases.length);
  }
  return {
    backend: be.name,
    against,
    cases: reports,
    passed: reports.filter((r) => r.status === 'passed').length,
    failed: reports.filter((r) => r.status === 'failed').length,
    skipped: reports.filter((r) => r.status === 'skipped').length,
  };
}

/**
 * Human-readable report: one line per case, one indented line per compared tensor with its scaled
 * error, and a final line `N passed, N failed, N skipped`.
 */
export function formatConformanceReport(report: ConformanceReport): string {
  optionsArg('formatConformanceReport', report, 'runConformance(cases)', false);
  if (!isArrayValue(report.cases))
    throw new ShapeError(
      `formatConformanceReport: report.cases must be an array (runConformance's report), got ${describeValue(report.cases)}`,
    );
  const lines: string[] = [
    `conformance on ${report.backend}, against HF ${report.against === 'ref64' ? 'float64 (ref64:)' : 'fp32 (out:)'}`,
  ];
  for (const c of report.cases) {
    const tag = c.status === 'passed' ? 'PASS' : c.status === 'failed' ? 'FAIL' : 'SKIP';
    const worstText = c.worstScaledError === null ? '' : `  worst scaled error ${fmt(c.worstScaledError)}`;
    lines.push(`${tag}  ${c.name} [${c.component}]${worstText}${c.reason ? `  (${c.reason})` : ''}`);
    const width = Math.max(0, ...c.comparisons.map((x) => x.name.length));
    for (const x of c.comparisons) {
      const mark = x.passed ? 'ok' : x.informational ? 'differs (informational: fp32 reference on a ref64 run)' : 'FAILED';
      let what: string;
      if (x.kind === 'float') what = `scaled error ${fmt(x.scaledError!)} (rtol ${fmt(x.rtol!)}, vs ${x.reference})`;
      else if (x.kind === 'int') what = `exact: ${x.total! - x.mismatches!}/${x.total} equal`;
      else if (x.kind === 'zero') what = `structurally zero: max|ours| ${fmt(x.maxAbsError ?? Infinity)} (≤ ${fmt(STRUCTURAL_ZERO_ATOL)})`;
      else what = 'check';
      lines.push(`      ${x.name.padEnd(width)}  ${what}  ${mark}${x.detail ? `  ${x.detail}` : ''}`);
    }
  }
  lines.push(`${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`);
  return lines.join('\n');
}

// ------------------------------------------------------------------ internals

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

function message(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return x === 0 ? '0' : x.toExponential(2);
}

function worst(comparisons: readonly TensorComparison[]): number | null {
  let w: number | null = null;
  for (const c of comparisons)
    if (c.kind === 'float' && c.scaledError !== undefined && !c.informational) w = Math.max(w ?? 0, c.scaledError);
  return w;
}

function parseJson(src: ConformanceCaseInput['json']): FixtureJson {
  let obj: unknown;
  if (typeof src === 'string') obj = JSON.parse(src);
  else if (src instanceof Uint8Array) obj = JSON.parse(new TextDecoder().decode(src));
  else obj = src;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new FormatError('fixture JSON must be an object');
  const o = obj as Record<string, unknown>;
  if (typeof o.config !== 'object' || o.config === null) throw new FormatError('fixture JSON has no "config" object');
  return o as unknown as FixtureJson;
}

function makeContext(be: Backend, name: string, json: FixtureJson, tensors: SafetensorsFile): ConformanceContext {
  return {
    be,
    name,
    json,
    config: json.config,
    tensors,
    has: (n) => tensors.has(n),
    shape: (n) => tensors.entry(n).shape,
    floats(n, shape) {
      const src = tensors.float64(n, shape);
      const out = be.floats(src.length);
      out.set(src);
      return out;
    },
    ints(n, shape) {
      const src = tensors.int32(n, shape);
      const out = be.ints(src.length);
      out.set(src);
      return out;
    },
  };
}

const INT_DTYPES = new Set(['I64', 'I32', 'I16', 'I8', 'U8', 'BOOL']);

function compareOutputs(
  json: FixtureJson,
  tensors: SafetensorsFile,
  outputs: ConformanceOutputs,
  against: ConformanceReference,
  rtolOverride: number | undefined,
): TensorComparison[] {
  const tol = json.tolerance ?? {};
  const rtol =
    rtolOverride ?? (against === 'ref64' ? tol.rtol_recommended_vs_ref64 : tol.rtol_recommended_vs_out) ?? DEFAULT_CONFORMANCE_RTOL;
  const checked = new Set(tol.checked_tensors ?? []);
  const zeros = new Set(tol.structurally_zero_tensors?.tensors ?? []);
  const produced = outputs.tensors ?? {};
  const names = [...checked, ...Object.keys(produced).filter((n) => !checked.has(n) && !zeros.has(n) && tensors.has(n))];
  const result: TensorComparison[] = [];
  for (const name of zeros) result.push(compareZero(name, produced[name]));
  for (const name of names) {
    const required = checked.has(name);
    const ours = produced[name];
    if (!ours) {
      result.push({ name, reference: name, kind: 'float', passed: false, required, detail: 'not produced by the handler' });
      continue;
    }
    if (!tensors.has(name)) {
      result.push({
        name,
        reference: name,
        kind: 'float',
        passed: false,
        required,
        detail: 'listed as checked but missing from the .safetensors',
      });
      continue;
    }
    if (INT_DTYPES.has(tensors.entry(name).dtype)) result.push(compareInts(name, tensors.int32(name), ours, required));
    else {
      const hasRef64 = tensors.has(`ref64:${name}`);
      const reference = against === 'ref64' && hasRef64 ? `ref64:${name}` : name;
      const cmp = compareFloats(name, reference, tensors.float64(reference), ours, rtol, required);
      result.push(against === 'ref64' && !hasRef64 && !required ? { ...cmp, informational: true } : cmp);
    }
  }
  for (const c of outputs.checks ?? []) {
    result.push({ name: c.name, reference: c.name, kind: 'check', passed: c.passed, required: true, detail: c.detail });
  }
  return result;
}

/** A structurally zero tensor: max|ours| ≤ STRUCTURAL_ZERO_ATOL (it must be produced). */
function compareZero(name: string, got: ArrayLike<number> | undefined): TensorComparison {
  if (!got)
    return { name, reference: 'structurally zero', kind: 'zero', passed: false, required: true, detail: 'not produced by the handler' };
  let max = 0;
  for (let i = 0; i < got.length; i++) {
    const a = Math.abs(got[i]!);
    if (!(a <= max)) max = Number.isNaN(a) ? Infinity : a;
  }
  return {
    name,
    reference: 'structurally zero',
    kind: 'zero',
    passed: max <= STRUCTURAL_ZERO_ATOL,
    required: true,
    maxAbsError: max,
    ...(max > STRUCTURAL_ZERO_ATOL ? { detail: `max|ours| ${max.toExponential(2)} > ${STRUCTURAL_ZERO_ATOL}` } : {}),
  };
}

function compareInts(name: string, want: Int32Array, got: ArrayLike<number>, required: boolean): TensorComparison {
  if (got.length !== want.length) {
    return {
      name,
      reference: name,
      kind: 'int',
      passed: false,
      required,
      mismatches: want.length,
      total: want.length,
      detail: `length ${got.length}, expected ${want.length}`,
    };
  }
  let mismatches = 0;
  let first = -1;
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      if (first < 0) first = i;
      mismatches++;
    }
  }
  return {
    name,
    reference: name,
    kind: 'int',
    passed: mismatches === 0,
    required,
    mismatches,
    total: want.length,
    ...(first >= 0 ? { detail: `first difference at flat index ${first}: ${got[first]} vs ${want[first]}` } : {}),
  };
}

/**
 * The fixture rule on one float tensor: `max|got − want| ≤ rtol·S`, S = max(1, max|want|), or max|want|
 * for a `grad:` name (NaN in `got` fails). Also used by the HF round-trip test of our checkpoints.
 */
export function compareFloats(
  name: string,
  reference: string,
  want: Float,
  got: ArrayLike<number>,
  rtol: number,
  required: boolean,
): TensorComparison {
  if (got.length !== want.length) {
    return {
      name,
      reference,
      kind: 'float',
      passed: false,
      required,
      scaledError: Infinity,
      rtol,
      detail: `length ${got.length}, expected ${want.length}`,
    };
  }
  let maxAbs = 0;
  let maxErr = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
    const e = Math.abs(got[i]! - want[i]!);
    if (!(e <= maxErr)) {
      // also catches NaN (e is NaN ⇒ the comparison is false)
      maxErr = Number.isNaN(e) ? Infinity : e;
      at = i;
    }
  }
  const isGrad = name.startsWith('grad:');
  const scale = isGrad ? (maxAbs > 0 ? maxAbs : 1) : Math.max(1, maxAbs);
  const scaledError = maxErr / scale;
  const passed = scaledError <= rtol;
  return {
    name,
    reference,
    kind: 'float',
    passed,
    required,
    scaledError,
    maxAbsError: maxErr,
    scale,
    rtol,
    ...(!passed && at >= 0 ? { detail: `worst at flat index ${at}: ${got[at]} vs ${want[at]}` } : {}),
  };
}
