/**
 * AdamW (Loshchilov & Hutter 2019, decoupled weight decay; torch.optim.AdamW semantics) over a model's
 * flat parameter and gradient buffers, with global-norm gradient clipping (torch `clip_grad_norm_`).
 *
 * One update, for all n parameters at once (`backend.adamw`), at 1-based step t:
 *   ‖g‖ = sqrt(Σ g²);  if ‖g‖ > maxGradNorm: g ← g · maxGradNorm / (‖g‖ + 1e-6)
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   p ← p·(1 − lr·λ) − lr/(1−β1^t) · m / (sqrt(v)/sqrt(1−β2^t) + ε)
 *
 * Weight decay λ applies to every parameter (the flat buffer carries no names; pass 0 to disable).
 * The moments m and v live in buffers of the model's backend. `toBytes()`/`loadBytes()` save and
 * restore them (safetensors) for checkpoints.
 *
 * `Optimizer` is what the trainer needs of an optimizer; the other one is Adafactor (adafactor.ts).
 */
import type { Backend, Float } from '../backend/backend.js';
import { arrayLikeArg, backendArg, intArg, numberArg } from '../util/args.js';
import { ConfigError, FormatError, NumericalError, ShapeError } from '../errors.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsFile } from '../io/safetensors.js';

export interface AdamWOptions {
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay λ. Default 0.01 (torch's default). */
  weightDecay?: number;
  /** Global-norm clipping threshold; `Infinity` or 0 disables clipping. Default 1.0. */
  maxGradNorm?: number;
}

/** Resolved hyper-parameters (every field set). */
export type AdamWConfig = Required<AdamWOptions>;

/** The keys `AdamWOptions` accepts (any other key is a ConfigError). */
export const ADAMW_OPTION_KEYS: readonly (keyof AdamWOptions)[] = Object.keys({
  beta1: true,
  beta2: true,
  eps: true,
  weightDecay: true,
  maxGradNorm: true,
} satisfies Record<keyof AdamWOptions, true>) as (keyof AdamWOptions)[];

/**
 * Refuses an options object that is not a plain object, or that holds a key outside `keys` (a typo such
 * as `betas`, or an option of the other optimizer), before anything is built.
 * @param label the optimizer, for the message: `AdamW`, `Adafactor`.
 * @param keys the valid keys.
 * @throws ConfigError('optimizer') naming the key and listing the valid options.
 */
export function checkOptionKeys(label: string, options: unknown, keys: readonly string[]): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(
      'optimizer',
      `the options of ${label} must be an object such as { ${keys[0]}: … }, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : `${typeof options} ${JSON.stringify(options)}`}`,
    );
  }
  for (const k of Object.keys(options)) {
    if (!keys.includes(k)) throw new ConfigError('optimizer', `"${k}" is not an option of ${label} (its options: ${keys.join(', ')})`);
  }
}

/**
 * Refuses a learning rate that is not a finite number ≥ 0 (NaN would poison every parameter, a
 * negative one would step uphill), before the gradient is clipped or any state is touched.
 * @throws ConfigError('lr') naming the value and the allowed range.
 */
export function checkLearningRate(label: string, lr: unknown): void {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) {
    throw new ConfigError(
      'lr',
      `${label}.update needs a finite learning rate ≥ 0, got ${typeof lr === 'number' ? lr : `${typeof lr} ${JSON.stringify(lr)}`}; the parameters and the optimizer state were not changed`,
    );
  }
}

/** What one update did. */
export interface UpdateInfo {
  /** Global L2 norm of the gradient BEFORE clipping. */
  readonly gradNorm: number;
  /** Factor the gradient was scaled by (1 = not clipped). */
  readonly clipCoef: number;
  /**
   * The step size the optimizer used instead of the external learning rate, when it ignores that one
   * (Adafactor with relative_step: ρ_t); absent otherwise.
   */
  readonly lr?: number;
}

/** The optimizers the trainer knows, by the name stored in checkpoints. */
export type OptimizerName = 'adamw' | 'adafactor';

/** What the trainer needs of an optimizer over a model's flat buffers. */
export interface Optimizer {
  /** `adamw` or `adafactor` (stored in `trainer_state.json`). */
  readonly name: OptimizerName;
  /** For messages: `AdamW`, `Adafactor`. */
  readonly label: string;
  /** Resolved hyper-parameters (JSON-safe). */
  readonly config: object;
  /** Updates applied so far. */
  readonly step: number;
  /** Clips `grads` to the global norm, then updates `params` in place with learning rate `lr` (finite, ≥ 0: else ConfigError('lr'), nothing changed). */
  update(params: Float, grads: Float, lr: number): UpdateInfo;
  /** The state (moments, step) as safetensors. */
  toBytes(): Uint8Array;
  /** Restores `toBytes()` output; all or nothing. @throws FormatError. */
  loadBytes(bytes: Uint8Array): void;
}

