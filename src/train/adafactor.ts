/**
 * Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost",
 * arXiv:1804.04235, Alg. 4 (matrices) and Alg. 5 (vectors); the optimizer the Reformer paper trained
 * with), with the semantics of HuggingFace transformers' `Adafactor` (transformers/optimization.py,
 * itself after fairseq's adafactor.py), over a model's flat parameter and gradient buffers, after the
 * same global-norm gradient clipping as AdamW (`clipGradNorm`).
 *
 * The flat buffers are cut into the model's tensors (`ParamTensor`: offset, size, shape; a model that
 * does not describe them is one 1-D tensor of n elements). Per tensor X with gradient G, at 1-based
 * step t (all tensors share t):
 *
 *   ρ_t    = lr (the trainer's schedule), or with relative_step: min(warmup_init ? 1e-6·t : 1e-2, 1/√t)
 *            (then the external lr is ignored)
 *   α_t    = ρ_t · (scale_parameter ? max(ε2, RMS(X)) : 1)              RMS(x) = √(Σx²/size), X before the update
 *   β2_t   = 1 − t^decay_rate                                            (0 at t = 1)
 *   U      = G² + ε1                                                     element-wise
 *   tensors with ≥ 2 dims, [..., R, C] (torch layout, [out, in] for a linear weight; the leading dims
 *   are a batch of independent R × C matrices), factored (Alg. 4):
 *     r ← β2_t·r + (1−β2_t)·mean_C(U)        r: [..., R]   (HF exp_avg_sq_row)
 *     c ← β2_t·c + (1−β2_t)·mean_R(U)        c: [..., C]   (HF exp_avg_sq_col)
 *     V̂_ij = (r_i / mean_i(r)) · c_j        the rank-1 estimate of the running mean of G² (never stored)
 *   1-D tensors (and 0-D), unfactored (Alg. 5):
 *     v ← β2_t·v + (1−β2_t)·U               v: shape of X  (HF exp_avg_sq)
 *     V̂ = v
 *   Δ      = G / √V̂
 *   Δ      ← Δ / max(1, RMS(Δ)/clip_threshold)                          update clipping (paper Sec. 6)
 *   Δ      ← α_t·Δ
 *   with beta1: m ← β1·m + (1−β1)·Δ;  Δ ← m                              m: shape of X (HF exp_avg)
 *   X      ← X − weight_decay·α_t·X                                      (HF: decay by the scaled step α_t)
 *   X      ← X − Δ
 *
 * Defaults are HF's (eps (1e-30, 1e-3), clip_threshold 1, decay_rate −0.8, beta1 null, weight_decay 0,
 * scale_parameter true, warmup_init false) except relative_step, false here: the trainer hands every
 * step a learning rate from its schedule (HF's relative_step = true goes with lr = None; HF refuses both).
 * With scale_parameter, lr is a step size relative to each tensor's RMS, so it is larger than AdamW's
 * (the CLI's default is in src/node/cli/train.ts, measured in docs/TRAINING.md). ε1 = 0 is allowed (the
 * factoring law in spec/train/adafactor.spec.ts uses it), but then a row, column or element whose
 * gradient is exactly zero divides 0 by 0 (NaN parameters), as in HF.
 *
 * Memory: Σ (R + C) per factored matrix plus the size of every 1-D tensor (plus n with beta1), in
 * buffers of the model's backend (f32 on WASM, f64 on the reference backend); the arithmetic runs in
 * JavaScript doubles, each state value rounded to the backend's precision when stored. Plain loops: the
 * update is a few passes over the parameters, small next to a training step (docs/TRAINING.md).
 * `toBytes()`/`loadBytes()` save and restore the state (safetensors, format `reformer-ts.adafactor`,
 * tensors `<name>.row`, `<name>.col`, `<name>.v`, `<name>.m`).
 */
