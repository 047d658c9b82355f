/**
 * `reformer verify`: how close each LSH layer's attention comes to exact full attention, per number of
 * hash rounds, on real text (the paper's "how many rounds are enough?", Table 2 / Fig. 4, measured on
 * one window of a model's actual attention inputs).
 *
 * 1. The model: a checkpoint (`--checkpoint`) or a fresh, untrained preset (`--preset`, default `small`).
 * 2. One window of `--seq-len` bytes of `--data` (default: the embedded Crime and Punishment), taken from
 *    the held-out tail (the last 5%, which `reformer train` never trains on) unless `--offset` is given.
 * 3. An evaluation forward of the whole model on that window, capturing each LSH layer's attention-block
 *    input (`EncoderInput.onAttentionInput`), then per LSH layer: LayerNorm (the block's own weights) →
 *    `attentionQualityReport` (src/attention/quality.ts) for each `--num-hashes` value: LSH attention
 *    with fresh rotations vs the exact shared-QK oracle in float64 (same masks, same conventions).
 * 4. A table (or `--json`): layer, num_hashes, relative RMS error ‖o_lsh − o‖/‖o‖, max |o_lsh − o|,
 *    mean and min attention-mass recall (exact softmax mass inside the keys LSH let a query see),
 *    mean keys attended per query.
 *
 * Cost: the exact oracle is O(L²) time and memory per head (float64 [L, L] probabilities), so the default
 * length is 2048 (a few seconds); 4096 takes ~4× longer and ~256 MB.
 */
import { layerNormForward } from '../../nn/layer-norm.js';
import { attentionQualityReport, type AttentionQualityRow } from '../../attention/quality.js';
import type { Float } from '../../backend/backend.js';
import { DEFAULT_PRESET, PRESET_NAMES, preset, type PresetName } from '../../config/presets.js';
import type { ReformerConfig } from '../../config/reformer-config.js';
import { UsageError } from '../../errors.js';
import { lmFromCheckpoint } from '../../model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../model/lm-model.js';
import { ByteTokenizer, type Tokenizer } from '../../train/tokenizer.js';
import { Rng } from '../../util/rng.js';
import { TaskProgress } from '../progress.js';
import { readCorpusFile } from '../corpus-file.js';
import { chunkMultiple } from '../reformer-engine.js';
import type { BackendKind, CliContext } from './context.js';
import { checkpointTokenizer, readCheckpointNoted } from './load-model.js';
import { checkLengthMultiple } from './parse.js';

export interface VerifyFlags {
  checkpoint?: string;
  preset?: string;
  data?: string;
  seqLen?: number;
  /** Start of the window in the data's tokens (default: the start of the held-out last 5%). */
  offset?: number;
  /** Hash-round counts to compare (default VERIFY_DEFAULTS.numHashes). */
  numHashes?: number[];
  /** Seed of the rotations (and of a preset's initialisation). */
  seed?: number;
  json?: boolean;
  threads?: number;
  backend?: BackendKind;
}

/** Defaults of `reformer verify` (documented in `--help`). */
export const VERIFY_DEFAULTS = {
  seqLen: 2048,
  numHashes: [1, 2, 4, 8],
  seed: 0,
  /** The window starts this far into the data by default: the held-out tail of `reformer train`. */
  heldOutFraction: 0.95,
} as const;

/** One row of the report: the quality numbers of one LSH layer at one `num_hashes`. */
export interface VerifyRow extends AttentionQualityRow {
  /** Layer index in `attn_layers`. */
  layer: number;
}

/** Everything `reformer verify --json` prints. */
export interface VerifyReport {
  model: string;
  data: string;
  seqLen: number;
  offset: number;
  seed: number;
  rows: VerifyRow[];
}