/**
 * Scales `grads` in place so that its global L2 norm is at most `maxNorm` (torch: coef = maxNorm/(norm + 1e-6),
 * applied only when coef < 1). Returns the norm before clipping.
 * @throws NumericalError if the norm is NaN or infinite (the gradient is left unchanged).
 */
export function clipGradNorm(be: Backend, grads: Float, n: number, maxNorm: number): UpdateInfo {
  backendArg('clipGradNorm', be);
  arrayLikeArg('clipGradNorm', 'grads', grads, "a Float32Array/Float64Array of the backend's buffers");
  intArg('clipGradNorm', 'n', n, 0);
  if (n > grads.length) throw new ShapeError(`clipGradNorm: n = ${n} is more than the ${grads.length} gradients`);
  if (maxNorm !== Infinity) numberArg('clipGradNorm', 'max_grad_norm', maxNorm);
  const norm = Math.sqrt(be.sumSquares(grads, n));
  if (!Number.isFinite(norm)) {
    throw new NumericalError(
      `gradient norm is ${norm}: the gradient holds NaN or infinite values; lower the learning rate or check the data`,
    );
  }
  if (!(maxNorm > 0) || maxNorm === Infinity) return { gradNorm: norm, clipCoef: 1 };
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    be.scale(grads, coef, n);
    return { gradNorm: norm, clipCoef: coef };
  }
  return { gradNorm: norm, clipCoef: 1 };
}

export class AdamW implements Optimizer {
  readonly name = 'adamw' as const;
  readonly label = 'AdamW';
  readonly backend: Backend;
  /** Number of parameters. */
  readonly n: number;
  readonly config: AdamWConfig;
  /** First and second moments: `[n]` each, backend buffers. */
  readonly m: Float;
  readonly v: Float;
  /** Updates applied so far (the next update uses step + 1 for bias correction). */
  step = 0;

  /**
   * @throws ConfigError for hyper-parameters outside their ranges (β in [0, 1), ε > 0, λ ≥ 0, maxGradNorm ≥ 0)
   *   or a key that is not one of `ADAMW_OPTION_KEYS` (e.g. `betas`).
   */
  constructor(backend: Backend, n: number, options: AdamWOptions = {}) {
    backendArg('AdamW', backend);
    if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError('params', `AdamW needs a positive parameter count, got ${n}`);
    this.config = resolveAdamW(options);
    this.backend = backend;
    this.n = n;
    this.m = backend.floats(n);
    this.v = backend.floats(n);
  }

  /**
   * Clips `grads` (in place) to the global norm, then applies one AdamW update to `params`.
   * @param params `[n]` parameters, updated in place.
   * @param grads `[n]` gradients of the mean loss (scaled in place when clipped).
   * @param lr learning rate of this step: finite, ≥ 0.
   * @throws ConfigError('lr') for a NaN, infinite or negative `lr`; nothing is updated then (the gradient is not clipped).
   * @throws NumericalError if the gradient norm is not finite; nothing is updated then.
   */
  update(params: Float, grads: Float, lr: number): UpdateInfo {
    checkLearningRate(this.label, lr);
    if (params.length < this.n || grads.length < this.n) {
      throw new ConfigError('params', `AdamW was built for ${this.n} parameters but got buffers of ${params.length} and ${grads.length}`);
    }
    const info = clipGradNorm(this.backend, grads, this.n, this.config.maxGradNorm);
    this.step++;
    const c = this.config;
    this.backend.adamw({
      n: this.n,
      param: params,
      grad: grads,
      m: this.m,
      v: this.v,
      lr,
      beta1: c.beta1,
      beta2: c.beta2,
      eps: c.eps,
      weightDecay: c.weightDecay,
      step: this.step,
    });
    return info;
  }

  /** Moments and step as safetensors (`m`, `v` at the backend's precision; hyper-parameters in the metadata). */
  toBytes(): Uint8Array {
    const c = this.config;
    return serializeSafetensors(
      [
        { name: 'm', shape: [this.n], data: this.m },
        { name: 'v', shape: [this.n], data: this.v },
      ],
      {
        format: 'reformer-ts.adamw',
        step: String(this.step),
        beta1: String(c.beta1),
        beta2: String(c.beta2),
        eps: String(c.eps),
        weight_decay: String(c.weightDecay),
        max_grad_norm: String(c.maxGradNorm),
      },
    );
  }