import type { Backend, Float } from '../backend/backend.js';
import { backendArg, describeValue } from '../util/args.js';
import { ConfigError, FormatError } from '../errors.js';
import { serializeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import type { ParamTensor } from '../model/language-model.js';
import { checkLearningRate, checkOptionKeys, clipGradNorm, parseOptimizerState, type Optimizer, type UpdateInfo } from './optimizer.js';

export interface AdafactorOptions {
  /** (ε1, ε2): added to G² / floor of the parameter RMS. Default (1e-30, 1e-3). */
  eps?: readonly [number, number];
  /** Update clipping: the RMS of the update before α_t is at most this. Default 1.0. */
  clipThreshold?: number;
  /** β2_t = 1 − t^decay_rate. Default −0.8. */
  decayRate?: number;
  /** First-moment coefficient, or null for none (HF's default: no first moment). */
  beta1?: number | null;
  /** Decoupled weight decay, scaled by α_t. Default 0. */
  weightDecay?: number;
  /** Scale the step by max(ε2, RMS(X)) of each tensor. Default true. */
  scaleParameter?: boolean;
  /** ρ_t = min(1e-2, 1/√t) (or the warm-up form) instead of the external lr, which is then ignored. Default false. */
  relativeStep?: boolean;
  /** With relativeStep: ρ_t = min(1e-6·t, 1/√t). Default false. */
  warmupInit?: boolean;
  /** Global-norm gradient clipping before the update (as AdamW); `Infinity` or 0 disables it. Default 1.0. */
  maxGradNorm?: number;
}

/** The keys `AdafactorOptions` accepts (any other key is a ConfigError). */
export const ADAFACTOR_OPTION_KEYS: readonly (keyof AdafactorOptions)[] = Object.keys({
  eps: true,
  clipThreshold: true,
  decayRate: true,
  beta1: true,
  weightDecay: true,
  scaleParameter: true,
  relativeStep: true,
  warmupInit: true,
  maxGradNorm: true,
} satisfies Record<keyof AdafactorOptions, true>) as (keyof AdafactorOptions)[];

/** Resolved hyper-parameters (every field set; JSON-safe: `maxGradNorm` 0 = no clipping). */
export interface AdafactorConfig {
  readonly eps: readonly [number, number];
  readonly clipThreshold: number;
  readonly decayRate: number;
  readonly beta1: number | null;
  readonly weightDecay: number;
  readonly scaleParameter: boolean;
  readonly relativeStep: boolean;
  readonly warmupInit: boolean;
  readonly maxGradNorm: number;
}

/** The state of one tensor: views into the optimizer's backend buffer. */
interface TensorState {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly shape: readonly number[];
  /** Factored: size = batch · rows · cols (the last two dims are rows, cols). */
  readonly factored: boolean;
  readonly batch: number;
  readonly rows: number;
  readonly cols: number;
  /** `[...lead, R]` running mean of U over the columns (factored), else null. */
  readonly row: Float | null;
  /** `[...lead, C]` running mean of U over the rows (factored), else null. */
  readonly col: Float | null;
  /** shape of X: running mean of U (unfactored), else null. */
  readonly v: Float | null;
  /** shape of X: first moment (beta1 set), else null. */
  readonly m: Float | null;
}

type StateKind = 'row' | 'col' | 'v' | 'm';

export class Adafactor implements Optimizer {
  readonly name = 'adafactor' as const;
  readonly label = 'Adafactor';
  readonly backend: Backend;
  /** Number of parameters. */
  readonly n: number;
  readonly config: AdafactorConfig;
  /** The tensors, in offset order, with their state views. */
  private readonly tensors: readonly TensorState[];
  /** Scratch for one tensor's update (JavaScript doubles, outside the backend). */
  private readonly scratch: Float64Array;
  /** Updates applied so far (the next update is step t = step + 1). */
  step = 0;

  /**
   * @param layout the model's tensors (`CausalLanguageModel.paramTensors`): they must tile [0, n) in
   *   order; or a parameter count n, taken as one 1-D tensor named `params`.
   * @throws ConfigError for hyper-parameters outside their ranges, a key that is not one of
   *   `ADAFACTOR_OPTION_KEYS`, or a layout that does not tile the buffer.
   */
  constructor(backend: Backend, layout: number | readonly ParamTensor[], options: AdafactorOptions = {}) {
    backendArg('Adafactor', backend);
    if (typeof layout !== 'number' && !Array.isArray(layout)) {
      throw new ConfigError(
        'tensors',
        `Adafactor needs the model's tensors (model.paramTensors) or a parameter count, got ${describeValue(layout)}`,
      );
    }
    this.config = resolveAdafactor(options);
    const tensors = typeof layout === 'number' ? [{ name: 'params', offset: 0, size: layout, shape: [layout] }] : layout;
    const n = checkLayout(tensors);
    this.backend = backend;
    this.n = n;
    // one backend buffer for all state, cut into views
    const plan = tensors.map((t, k) => {
      const shape = [...t.shape];
      const factored = shape.length >= 2;
      const rows = factored ? shape[shape.length - 2]! : 1;
      const cols = factored ? shape[shape.length - 1]! : t.size;
      const batch = factored ? t.size / (rows * cols) : 1;
      return { name: t.name ?? `tensor${k}`, offset: t.offset, size: t.size, shape, factored, batch, rows, cols };
    });
    const useM = this.config.beta1 !== null;
    let total = 0;
    for (const p of plan) total += (p.factored ? p.batch * (p.rows + p.cols) : p.size) + (useM ? p.size : 0);
    const buf = backend.floats(total);
    let at = 0;
    const take = (k: number): Float => {
      const v = buf.subarray(at, at + k);
      at += k;
      return v;
    };
    this.tensors = plan.map((p) => ({
      ...p,
      row: p.factored ? take(p.batch * p.rows) : null,
      col: p.factored ? take(p.batch * p.cols) : null,
      v: p.factored ? null : take(p.size),
      m: useM ? take(p.size) : null,
    }));
    this.scratch = new Float64Array(Math.max(1, ...plan.map((p) => p.size)));
  }

  /** State entries (view, safetensors shape) in file order. */
  private stateEntries(): { name: string; kind: StateKind; data: Float; shape: number[] }[] {
    const out: { name: string; kind: StateKind; data: Float; shape: number[] }[] = [];
    for (const t of this.tensors) {
      const lead = t.shape.slice(0, -2);
      if (t.row) out.push({ name: `${t.name}.row`, kind: 'row', data: t.row, shape: [...lead, t.rows] });
      if (t.col) out.push({ name: `${t.name}.col`, kind: 'col', data: t.col, shape: [...lead, t.cols] });
      if (t.v) out.push({ name: `${t.name}.v`, kind: 'v', data: t.v, shape: t.shape.length === 0 ? [1] : [...t.shape] });
      if (t.m) out.push({ name: `${t.name}.m`, kind: 'm', data: t.m, shape: t.shape.length === 0 ? [1] : [...t.shape] });
    }
    return out;
  }

  /**
   * Clips `grads` (in place) to the global norm, then applies one Adafactor update to every tensor of `params`.
   * @param params `[n]` parameters, updated in place.
   * @param grads `[n]` gradients of the mean loss (scaled in place when clipped).
   * @param lr the external learning rate ρ_t of this step: finite, ≥ 0 (checked even with relativeStep, which ignores it).
   * @returns the gradient norm, the clipping factor, and with relativeStep the ρ_t used (`lr`).
   * @throws ConfigError('lr') for a NaN, infinite or negative `lr`; nothing is updated then (the gradient is not clipped).
   * @throws NumericalError if the gradient norm is not finite; nothing is updated then.
   */
  update(params: Float, grads: Float, lr: number): UpdateInfo {
    checkLearningRate(this.label, lr);
    if (params.length < this.n || grads.length < this.n) {
      throw new ConfigError(
        'params',
        `Adafactor was built for ${this.n} parameters but got buffers of ${params.length} and ${grads.length}`,
      );
    }
    const info = clipGradNorm(this.backend, grads, this.n, this.config.maxGradNorm);
    this.step++;
    const t = this.step;
    const c = this.config;
    const rho = c.relativeStep ? Math.min(c.warmupInit ? 1e-6 * t : 1e-2, 1 / Math.sqrt(t)) : lr;
    const beta2t = 1 - t ** c.decayRate;
    for (const ts of this.tensors) this.updateTensor(ts, params, grads, rho, beta2t);
    return c.relativeStep ? { ...info, lr: rho } : info;
  }

  private updateTensor(ts: TensorState, params: Float, grads: Float, rho: number, beta2t: number): void {
    const c = this.config;
    const [eps1, eps2] = c.eps;
    const { offset: o, size } = ts;
    const d = this.scratch; // Δ of this tensor
    // α_t from the RMS of the parameters before this update
    let ss = 0;
    for (let i = 0; i < size; i++) ss += params[o + i]! * params[o + i]!;
    const alpha = rho * (c.scaleParameter ? Math.max(eps2, Math.sqrt(ss / size)) : 1);

    if (ts.factored) {
      const { batch, rows: R, cols: C } = ts;
      const row = ts.row!;
      const col = ts.col!;
      for (let b = 0; b < batch; b++) {
        const base = o + b * R * C;
        // r ← β2_t·r + (1−β2_t)·mean_C(U),  c ← β2_t·c + (1−β2_t)·mean_R(U)
        const colSum = d.subarray(0, C).fill(0); // column sums of U (scratch; Δ is written after)
        for (let i = 0; i < R; i++) {
          let rowSum = 0;
          for (let j = 0; j < C; j++) {
            const g = grads[base + i * C + j]!;
            const u = g * g + eps1;
            rowSum += u;
            colSum[j] = colSum[j]! + u;
          }
          row[b * R + i] = beta2t * row[b * R + i]! + (1 - beta2t) * (rowSum / C);
        }
        for (let j = 0; j < C; j++) col[b * C + j] = beta2t * col[b * C + j]! + (1 - beta2t) * (colSum[j]! / R);
      }
      // Δ_ij = G_ij / √(r_i/mean(r) · c_j)   (HF: rsqrt(r/mean r) · rsqrt(c) · G)
      for (let b = 0; b < batch; b++) {
        let rMean = 0;
        for (let i = 0; i < R; i++) rMean += row[b * R + i]!;
        rMean /= R;
        for (let i = 0; i < R; i++) {
          const rFactor = 1 / Math.sqrt(row[b * R + i]! / rMean);
          for (let j = 0; j < C; j++) {
            const k = b * R * C + i * C + j;
            d[k] = rFactor * (1 / Math.sqrt(col[b * C + j]!)) * grads[o + k]!;
          }
        }
      }
    } else {
      // v ← β2_t·v + (1−β2_t)·U;  Δ = G/√v
      const v = ts.v!;
      for (let i = 0; i < size; i++) {
        const g = grads[o + i]!;
        v[i] = beta2t * v[i]! + (1 - beta2t) * (g * g + eps1);
        d[i] = (1 / Math.sqrt(v[i]!)) * g;
      }
    }

    // Δ ← α_t · Δ / max(1, RMS(Δ)/clip_threshold)
    let du = 0;
    for (let i = 0; i < size; i++) du += d[i]! * d[i]!;
    const scale = alpha / Math.max(1, Math.sqrt(du / size) / c.clipThreshold);
    const m = ts.m;
    const beta1 = c.beta1 ?? 0;
    const decay = c.weightDecay * alpha;
    for (let i = 0; i < size; i++) {
      let step = d[i]! * scale;
      if (m) {
        m[i] = beta1 * m[i]! + (1 - beta1) * step;
        step = m[i]!;
      }
      let p = params[o + i]!;
      if (decay !== 0) p = p - decay * p;
      params[o + i] = p - step;
    }
  }

  /** State and step as safetensors (backend precision; hyper-parameters and the step in the metadata). */
  toBytes(): Uint8Array {
    const c = this.config;
    const tensors: TensorToWrite[] = this.stateEntries().map((e) => ({ name: e.name, shape: e.shape, data: e.data }));
    return serializeSafetensors(tensors, {
      format: 'reformer-ts.adafactor',
      step: String(this.step),
      eps1: String(c.eps[0]),
      eps2: String(c.eps[1]),
      clip_threshold: String(c.clipThreshold),
      decay_rate: String(c.decayRate),
      beta1: String(c.beta1),
      weight_decay: String(c.weightDecay),
      scale_parameter: String(c.scaleParameter),
      relative_step: String(c.relativeStep),
      warmup_init: String(c.warmupInit),
      max_grad_norm: String(c.maxGradNorm),
    });
  }

  /**
   * Restores the state and step written by `toBytes()` (hyper-parameters stay those of this instance).
   * Every tensor is checked (present, shape, finite, second moments ≥ 0, nothing extra) before anything
   * is copied: on failure nothing changes.
   * @throws FormatError naming the tensor (or the metadata field) that does not fit.
   */
  loadBytes(bytes: Uint8Array): void {
    const { file: f, step } = parseOptimizerState(bytes, 'adafactor');
    const entries = this.stateEntries();
    const expected = new Set(entries.map((e) => e.name));
    for (const name of f.names()) {
      if (!expected.has(name)) {
        throw new FormatError(
          `optimizer state: unexpected tensor "${name}" (this Adafactor${this.config.beta1 === null ? ' has no first moment and' : ''} expects ${entries.length} tensors such as "${entries[0]!.name}"; was it saved for another model or other hyper-parameters?)`,
        );
      }
    }
    const read: Float[] = [];
    for (const e of entries) {
      const shape = f.has(e.name) ? f.entry(e.name).shape : null;
      if (!shape || shape.length !== e.shape.length || shape.some((x, i) => x !== e.shape[i])) {
        throw new FormatError(
          `optimizer state: tensor "${e.name}" ${shape ? `has shape ${JSON.stringify(shape)}` : 'is missing'}, expected ${JSON.stringify(e.shape)} (was it saved for another model?)`,
        );
      }
      const data = this.backend.dtype === 'f64' ? f.float64(e.name) : f.float32(e.name);
      const second = e.kind !== 'm';
      for (let i = 0; i < data.length; i++) {
        const x = data[i]!;
        if (!Number.isFinite(x) || (second && x < 0)) {
          throw new FormatError(
            `optimizer state: tensor "${e.name}"[${i}] = ${x} (must be finite${second ? ' and ≥ 0: a running mean of squares' : ''}); the file is damaged: resume from an earlier checkpoint`,
          );
        }
      }
      read.push(data);
    }
    // nothing is changed until every tensor passed
    entries.forEach((e, k) => {
      e.data.set(read[k]!);
    });
    this.step = step;
  }
}

/** Checks that the tensors tile [0, n) in order; returns n. @throws ConfigError('tensors'). */
function checkLayout(tensors: readonly ParamTensor[]): number {
  const bad = tensors.findIndex((t) => t === null || typeof t !== 'object' || !Array.isArray(t.shape));
  if (bad >= 0)
    throw new ConfigError('tensors', `tensor ${bad} must be { offset, size, shape: number[] }, got ${describeValue(tensors[bad])}`);
  if (tensors.length === 0) throw new ConfigError('tensors', 'Adafactor needs at least one parameter tensor');
  let at = 0;
  const names = new Set<string>();
  tensors.forEach((t, k) => {
    const label = t.name ?? `tensor ${k}`;
    if (!t.shape.every((x) => Number.isSafeInteger(x) && x > 0)) {
      throw new ConfigError('tensors', `${label}: shape ${JSON.stringify(t.shape)} must hold positive integers`);
    }
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.size !== size)
      throw new ConfigError('tensors', `${label}: size ${t.size} is not the product ${size} of its shape ${JSON.stringify(t.shape)}`);
    if (t.offset !== at) {
      throw new ConfigError(
        'tensors',
        `${label}: offset ${t.offset}, expected ${at}; the tensors must cover the parameter buffer in order, without gaps or overlaps`,
      );
    }
    if (t.name !== undefined) {
      if (names.has(t.name)) throw new ConfigError('tensors', `two tensors are named "${t.name}"`);
      names.add(t.name);
    }
    at += size;
  });
  if (!Number.isSafeInteger(at) || at <= 0) throw new ConfigError('params', `Adafactor needs a positive parameter count, got ${at}`);
  return at;
}