/** Longest window a config takes in evaluation (axial: Π axial_pos_shape, capped by max_position_embeddings). */
function maxLength(c: ReformerConfig): number {
  return c.axial_pos_embds
    ? Math.min(
        c.axial_pos_shape.reduce((a, b) => a * b, 1),
        c.max_position_embeddings,
      )
    : c.max_position_embeddings;
}

/**
 * Runs the report; returns it (the command prints it). Exported for tests and for library use from Node.
 * @throws UsageError for flag combinations and lengths that cannot be checked; FormatError/ConfigError
 *   for a bad checkpoint or data file.
 */
export async function runVerify(flags: VerifyFlags, ctx: CliContext, info: (line: string) => void = () => {}): Promise<VerifyReport> {
  if (flags.checkpoint !== undefined && flags.preset !== undefined) throw new UsageError('verify: give --checkpoint or --preset, not both');
  const seed = flags.seed ?? VERIFY_DEFAULTS.seed;
  const { backend, note } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  if (note) info(`note: ${note}`);

  // ---- model
  let lm: ReformerModelWithLMHead;
  let model: string;
  let tokenizer: Tokenizer = new ByteTokenizer();
  if (flags.checkpoint !== undefined) {
    const { ck, config: cfgObj, notes } = readCheckpointNoted(flags.checkpoint, undefined, { inferenceFor: 'verify' });
    tokenizer = checkpointTokenizer(ck, cfgObj);
    for (const n of notes) info(n);
    if (cfgObj.model_type !== undefined && cfgObj.model_type !== 'reformer') {
      throw new UsageError(
        `verify --checkpoint ${flags.checkpoint}: model_type ${JSON.stringify(cfgObj.model_type)} has no LSH attention to verify`,
      );
    }
    lm = lmFromCheckpoint(backend, { config: JSON.stringify(cfgObj), safetensors: ck.weights });
    model = `checkpoint ${ck.dir}`;
  } else {
    const name = (flags.preset ?? DEFAULT_PRESET) as PresetName;
    if (!PRESET_NAMES.includes(name)) throw new UsageError(`verify --preset ${name}: must be one of ${PRESET_NAMES.join(', ')}`);
    lm = new ReformerModelWithLMHead(backend, preset(name).config, { seed });
    model = `preset ${name} (untrained, seed ${seed})`;
  }
  const cfg = lm.config;
  const lshLayers = cfg.attn_layers.flatMap((t, i) => (t === 'lsh' ? [i] : []));
  if (lshLayers.length === 0)
    throw new UsageError(`verify: the model has no LSH layers (attn_layers ${JSON.stringify(cfg.attn_layers)}); nothing to compare`);

  // ---- length
  const maxLen = maxLength(cfg);
  const L = flags.seqLen ?? Math.min(VERIFY_DEFAULTS.seqLen, maxLen);
  if (L > maxLen) throw new UsageError(`--seq-len ${L}: this model takes at most ${maxLen} tokens`);
  if (L <= cfg.lsh_attn_chunk_length) {
    throw new UsageError(
      `--seq-len ${L}: at most lsh_attn_chunk_length (${cfg.lsh_attn_chunk_length}) tokens take exact full attention (HF); use a longer window to compare LSH`,
    );
  }
  checkLengthMultiple(`--seq-len ${L}`, L, { ...chunkMultiple(cfg), min: 0 }, { lowest: cfg.lsh_attn_chunk_length });

  // ---- data window
  const dataPath = flags.data ?? `${ctx.packageRoot}/data/crime-and-punishment.txt`;
  const corpus = readCorpusFile(dataPath, '--data');
  const tokens = tokenizer.encode(corpus.bytes);
  if (tokens.length < L) throw new UsageError(`--data ${dataPath}: ${tokens.length} tokens, fewer than --seq-len ${L}`);
  const offset = flags.offset ?? Math.min(Math.floor(tokens.length * VERIFY_DEFAULTS.heldOutFraction), tokens.length - L);
  if (offset + L > tokens.length)
    throw new UsageError(
      `--offset ${offset}: the window of ${L} tokens would end past the data (${tokens.length} tokens); use at most ${tokens.length - L}`,
    );
  const inputIds = tokens.slice(offset, offset + L);

  // ---- one evaluation forward, capturing each LSH layer's attention input (copied: the buffers are the model's)
  const D = cfg.hidden_size;
  const captured = new Map<number, Float32Array>();
  backend.scope(() => {
    lm.reformer.forward({
      inputIds,
      batch: 1,
      seqLen: L,
      training: false,
      onAttentionInput: (layer: number, x: Float) => {
        if (cfg.attn_layers[layer] === 'lsh') captured.set(layer, Float32Array.from(x.subarray(0, L * D)));
      },
    });
  });
  const resolved = lm.reformer.resolvedConfig();

  // ---- per LSH layer: LayerNorm → quality report (LSH on the model's backend, exact oracle in float64)
  const be = backend;
  const rows: VerifyRow[] = [];
  const progress = new TaskProgress({ stream: ctx.stderr, label: 'verify', unit: 'LSH layers', total: lshLayers.length, quietSeconds: 0 });
  for (const layer of lshLayers) {
    const captured1 = captured.get(layer);
    if (!captured1) throw new Error(`verify: layer ${layer}'s attention input was not captured`);
    const p = (n: string): Float => lm.parameters.param(`reformer.encoder.layers.${layer}.attention.${n}`);
    const report = be.scope(() => {
      const x = be.floats(L * D);
      x.set(captured1);
      const normed = be.floats(L * D);
      layerNormForward(be, x, L, D, p('layer_norm.weight'), p('layer_norm.bias'), cfg.layer_norm_eps, normed);
      const weights = { 'query_key.weight': p('self_attention.query_key.weight'), 'value.weight': p('self_attention.value.weight') };
      return attentionQualityReport(be, resolved, weights, normed, {
        batch: 1,
        seqLen: L,
        numHashesList: flags.numHashes ?? [...VERIFY_DEFAULTS.numHashes],
        rng: new Rng(seed + 1000 * (layer + 1)),
      });
    });
    for (const r of report) rows.push({ layer, ...r });
    progress.update(rows.length / (flags.numHashes ?? VERIFY_DEFAULTS.numHashes).length);
  }
  progress.stop();
  return { model, data: `${dataPath} (tokens ${offset}..${offset + L})`, seqLen: L, offset, seed, rows };
}

