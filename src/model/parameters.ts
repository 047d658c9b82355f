/**
 * All parameters of a model in ONE flat buffer (`be.floats`), with named views keyed by HF's
 * `state_dict()` names, and a gradient buffer with the same layout (llm.c style). Optimisers work on
 * the flat buffers; layers receive views (`param(name)`, `grad(name)`).
 *
 * Initialisation follows HF `ReformerPreTrainedModel._init_weights`: linear and embedding weights
 * N(0, initializer_range²), axial position weights N(0, axial_norm_std²), LayerNorm weight 1 and
 * bias 0, linear biases 0, drawn from our seeded `Rng` in layout order.
 */
import type { Backend, Float } from '../backend/backend.js';
import { FormatError, ShapeError } from '../errors.js';
import { backendArg, describeValue, isArrayValue } from '../util/args.js';
import type { Rng } from '../util/rng.js';

/** How a parameter is initialised. */
export type ParamInit = { readonly kind: 'normal'; readonly std: number } | { readonly kind: 'ones' } | { readonly kind: 'zeros' };

export interface ParamSpec {
  /** HF state_dict name, e.g. `reformer.encoder.layers.0.attention.self_attention.query_key.weight`. */
  readonly name: string;
  /** HF shape, e.g. `[out, in]` for linear weights, `[n0, 1, d0]` for `weights.0`. */
  readonly shape: readonly number[];
  readonly init: ParamInit;
}

export interface ParamEntry extends ParamSpec {
  /** element offset in the flat buffers */
  readonly offset: number;
  /** element count (product of shape) */
  readonly size: number;
}

export class Parameters {
  /** All parameters, flat. */
  readonly params: Float;
  /** Gradients, same layout as `params`. */
  readonly grads: Float;
  /** Layout in order. */
  readonly entries: readonly ParamEntry[];
  private readonly byName: Map<string, ParamEntry>;

  /**
   * Lays out `specs` in order in one flat parameter buffer and one gradient buffer of `be` (zeros).
   * @throws ConfigError('backend'); ShapeError for specs that are not an array of {name, shape, init},
   *   a name declared twice.
   */
  constructor(be: Backend, specs: readonly ParamSpec[]) {
    backendArg('new Parameters', be);
    if (!isArrayValue(specs)) {
      throw new ShapeError(
        `new Parameters: specs must be an array of {name, shape, init} (e.g. reformerParamSpecs(config)), got ${describeValue(specs)}`,
      );
    }
    const entries: ParamEntry[] = [];
    const byName = new Map<string, ParamEntry>();
    let offset = 0;
    for (const s of specs) {
      if (
        s === null ||
        typeof s !== 'object' ||
        typeof s.name !== 'string' ||
        !isArrayValue(s.shape) ||
        !s.shape.every((d) => Number.isSafeInteger(d) && d >= 0)
      ) {
        throw new ShapeError(`new Parameters: each spec must be {name: string, shape: integers ≥ 0, init}, got ${describeValue(s)}`);
      }
      if (byName.has(s.name)) throw new ShapeError(`parameter "${s.name}" is declared twice`);
      const size = s.shape.reduce((a, b) => a * b, 1);
      const e: ParamEntry = Object.freeze({ ...s, shape: Object.freeze([...s.shape]), offset, size });
      entries.push(e);
      byName.set(s.name, e);
      offset += size;
    }
    this.entries = Object.freeze(entries);
    this.byName = byName;
    this.params = be.floats(offset);
    this.grads = be.floats(offset);
  }

  /** Total number of parameters. */
  get size(): number {
    return this.params.length;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The layout entry. @throws ShapeError naming the unknown parameter. */
  entry(name: string): ParamEntry {
    const e = this.byName.get(name);
    if (!e) throw new ShapeError(`no parameter named "${name}"; known: ${[...this.byName.keys()].slice(0, 4).join(', ')}, ...`);
    return e;
  }

  /** View of a parameter (writes go to the flat buffer). */
  param(name: string): Float {
    const e = this.entry(name);
    return this.params.subarray(e.offset, e.offset + e.size);
  }

  /** View of a parameter's gradient. */
  grad(name: string): Float {
    const e = this.entry(name);
    return this.grads.subarray(e.offset, e.offset + e.size);
  }

  zeroGrads(): void {
    this.grads.fill(0);
  }

  /** HF initialisation, in layout order, from `rng`. */
  initialize(rng: Rng): void {
    for (const e of this.entries) {
      const v = this.params.subarray(e.offset, e.offset + e.size);
      switch (e.init.kind) {
        case 'normal':
          rng.fillNormal(v, 0, e.init.std);
          break;
        case 'ones':
          v.fill(1);
          break;
        case 'zeros':
          v.fill(0);
          break;
      }
    }
  }

  /**
   * Copies a tensor into a parameter after checking its shape.
   * @throws FormatError naming the parameter and both shapes.
   */
  set(name: string, shape: readonly number[], data: ArrayLike<number>): void {
    const e = this.entry(name);
    if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) {
      throw new FormatError(
        `parameter "${name}" has shape [${shape.join(', ')}], the model expects [${e.shape.join(', ')}]; the checkpoint and config.json disagree`,
      );
    }
    this.param(name).set(data);
  }
}