/**
 * Fills defaults and checks ranges.
 * @throws ConfigError naming the field (HF's name) and the allowed range, or naming an unknown key (`optimizer`).
 */
export function resolveAdafactor(o: AdafactorOptions = {}): AdafactorConfig {
  checkOptionKeys('Adafactor', o, ADAFACTOR_OPTION_KEYS);
  const eps = o.eps ?? [1e-30, 1e-3];
  const c: AdafactorConfig = {
    eps: [eps[0], eps[1]],
    clipThreshold: o.clipThreshold ?? 1.0,
    decayRate: o.decayRate ?? -0.8,
    beta1: o.beta1 ?? null,
    weightDecay: o.weightDecay ?? 0,
    scaleParameter: o.scaleParameter ?? true,
    relativeStep: o.relativeStep ?? false,
    warmupInit: o.warmupInit ?? false,
    // Infinity is stored as 0 (both mean "off"), so the config survives JSON
    maxGradNorm: o.maxGradNorm === Infinity ? 0 : (o.maxGradNorm ?? 1.0),
  };
  if (!Array.isArray(eps) || eps.length !== 2) throw new ConfigError('eps', `must be a pair (eps1, eps2), got ${JSON.stringify(eps)}`);
  const [eps1, eps2] = c.eps;
  if (!(typeof eps1 === 'number' && eps1 >= 0 && Number.isFinite(eps1)))
    throw new ConfigError('eps', `eps1 (added to the squared gradient) must be ≥ 0 and finite, got ${eps1}`);
  if (!(typeof eps2 === 'number' && eps2 >= 0 && Number.isFinite(eps2)))
    throw new ConfigError('eps', `eps2 (floor of the parameter RMS) must be ≥ 0 and finite, got ${eps2}`);
  if (!(c.clipThreshold > 0 && Number.isFinite(c.clipThreshold)))
    throw new ConfigError('clip_threshold', `must be a positive finite number, got ${c.clipThreshold}`);
  if (!(c.decayRate <= 0 && Number.isFinite(c.decayRate))) {
    throw new ConfigError('decay_rate', `must be ≤ 0 and finite (β2_t = 1 − t^decay_rate must lie in [0, 1)), got ${c.decayRate}`);
  }
  if (c.beta1 !== null && !(typeof c.beta1 === 'number' && c.beta1 >= 0 && c.beta1 < 1))
    throw new ConfigError('beta1', `must be null (no first moment) or in [0, 1), got ${c.beta1}`);
  if (!(c.weightDecay >= 0 && Number.isFinite(c.weightDecay)))
    throw new ConfigError('weight_decay', `must be ≥ 0 and finite, got ${c.weightDecay}`);
  for (const [k, field] of [
    ['scaleParameter', 'scale_parameter'],
    ['relativeStep', 'relative_step'],
    ['warmupInit', 'warmup_init'],
  ] as const) {
    if (typeof c[k] !== 'boolean') throw new ConfigError(field, `must be true or false, got ${JSON.stringify(c[k])}`);
  }
  if (c.warmupInit && !c.relativeStep)
    throw new ConfigError('warmup_init', 'true requires relative_step: true (it shapes the relative step size), as in HF');
  if (!(c.maxGradNorm >= 0)) throw new ConfigError('max_grad_norm', `must be ≥ 0 (0 or Infinity = no clipping), got ${c.maxGradNorm}`);
  return c;
}