/** The report as a fixed-width table (one row per LSH layer and num_hashes). */
export function formatVerifyTable(r: VerifyReport): string {
  const head = ['layer', 'num_hashes', 'rel_rms_error', 'max_abs_error', 'mean_recall', 'min_recall', 'keys/query'];
  const lines = r.rows.map((x) => [
    String(x.layer),
    String(x.numHashes),
    x.relativeRmsError.toFixed(4),
    x.maxAbsError.toFixed(4),
    x.meanMassRecall.toFixed(4),
    x.minMassRecall.toFixed(4),
    x.meanAttendedKeys.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [
    `LSH vs exact attention: ${r.model}`,
    `input: ${r.seqLen} tokens of ${r.data}; rotations seed ${r.seed}`,
    fmt(head),
    ...lines.map(fmt),
    'rel_rms_error = ‖o_lsh − o_exact‖/‖o_exact‖ over all positions and heads; recall = exact softmax mass of the keys LSH attended (1 = nothing missed)',
  ].join('\n');
}

/** `reformer verify`: prints the table (or JSON with --json) to stdout; progress notes to stderr. */
export async function verifyCommand(flags: VerifyFlags, ctx: CliContext): Promise<number> {
  const report = await runVerify(flags, ctx, (l) => void ctx.stderr.write(`${l}\n`));
  ctx.stdout.write(`${flags.json ? JSON.stringify(report, null, 2) : formatVerifyTable(report)}\n`);
  return 0;
}
