/**
 * `reformer checkpoint rehash <dir>`: after a file of a checkpoint was edited on purpose (a field of
 * config.json, say), the manifest's sizes and SHA-256 no longer match and every command refuses the
 * checkpoint; this checks the files (the model must load from config.json + model.safetensors, a
 * trainer state must be valid) and records their current contents in a new manifest, atomically.
 */
import type { Command } from 'commander';
import { ReferenceBackend } from '../../backend/reference.js';
import { rehashCheckpoint } from '../checkpoint.js';
import { engineForConfig, parseConfigJson } from '../engine.js';
import { displayPath } from '../paths.js';
import type { CliContext } from './context.js';

/** `reformer checkpoint rehash`; returns the exit code. */
export function rehashCommand(dir: string, ctx: CliContext): number {
  const r = rehashCheckpoint(dir, (config, weights, where) => {
    const cfg = parseConfigJson(config, `${where}/config.json`);
    engineForConfig(cfg, ctx.engines, where).load(new ReferenceBackend(), cfg, weights); // throws what does not fit
  });
  const changed = r.files.filter((f) => f.changed);
  for (const f of r.files) {
    const what = f.removed
      ? 'deleted: no longer listed (the checkpoint is inference-only now)'
      : !f.changed
        ? 'unchanged'
        : f.previousBytes === null
          ? `${f.bytes} bytes (new)`
          : `${f.bytes} bytes (was ${f.previousBytes}${f.previousBytes === f.bytes ? ', other contents' : ''})`;
    ctx.stdout.write(`${f.name}: ${what}\n`);
  }
  ctx.stdout.write(
    `${displayPath(r.dir)}: ${changed.length === 0 ? 'the manifest already matched; rewritten' : 'the manifest now records the current files'}\n`,
  );
  return 0;
}

/** Adds `checkpoint rehash <dir>` to the program. */
export function addCheckpointCommand(program: Command, ctx: CliContext, setExit: (code: number) => void, exitHelp: string): void {
  const checkpoint = program
    .command('checkpoint')
    .description('maintain a checkpoint directory (subcommand: rehash)')
    .addHelpText('after', exitHelp);
  checkpoint
    .command('rehash')
    .description(
      "record the current contents of a checkpoint's files in its manifest.json after editing one on purpose (the files are checked first: the model must load)",
    )
    .argument('<dir>', 'run directory or checkpoint directory')
    .addHelpText('after', `\nExample: reformer checkpoint rehash runs/tiny\n${exitHelp}`)
    .action((dir: string) => {
      setExit(rehashCommand(dir, ctx));
    });
}
