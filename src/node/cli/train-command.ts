/**
 * `reformer train`: its flags and help (the work is in train.ts, and tasks/train-task.ts for
 * `--task mlm|classify|qa`).
 */
import type { Command } from 'commander';
import { PROBLEM_TYPES } from '../../model/heads/task-config.js';
import { describeTrainLr, FALLBACK_LR } from '../../train/plan.js';
import { DEFAULT_MLM_PROBABILITY } from '../../train/tasks/masking.js';
import { OPTIMIZER_NAMES } from '../../train/trainer.js';
import type { CliContext } from './context.js';
import { backendOption, EXIT_HELP, explicitOptions, threadsOption } from './options.js';
import { choiceFlag, intFlag, nonEmptyFlag, numberFlag } from './parse.js';
import { fastaOptionsFlags } from './run-extra.js';
import { checkTaskFlags, TASK_DEFAULTS, trainTaskCommand, type TaskFlags } from './tasks/train-task.js';
import { TASK_NAMES } from './tasks/task-model.js';
import { TRAIN_DEFAULTS, trainCommand, type TrainFlags } from './train.js';

/** Registers `reformer train` on `program`; `setExit` receives the exit code. */
export function addTrainCommand(program: Command, ctx: CliContext, setExit: (code: number) => void, log: (line: string) => void): void {
  const engine = ctx.engine;
  program
    .command('train')
    .description(
      'train a byte-level language model on a text or FASTA file, or fine-tune a pretrained one (--checkpoint) (checkpoints, metrics.jsonl and training.svg in --out)',
    )
    .option(
      '--data <file>',
      'UTF-8 text, FASTA (.fa/.fasta/.fna or leading ">"), optionally .gz (default: the embedded Crime and Punishment)',
      nonEmptyFlag('--data'),
    )
    .option(
      '--out <dir>',
      `run directory: <dir>/checkpoint, <dir>/metrics.jsonl, <dir>/training.svg (default: ${TRAIN_DEFAULTS.out}; with --resume: the resumed run, or a new directory to continue into, leaving the resumed run as it is)`,
      nonEmptyFlag('--out'),
    )
    .option(
      '--preset <name>',
      `model size: ${engine.presets.join(', ')} (default ${engine.defaultPreset})`,
      choiceFlag('--preset', engine.presets),
    )
    .option('--config <config.json>', 'HF ReformerConfig fields applied on top of the preset', nonEmptyFlag('--config'))
    .option(
      '--seq-len <n>',
      "training window in tokens (default: the preset's; sets axial_pos_shape to two factors of n)",
      intFlag('--seq-len', 2),
    )
    .option(
      '--batch <n>',
      `windows per step (default: ${TRAIN_DEFAULTS.tokensPerStep} tokens per step, at least 1 window)`,
      intFlag('--batch'),
    )
    .option(
      '--steps <n>',
      'total steps to reach, counted from the start of the run, also with --resume (a checkpoint at step 700 with --steps 1000 trains 300 more); cosine decay over these steps',
      intFlag('--steps'),
    )
    .option(
      '--minutes <m>',
      `stop after m minutes of this run (default ${TRAIN_DEFAULTS.minutes} when --steps is not given; with both, whichever comes first)`,
      numberFlag('--minutes', 0, 1e6, { exclusiveMin: true, what: 'a number of minutes' }),
    )
    .option(
      '--optimizer <name>',
      `${OPTIMIZER_NAMES.join(' or ')} (default ${TRAIN_DEFAULTS.optimizer}): AdamW, or Adafactor (Shazeer & Stern 2018, the Reformer paper's: factored second moments, ` +
        "steps relative to each tensor's RMS, update clipping; HF transformers' semantics with an external lr); with --resume: the checkpoint's",
      choiceFlag('--optimizer', OPTIMIZER_NAMES),
    )
    .option(
      '--lr <x>',
      `peak learning rate, decays to lr/10 (default: measured per preset, ${describeTrainLr()}; fine-tuning --checkpoint: ${FALLBACK_LR.adamw} / ${FALLBACK_LR.adafactor}; for Adafactor a step is lr × the tensor's RMS)`,
      numberFlag('--lr', 0, 10, { exclusiveMin: true }),
    )
    .option('--warmup <n>', 'linear warm-up steps (default min(100, steps/10), or 50 with --minutes only)', intFlag('--warmup', 0))
    .option('--seed <s>', `seed of the initialisation and of the batch sampler (default ${TRAIN_DEFAULTS.seed})`, intFlag('--seed', 0))
    .option(
      '--resume <dir>',
      'continue a run (run directory or checkpoint directory) exactly where it stopped, on its own data (other --data needs --out <new dir>: the resumed run is never overwritten with a model of other data)',
      nonEmptyFlag('--resume'),
    )
    .option(
      '--checkpoint <dir>',
      'fine-tune: start a new run from a pretrained checkpoint or HuggingFace folder (pytorch_model.bin or model.safetensors; its spiece.model tokenizes the data), training on windows of its length',
      nonEmptyFlag('--checkpoint'),
    )
    .option(
      '--eval-every <n>',
      `validate (bits per byte) every n steps, 0 = only at the end (default ${TRAIN_DEFAULTS.evalEvery})`,
      intFlag('--eval-every', 0),
    )
    .option(
      '--eval-windows <n>',
      `validation windows per periodic validation (default ${TRAIN_DEFAULTS.evalWindows})`,
      intFlag('--eval-windows'),
    )
    .option(
      '--checkpoint-every <n>',
      'save a checkpoint every n steps, 0 = only at the end (default: --eval-every)',
      intFlag('--checkpoint-every', 0),
    )
    .option(
      '--val-fraction <f>',
      `fraction held out from the end of the data for validation (default ${TRAIN_DEFAULTS.valFraction})`,
      numberFlag('--val-fraction', 0, 1, { exclusiveMax: true }),
    )
    .addOption(fastaOptionsFlags("keep; with --resume: the run's")[0]!)
    .addOption(fastaOptionsFlags("keep; with --resume: the run's")[1]!)
    .option(
      '--task <task>',
      'lm (default: causal language model), mlm (ReformerForMaskedLM on a text file), classify (ReformerForSequenceClassification on JSON Lines {"text", "label"}), qa (ReformerForQuestionAnswering on JSON Lines {"context", "question", "answer_text", "answer_start"}); see README "Task heads"',
      choiceFlag('--task', TASK_NAMES),
    )
    .option(
      '--mlm-probability <p>',
      `--task mlm: share of the tokens to predict (HF 80/10/10: mask / random byte / kept; default ${DEFAULT_MLM_PROBABILITY}); the mask token is the padding id`,
      numberFlag('--mlm-probability', 0, 1, { exclusiveMin: true }),
    )
    .option(
      '--problem-type <type>',
      `--task classify: ${PROBLEM_TYPES.join(', ')} (default: from the labels: names or ids → single label, non-integer numbers → regression, lists → multi-label)`,
      choiceFlag('--problem-type', PROBLEM_TYPES),
    )
    .option(
      '--validation <file>',
      '--task mlm|classify|qa: validation data (default: the last --val-fraction of --data)',
      nonEmptyFlag('--validation'),
    )
    .option(
      '--max-answer-len <n>',
      `--task qa: longest answer predicted in validation, tokens (default ${TASK_DEFAULTS.maxAnswerLen})`,
      intFlag('--max-answer-len'),
    )
    .addOption(threadsOption())
    .addOption(backendOption(true))
    .addHelpText(
      'after',
      '\nSIGINT/SIGTERM: the current step finishes, a checkpoint is saved, exit 0; a second signal (later than 500 ms after the first) exits at once.\n' +
        'Example: reformer train --preset tiny --steps 300 --out runs/tiny\n' +
        '         reformer train --task classify --data train.jsonl --validation val.jsonl --preset tiny --seq-len 2048 --steps 500 --out runs/clf\n' +
        EXIT_HELP,
    )
    .action(async (flags: TrainFlags & TaskFlags, cmd: Command) => {
      const explicit = explicitOptions(cmd);
      if (flags.task !== undefined && flags.task !== 'lm') {
        setExit(await trainTaskCommand(flags, explicit, ctx, log));
        return;
      }
      checkTaskFlags(flags, explicit);
      setExit(await trainCommand(flags, explicit, ctx, log));
    });
}
