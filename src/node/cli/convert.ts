/**
 * `reformer convert <hf-folder> <out>`: a HuggingFace folder with PyTorch weights (`pytorch_model.bin`,
 * zip or legacy, or sharded) → a folder with `model.safetensors` (the same tensors, raw bytes, `format: pt`
 * metadata: loadable by transformers' `from_pretrained`), the `config.json` as it was and the
 * `spiece.model` if there is one, written atomically with a manifest (a reformer-ts checkpoint too).
 * The weights are checked against the config (every HF parameter name and shape) before anything is
 * written; the model is not built.
 */
import { existsSync, readdirSync } from 'node:fs';
import { configFromBytes, checkWeightsFit } from '../../model/checkpoint.js';
import { lmParamSpecs } from '../../model/lm-model.js';
import { reformerParamSpecs } from '../../model/param-specs.js';
import { parseSafetensors } from '../../io/safetensors.js';
import { UsageError } from '../../errors.js';
import { saveCheckpoint } from '../checkpoint.js';
import { checkOutputDir, displayPath } from '../paths.js';
import type { CliContext } from './context.js';
import { readCheckpointNoted } from './load-model.js';

/** Runs `reformer convert`; returns the exit code. */
export function convertCommand(source: string, out: string, ctx: CliContext): number {
  const log = (l: string): void => void ctx.stdout.write(`${l}\n`);
  checkOutputDir(out, `<out> ${out}`);
  if (existsSync(out) && readdirSync(out).length > 0) {
    throw new UsageError(`<out> ${out}: is not empty; give a new folder (nothing is overwritten)`);
  }
  const { ck, notes } = readCheckpointNoted(source, '<hf-folder>');
  const config = configFromBytes(ck.config);
  const file = parseSafetensors(ck.weights);
  const isLm = file.names().some((n) => n.startsWith('lm_head.'));
  checkWeightsFit(isLm ? lmParamSpecs(config) : reformerParamSpecs(config), file);
  for (const n of notes) ctx.stderr.write(`${n}\n`);
  saveCheckpoint(out, { config: new TextDecoder().decode(ck.config), weights: ck.weights, tokenizer: ck.tokenizer });
  let params = 0;
  for (const n of file.names()) params += file.entry(n).shape.reduce((a, b) => a * b, 1);
  log(`read: ${displayPath(ck.dir)}: ${ck.weightsSource}, ${file.names().length} tensors, ${params.toLocaleString('en-US')} values`);
  log(
    `wrote: ${displayPath(out)}/model.safetensors (${ck.weights.length.toLocaleString('en-US')} bytes), config.json${ck.tokenizer ? ', spiece.model' : ''}, manifest.json`,
  );
  return 0;
}
