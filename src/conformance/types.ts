/**
 * Types of the HF conformance runner: fixture cases in, a structured report out.
 *
 * A case is one `<case>.json` (config, provenance, tensor list, `tolerance` block) plus its
 * `<case>.safetensors` (inputs, weights, captures, HF outputs); see test/fixtures/hf-reformer/README.md.
 * A handler, registered under the JSON's `component`, runs our implementation on the case's inputs
 * and returns the tensors it computed under the fixture's names; the runner does the comparing.
 */
import type { Backend, Float } from '../backend/backend.js';
import type { SafetensorsFile } from '../io/safetensors.js';

/** One case as given to `runConformance` (bytes or already parsed; no file system in the core). */
export interface ConformanceCaseInput {
  /** Case name; defaults to the JSON's `case` field. */
  readonly name?: string;
  /** The `<case>.json` as text, UTF-8 bytes or the parsed object. */
  readonly json: string | Uint8Array | object;
  /** The `<case>.safetensors` bytes or the parsed file; null if missing (the case then fails). */
  readonly safetensors: Uint8Array | SafetensorsFile | null;
}

/** The fields of a fixture JSON the runner reads (everything else is passed through). */
export interface FixtureJson {
  readonly case?: string;
  readonly component: string;
  readonly description?: string;
  /** The full HF `ReformerConfig` dict. */
  readonly config: Record<string, unknown>;
  readonly tensors?: Record<string, { dtype: string; shape: number[]; kind?: string; max_abs?: number }>;
  readonly tolerance?: {
    readonly rule?: string;
    readonly checked_tensors?: readonly string[];
    readonly rtol_recommended_vs_out?: number;
    readonly rtol_recommended_vs_ref64?: number;
    readonly fp32_logsumexp_sensitive?: boolean;
    /**
     * Tensors that are zero in exact arithmetic (their stored values are rounding noise): checked as
     * `max|ours| ≤ 1e-6` (`STRUCTURAL_ZERO_ATOL`) instead of the relative rule; they must be produced.
     */
    readonly structurally_zero_tensors?: { readonly tensors?: readonly string[]; readonly rule?: string };
  };
  readonly [key: string]: unknown;
}

/** What a handler sees: the backend, the parsed case and typed accessors for its tensors. */
export interface ConformanceContext {
  readonly be: Backend;
  readonly name: string;
  readonly json: FixtureJson;
  /** `json.config` (HF `ReformerConfig` field names). */
  readonly config: Record<string, unknown>;
  readonly tensors: SafetensorsFile;
  has(name: string): boolean;
  shape(name: string): readonly number[];
  /** The tensor converted to a fresh float buffer of `be` (optionally checking its shape). */
  floats(name: string, shape?: readonly number[]): Float;
  /** An integer tensor (I64 → int32) as a fresh buffer of `be`. */
  ints(name: string, shape?: readonly number[]): Int32Array;
}

/** A named yes/no check a handler adds to the report (e.g. the resolved `num_buckets`). */
export interface ConformanceCheck {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

/** What a handler returns. */
export interface ConformanceOutputs {
  /**
   * Computed tensors keyed by fixture tensor names (`out:hidden_states`, `cap:buckets`, `grad:…`), in the
   * fixture's layout. Every name in `tolerance.checked_tensors` must be present; any other name that
   * exists in the fixture is compared too (integers exactly, floats with the scaled rule).
   */
  readonly tensors: Readonly<Record<string, ArrayLike<number>>>;
  readonly checks?: readonly ConformanceCheck[];
}

/**
 * Runs our implementation on one case. Throw `SkipCase` to skip it (e.g. an unsupported variant);
 * any other error fails the case with its message.
 */
export type ConformanceHandler = (ctx: ConformanceContext) => ConformanceOutputs;

/** Thrown by a handler to skip a case with a reason (counted as skipped, never as passed). */
export class SkipCase extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SkipCase';
  }
}

/** Which HF numbers to compare with: `out` = HF fp32 (`X`), `ref64` = HF float64 run (`ref64:X` where present). */
export type ConformanceReference = 'out' | 'ref64';

/** Options of `runConformance`: backend, handler registry, which HF numbers to compare with, rtol, a case filter. */
export interface ConformanceOptions {
  /** Backend to run on. Default: a new f32 `ReferenceBackend`. */
  readonly backend?: Backend;
  /** Handlers by component. Default: `createConformanceRegistry()` (all built-in handlers). */
  readonly registry?: { get(component: string): ConformanceHandler | undefined };
  /** `auto` (default): `ref64` on an f64 backend, else `out`. */
  readonly against?: ConformanceReference | 'auto';
  /** Overrides the JSON's recommended rtol. */
  readonly rtol?: number;
  /** Run only the cases for which this returns true. */
  readonly filter?: (name: string, component: string) => boolean;
  /** Called after each case (run or filtered out) with the cases done and their total (progress). */
  readonly onProgress?: (done: number, total: number) => void;
}

/** One compared tensor (or handler check). */
export interface TensorComparison {
  /** Fixture name of the computed tensor, e.g. `out:hidden_states`. */
  readonly name: string;
  /** Name of the fixture tensor it was compared with (e.g. `ref64:out:hidden_states`). */
  readonly reference: string;
  /** `zero`: a structurally zero tensor, checked as max|ours| ≤ 1e-6 (`maxAbsError` holds max|ours|). */
  readonly kind: 'float' | 'int' | 'check' | 'zero';
  readonly passed: boolean;
  /** Whether the JSON lists it in `tolerance.checked_tensors`. */
  readonly required: boolean;
  /**
   * Reported but not counted: an extra float tensor compared with HF fp32 during a `ref64` run (there is
   * no float64 reference for it, and fp32 rounding differences are expected there).
   */
  readonly informational?: boolean;
  /** float: max|ours − ref| / S (S = max(1, max|ref|), or max|ref| for `grad:`). */
  readonly scaledError?: number;
  readonly maxAbsError?: number;
  readonly scale?: number;
  readonly rtol?: number;
  /** int: number of differing entries, out of `total`. */
  readonly mismatches?: number;
  readonly total?: number;
  /** Human-readable note (first mismatch, missing tensor, check detail). */
  readonly detail?: string;
}

/** How a case ended: `passed`, `failed` (with a reason or failed comparisons) or `skipped` (no handler, `SkipCase`). */
export type CaseStatus = 'passed' | 'failed' | 'skipped';

/** The result of one case: name, component, status, reason, every comparison, worst scaled error, time. */
export interface CaseReport {
  readonly name: string;
  readonly component: string;
  readonly status: CaseStatus;
  /** Why it failed or was skipped (error message, missing handler). */
  readonly reason?: string;
  readonly comparisons: readonly TensorComparison[];
  /** Largest scaled error over the float comparisons that count (informational ones aside); null if none. */
  readonly worstScaledError: number | null;
  readonly milliseconds: number;
}

/** What `runConformance` returns: the backend and reference used, one `CaseReport` per case, and the counts. */
export interface ConformanceReport {
  readonly backend: string;
  readonly against: ConformanceReference;
  readonly cases: readonly CaseReport[];
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
}
