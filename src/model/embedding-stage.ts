/**
 * The position part of HF `ReformerEmbeddings` over the model's parameter store: axial
 * (`AxialPositionEmbeddings`, `concat(W0[t // n1], W1[t mod n1])`) or plain (`PositionEmbeddings`), with
 * its dropout, forward and backward (nn/embeddings.ts holds the ops themselves).
 */
import type { Backend, Float } from '../backend/backend.js';
import type { ReformerConfig } from '../config/reformer-config.js';
import { applyDropout } from '../nn/dropout.js';
import {
  axialPositionBackward,
  axialPositionForward,
  plainPositionBackward,
  plainPositionForward,
  type AxialDropout,
  type AxialSpec,
} from '../nn/embeddings.js';
import type { Parameters } from './parameters.js';

/** What the encoder's stages read: the backend, the config, the parameter store and the HF name prefix. */
export interface EncoderParts {
  readonly be: Backend;
  readonly cfg: ReformerConfig;
  readonly params: Parameters;
  readonly prefix: string;
}

function axialSpec(cfg: ReformerConfig): AxialSpec {
  return { shape: cfg.axial_pos_shape, dims: cfg.axial_pos_embds_dim };
}
function axialTables(m: EncoderParts, get: (n: string) => Float): Float[] {
  return m.cfg.axial_pos_shape.map((_, k) => get(`${m.prefix}embeddings.position_embeddings.weights.${k}`));
}
export function positionForward(
  m: EncoderParts,
  positions: Int32Array,
  rows: number,
  Lp: number,
  B: number,
  out: Float,
  seed: number | null,
  p: number,
): void {
  const { be, cfg, params: P, prefix } = m;
  if (cfg.axial_pos_embds) {
    const dropout: AxialDropout | null = seed !== null ? { p, seed, batch: B, seqLen: Lp } : null;
    axialPositionForward(
      be,
      axialSpec(cfg),
      axialTables(m, (nm) => P.param(nm)),
      positions,
      rows,
      out,
      dropout,
    );
  } else {
    plainPositionForward(be, P.param(`${prefix}embeddings.position_embeddings.embedding.weight`), cfg.hidden_size, positions, rows, out);
    if (seed !== null) applyDropout(out, rows, cfg.hidden_size, p, seed); // HF PositionEmbeddings dropout
  }
}
export function positionBackward(
  m: EncoderParts,
  positions: Int32Array,
  rows: number,
  Lp: number,
  B: number,
  dOut: Float,
  seed: number | null,
  p: number,
): void {
  const { be, cfg, params: P, prefix } = m;
  if (cfg.axial_pos_embds) {
    const dropout: AxialDropout | null = seed !== null ? { p, seed, batch: B, seqLen: Lp } : null;
    axialPositionBackward(
      be,
      axialSpec(cfg),
      axialTables(m, (nm) => P.grad(nm)),
      positions,
      rows,
      dOut,
      dropout,
    );
  } else {
    const D = cfg.hidden_size;
    be.scope(() => {
      let g = dOut;
      if (seed !== null) {
        g = be.floats(rows * D);
        g.set(dOut.subarray(0, rows * D));
        applyDropout(g, rows, D, p, seed);
      }
      plainPositionBackward(be, P.grad(`${prefix}embeddings.position_embeddings.embedding.weight`), D, positions, rows, g);
    });
  }
}