  /**
   * Restores moments and step written by `toBytes()` (hyper-parameters stay those of this instance).
   * @throws FormatError if the bytes are not an AdamW state or hold a different number of parameters.
   */
  loadBytes(bytes: Uint8Array): void {
    const { file: f, step } = parseOptimizerState(bytes, 'adamw');
    const read: Partial<Record<'m' | 'v', Float>> = {};
    for (const name of ['m', 'v'] as const) {
      const shape = f.has(name) ? f.entry(name).shape : null;
      if (shape?.length !== 1 || shape[0] !== this.n) {
        throw new FormatError(
          `optimizer state: tensor "${name}" has shape ${JSON.stringify(shape)}, expected [${this.n}] (was it saved for another model?)`,
        );
      }
      const data = this.backend.dtype === 'f64' ? f.float64(name) : f.float32(name);
      // one pass: finite, and v (a running mean of squares) never negative
      for (let i = 0; i < data.length; i++) {
        const x = data[i]!;
        if (!Number.isFinite(x) || (name === 'v' && x < 0)) {
          throw new FormatError(
            `optimizer state: tensor "${name}"[${i}] = ${x}${name === 'v' ? ' (must be finite and ≥ 0)' : ' (must be finite)'}; the file is damaged: resume from an earlier checkpoint`,
          );
        }
      }
      read[name] = data;
    }
    // nothing is changed until both moments passed the checks
    this.m.set(read.m!);
    this.v.set(read.v!);
    this.step = step;
  }
}

/** Fills defaults and checks ranges. @throws ConfigError naming the field, or naming an unknown key (`optimizer`). */
export function resolveAdamW(o: AdamWOptions = {}): AdamWConfig {
  checkOptionKeys('AdamW', o, ADAMW_OPTION_KEYS);
  const c: AdamWConfig = {
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.999,
    eps: o.eps ?? 1e-8,
    weightDecay: o.weightDecay ?? 0.01,
    // Infinity is stored as 0 (both mean "off"), so the config survives JSON
    maxGradNorm: o.maxGradNorm === Infinity ? 0 : (o.maxGradNorm ?? 1.0),
  };
  for (const k of ['beta1', 'beta2'] as const) {
    if (!(c[k] >= 0 && c[k] < 1)) throw new ConfigError(k, `must be in [0, 1), got ${c[k]}`);
  }
  if (!(c.eps > 0 && Number.isFinite(c.eps))) throw new ConfigError('eps', `must be a positive finite number, got ${c.eps}`);
  if (!(c.weightDecay >= 0 && Number.isFinite(c.weightDecay)))
    throw new ConfigError('weight_decay', `must be ≥ 0 and finite, got ${c.weightDecay}`);
  if (!(c.maxGradNorm >= 0)) throw new ConfigError('max_grad_norm', `must be ≥ 0 (0 or Infinity = no clipping), got ${c.maxGradNorm}`);
  return c;
}

/** The safetensors metadata `format` of each optimizer's state. */
const STATE_FORMATS = { adamw: ['reformer-ts.adamw', 'AdamW'], adafactor: ['reformer-ts.adafactor', 'Adafactor'] } as const;

/**
 * Parses an optimizer state written by `toBytes()` of optimizer `kind`: the file and its step.
 * @throws FormatError if the bytes are not safetensors, hold the other optimizer's state (a run keeps
 *   the optimizer it started with) or another format, or the step is not a non-negative integer.
 */
export function parseOptimizerState(bytes: Uint8Array, kind: keyof typeof STATE_FORMATS): { file: SafetensorsFile; step: number } {
  const file = parseSafetensors(bytes);
  const [format, label] = STATE_FORMATS[kind];
  const given = file.metadata.format;
  if (given !== format) {
    const other = Object.values(STATE_FORMATS).find(([f]) => f === given);
    const what = other ? `${other[1]}'s state` : `metadata format ${JSON.stringify(given)}`;
    throw new FormatError(`optimizer state: ${what}, expected "${format}" (${label}); a run keeps the optimizer it started with`);
  }
  const step = Number(file.metadata.step);
  if (!Number.isSafeInteger(step) || step < 0)
    throw new FormatError(`optimizer state: step ${JSON.stringify(file.metadata.step)} is not a non-negative integer`);
  return { file, step };
}
