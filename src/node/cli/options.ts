/**
 * Flags and help texts that several `reformer` commands share (main.ts and the command files that
 * register themselves: train-command.ts, task.ts, checkpoint.ts).
 */
import { type Command, Option } from 'commander';
import { BACKEND_KINDS } from './context.js';
import { choiceFlag, intFlag } from './parse.js';

export const EXIT_HELP = `
Exit codes:
  0  success
  1  runtime failure (e.g. NaN loss: NumericalError; out of memory: ResourceError; I/O errors)
  2  usage or input error (bad flag value, missing file, invalid config, data or checkpoint:
     UsageError, ConfigError, FormatError, ShapeError)
  3  not available in this build yet (the command's engine has not landed)
  130/143  a second SIGINT/SIGTERM during training (exits at once; the last checkpoint stays intact)

Errors are one line on stderr; add --verbose for the stack trace.`;

export const HF_FOLDER_HELP =
  'checkpoint directory, a run directory holding checkpoint/, or a HuggingFace folder (config.json + model.safetensors or pytorch_model.bin, sharded or not; spiece.model: SentencePiece tokens, else bytes)';

export const threadsOption = (): Option =>
  new Option(
    '--threads <n>',
    'compute threads of the WASM backend, this one included (default: all cores; results are identical for any count)',
  ).argParser(intFlag('--threads', 1, 256));
export const backendOption = (resume = false): Option =>
  new Option(
    '--backend <kind>',
    `compute backend: ${BACKEND_KINDS.join(', ')} (default auto: WASM SIMD if it loads, else the reference backend${resume ? "; with --resume: the checkpoint's" : ''})`,
  ).argParser(choiceFlag('--backend', BACKEND_KINDS));

export const numHashesOption = (): Option =>
  new Option(
    '--num-hashes <n>',
    "hash rounds of every LSH layer for this command instead of the config's num_hashes (HF's per-call value; more rounds recover more of full attention, paper Table 2)",
  ).argParser(intFlag('--num-hashes', 1, 64));

/** Names of the options given on the command line (not defaults). */
export function explicitOptions(cmd: Command): Set<string> {
  return new Set(cmd.options.map((o) => o.attributeName()).filter((k) => cmd.getOptionValueSource(k) === 'cli'));
}
