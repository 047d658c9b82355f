/**
 * Evaluating a causal LM beyond its training length by repeating its axial position embeddings.
 *
 * HF's axial position embeddings (`AxialPositionEmbeddings`, paper Sec. 5 / HF docs "Axial Positional
 * Encodings") factor the position t of a length-L sequence, L = n₀·n₁ = Π axial_pos_shape, as
 * t = i·n₁ + j and embed it as [E₀[i], E₁[j]] (the coarse table `weights.0`, shape [n₀, 1, d₀], and the
 * fine table `weights.1`, shape [1, n₁, d₁], concatenated along the feature axis). HF requires
 * Π axial_pos_shape = L in training and refuses a longer sequence at evaluation, so a model scores at
 * most L tokens per window.
 *
 * `repeatAxialPositions` builds a model of length L' = k·L (k = ⌈seqLen / L⌉) with
 * axial_pos_shape [k·n₀, n₁] whose coarse table is the trained one repeated (row i ← row i mod n₀) and
 * whose fine table and every other weight are the trained ones. Position t' then gets exactly the
 * embedding of t' mod L: positions repeat with period L, and every position the model was trained on
 * keeps its embedding. The layers are unchanged (chunked attention is defined at any length that is a
 * multiple of the chunk lengths), so this is a statement about positions only, not a new model: a
 * sequence of length ≤ L gets bit-identical outputs from both models (test/model/extend-positions.test.ts).
 * `num_buckets` is kept as the config has it (a value resolved at the training length stays; `null`
 * re-resolves with HF's rule at the new length, 2·L'/chunk).
 *
 * Used by `reformer eval --extend-positions repeat` (one window over a whole genome) and the passkey
 * experiment (a model trained at 256 tokens asked at 64K).
 */
import { ConfigError } from '../errors.js';
import { describeValue, intArg } from '../util/args.js';
import { Rng } from '../util/rng.js';
import { ReformerModelWithLMHead } from './lm-model.js';

/** HF name of the coarse axial table, shape [n₀, 1, d₀]. */
export const AXIAL_COARSE_TABLE = 'reformer.embeddings.position_embeddings.weights.0';

/** Training length L = Π axial_pos_shape of an axial model, and the length L' = k·L that covers `seqLen`. */
export function repeatedAxialLength(model: ReformerModelWithLMHead, seqLen: number): { trained: number; extended: number } {
  requireAxialModel(model);
  intArg('repeatAxialPositions', 'seqLen', seqLen, 1);
  const [n0, n1] = model.config.axial_pos_shape as [number, number];
  const trained = n0 * n1;
  return { trained, extended: Math.ceil(seqLen / trained) * trained };
}

/**
 * A copy of `model` that takes windows of up to `seqLen` tokens: axial_pos_shape [k·n₀, n₁] with
 * k = ⌈seqLen / L⌉, the coarse table repeated, everything else copied (see the file header). The copy
 * lives on the same backend (its parameters are new buffers) and continues the model's random stream
 * (same LSH rotations for the same calls).
 * @param model an HF `ReformerModelWithLMHead` with axial position embeddings (two factors).
 * @param seqLen the longest window the copy must take, tokens (≥ 1; ≤ L returns a plain copy of length L).
 * @throws ConfigError('axial_pos_embds') for a model without axial embeddings (its learned table
 *   [max_position_embeddings, D] has no period to repeat), ConfigError('axial_pos_shape') unless two
 *   factors; ConfigError from the new config's validation (e.g. a length the chunk rules refuse).
 */
export function repeatAxialPositions(model: ReformerModelWithLMHead, seqLen: number): ReformerModelWithLMHead {
  const { trained, extended } = repeatedAxialLength(model, seqLen);
  const cfg = model.config;
  const [n0, n1] = cfg.axial_pos_shape as [number, number];
  const k = extended / trained;
  const config = cfg.with({ axial_pos_shape: [k * n0, n1], max_position_embeddings: extended });
  const copy = new ReformerModelWithLMHead(model.backend, config, model.options);
  copy.reformer.rng = Rng.fromState(model.reformer.rng.state());
  const from = model.parameters;
  const to = copy.parameters;
  for (const e of to.entries) {
    const src = from.entry(e.name);
    const dst = to.param(e.name);
    const values = from.param(e.name);
    if (e.name !== AXIAL_COARSE_TABLE) {
      dst.set(values);
      continue;
    }
    const d0 = src.shape[src.shape.length - 1]!;
    for (let i = 0; i < k * n0; i++) dst.set(values.subarray((i % n0) * d0, (i % n0) * d0 + d0), i * d0);
  }
  return copy;
}

function requireAxialModel(model: ReformerModelWithLMHead): void {
  if (!(model instanceof ReformerModelWithLMHead)) {
    throw new ConfigError('model', `repeatAxialPositions needs a ReformerModelWithLMHead, got ${describeValue(model)}`);
  }
  const cfg = model.config;
  if (!cfg.axial_pos_embds) {
    throw new ConfigError(
      'axial_pos_embds',
      `false: the model has a learned position table of max_position_embeddings ${cfg.max_position_embeddings} rows and no period to repeat; only axial position embeddings can be repeated`,
    );
  }
  if (cfg.axial_pos_shape.length !== 2) {
    throw new ConfigError('axial_pos_shape', `must have two factors to repeat the coarse one, got [${cfg.axial_pos_shape.join(', ')}]`);
  }
}
