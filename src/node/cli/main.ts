/**
 * The `reformer` command line (bin/reformer.js runs `main`). Argument parsing only: every command is a
 * function of its parsed flags and a `CliContext` (context.ts), so tests run it in-process with their
 * own streams and engines (`runCli`).
 *
 * Errors: one line on stderr (`reformer: <what>`), the stack only with --verbose. Exit codes: see EXIT.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError, ReformerError, ShapeError, UsageError } from '../../errors.js';
import { defaultContext, EXIT, NotAvailableError, type CliContext } from './context.js';
import { checkCheckpointPath } from '../checkpoint.js';
import { addCheckpointCommand } from './checkpoint.js';
import { addTaskCommand } from './task.js';
import { convertCommand } from './convert.js';
import { EVAL_SPLITS, EXTEND_POSITIONS, evalCommand, type EvalFlags } from './eval.js';
import { generateCommand, type GenerateFlags } from './generate.js';
import { fastaOptionsFlags } from './run-extra.js';
import { BENCH_TARGETS, benchCommand, benchOptions, conformanceCommand, type BenchFlags, type BenchTarget } from './misc.js';
import { choiceFlag, intFlag, intListFlag, nonEmptyFlag, numberFlag } from './parse.js';
import { DEMO_DEFAULTS, demoCommand, type DemoFlags } from './demo.js';
import { DEFAULT_MLM_PROBABILITY } from '../../train/tasks/masking.js';
import { TASK_DEFAULTS } from './tasks/train-task.js';
import { checkpointTask, predictCommand, taskEvalCommand, type TaskEvalFlags } from './tasks/eval-task.js';
import { VERIFY_DEFAULTS, verifyCommand, type VerifyFlags } from './verify.js';
import { backendOption, EXIT_HELP, explicitOptions, HF_FOLDER_HELP, numHashesOption, threadsOption } from './options.js';
import { addTrainCommand } from './train-command.js';

/** Builds the program; `setExit` receives each action's exit code. */
export function buildProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  const log = (line: string): void => void ctx.stdout.write(`${line}\n`);
  const program = new Command('reformer')
    .description(
      'The Reformer (Kitaev, Kaiser & Levskaya, ICLR 2020) in TypeScript + WebAssembly: train byte-level language models, ' +
        'evaluate them in bits per byte, sample text, check HF conformance, read HF checkpoints (safetensors, PyTorch .bin, SentencePiece).',
    )
    .version(readVersion(ctx), '-V, --version', 'print the version')
    .option('--verbose', 'print stack traces with errors')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void ctx.stdout.write(s),
      writeErr: (s) => void ctx.stderr.write(s),
      outputError: () => {}, // runCli prints errors as one line
    })
    .showSuggestionAfterError(true)
    .addHelpText('after', EXIT_HELP);

  const engine = ctx.engine;
  addTrainCommand(program, ctx, setExit, log);

  program
    .command('eval')
    .description(
      'bits per byte of a checkpoint on a data file: the run\'s held-out split of its own data, else the whole file (--split); last stdout line "bits_per_byte: <value>"',
    )
    .requiredOption('--checkpoint <dir>', HF_FOLDER_HELP, nonEmptyFlag('--checkpoint'))
    .requiredOption('--data <file>', 'text or FASTA file (optionally .gz) to score', nonEmptyFlag('--data'))
    .option(
      '--split <part>',
      `${EVAL_SPLITS.join(', ')}: the held-out end of the data, the part before it, or the whole file (default: val when --data is the run's own training file, else all; train and val split any file by the run's validation fraction, else 5%)`,
      choiceFlag('--split', EVAL_SPLITS),
    )
    .option(
      '--seq-len <n>',
      "window length (default: the model's training length); windows overlap by one token, every byte after the first is scored once",
      intFlag('--seq-len', 2),
    )
    .option(
      '--extend-positions <mode>',
      `${EXTEND_POSITIONS.join(', ')}: a --seq-len longer than the model's positions is refused, or scored with the axial position table repeated with the period of the training length (position t gets the embedding of t mod L; default no)`,
      choiceFlag('--extend-positions', EXTEND_POSITIONS),
    )
    .option('--batch <n>', 'windows per forward pass (default 1)', intFlag('--batch'))
    .addOption(numHashesOption())
    .addOption(fastaOptionsFlags("the run's, else keep")[0]!)
    .addOption(fastaOptionsFlags("the run's, else keep")[1]!)
    .option(
      '--mlm-probability <p>',
      `masked-LM checkpoints: share of the tokens masked and scored (default ${DEFAULT_MLM_PROBABILITY})`,
      numberFlag('--mlm-probability', 0, 1, { exclusiveMin: true }),
    )
    .option(
      '--max-answer-len <n>',
      `question-answering checkpoints: longest answer, tokens (default ${TASK_DEFAULTS.maxAnswerLen})`,
      intFlag('--max-answer-len'),
    )
    .addOption(threadsOption())
    .addOption(backendOption())
    .addHelpText(
      'after',
      '\nTask checkpoints (config.json architectures ReformerForSequenceClassification / ReformerForQuestionAnswering / ReformerForMaskedLM) ' +
        'report their metric instead: accuracy and macro_f1 (mse for regression) on JSON Lines {"text", "label"}; exact_match and f1 on ' +
        '{"context", "question", "answer_text", "answer_start"}; bits_per_byte on the masked positions of a text file.\n' +
        EXIT_HELP,
    )
    .action(async (flags: EvalFlags & TaskEvalFlags, _cmd: Command) => {
      checkCheckpointPath(flags.checkpoint, '--checkpoint'); // a file, a path through a file, no permission, not a checkpoint: one line naming the flag
      if (checkpointTask(flags.checkpoint) !== null) {
        setExit(await taskEvalCommand(flags, ctx));
        return;
      }
      for (const f of ['mlmProbability', 'maxAnswerLen'] as const) {
        if (flags[f] !== undefined)
          throw new UsageError(
            `--${f === 'mlmProbability' ? 'mlm-probability' : 'max-answer-len'}: ${flags.checkpoint} is a language model, not a task checkpoint`,
          );
      }
      setExit(await evalCommand(flags, ctx));
    });

  program
    .command('predict')
    .description(
      'one JSON line per input of a classification or question-answering checkpoint: {"line", "label", "probabilities"} or {"line", "answer", "start", "end", "score"}',
    )
    .requiredOption('--checkpoint <dir>', HF_FOLDER_HELP, nonEmptyFlag('--checkpoint'))
    .requiredOption(
      '--data <file>',
      'JSON Lines: {"text"} per input (classification), {"context", "question"} (question answering); other fields are ignored',
      nonEmptyFlag('--data'),
    )
    .option('--out <file>', 'write the JSON lines to this file (atomically) instead of stdout', nonEmptyFlag('--out'))
    .option('--batch <n>', `inputs per forward pass (default ${TASK_DEFAULTS.batch})`, intFlag('--batch'))
    .option(
      '--max-answer-len <n>',
      `question answering: longest answer, tokens (default ${TASK_DEFAULTS.maxAnswerLen})`,
      intFlag('--max-answer-len'),
    )
    .addOption(threadsOption())
    .addOption(backendOption())
    .addHelpText('after', `\nExample: reformer predict --checkpoint runs/clf --data texts.jsonl --out predictions.jsonl\n${EXIT_HELP}`)
    .action(async (flags: TaskEvalFlags) => {
      checkCheckpointPath(flags.checkpoint, '--checkpoint');
      setExit(await predictCommand(flags, ctx));
    });

  program
    .command('generate')
    .description('sample text from a checkpoint, streamed to stdout (the prompt is not echoed)')
    .requiredOption('--checkpoint <dir>', HF_FOLDER_HELP, nonEmptyFlag('--checkpoint'))
    .requiredOption('--prompt <text>', 'text to continue (at least one byte)', nonEmptyFlag('--prompt'))
    .option(
      '--max-new-tokens <n>',
      'tokens to generate (bytes for a byte-level model; each one is a cached step, or with --no-cache a forward over the last window: when all of them would take over 10 minutes, a note on stderr says so after the first)',
      intFlag('--max-new-tokens'),
      200,
    )
    .option('--temperature <t>', 'softmax temperature; 0 = greedy (argmax)', numberFlag('--temperature', 0, 100), 1)
    .option('--top-k <k>', 'sample among the k most likely bytes only; 0 = off', intFlag('--top-k', 0), 0)
    .option(
      '--top-p <p>',
      'nucleus sampling: the smallest set of bytes with probability ≥ p; 1 = off',
      numberFlag('--top-p', 0, 1, { exclusiveMin: true }),
      1,
    )
    .option('--seed <s>', 'sampling seed (same seed, same text)', intFlag('--seed', 0), 0)
    .addOption(numHashesOption())
    .option('--no-cache', 're-run the model on the last window for every token instead of the cached incremental decoding')
    .addOption(threadsOption())
    .addOption(backendOption())
    .addHelpText(
      'after',
      `\nThe prompt fills the model's cache once and each new token is one cached step (HF past_buckets_states);\n` +
        `--no-cache (or --num-hashes, which the cache does not take) re-runs the model on the last window of context for every token.\n` +
        `The last stderr line gives tokens/s.\n${EXIT_HELP}`,
    )
    .action(async (flags: GenerateFlags, _cmd: Command) => {
      checkCheckpointPath(flags.checkpoint, '--checkpoint');
      setExit(await generateCommand(flags, ctx));
    });

  addCheckpointCommand(program, ctx, setExit, EXIT_HELP);

  program
    .command('verify')
    .description('LSH vs exact attention per number of hash rounds on real text: output error and attention-mass recall of every LSH layer')
    .option('--checkpoint <dir>', 'checkpoint, run directory or HuggingFace folder whose LSH layers to check', nonEmptyFlag('--checkpoint'))
    .option(
      '--preset <name>',
      `fresh, untrained model of a preset instead: ${engine.presets.join(', ')} (default ${engine.defaultPreset})`,
      choiceFlag('--preset', engine.presets),
    )
    .option(
      '--data <file>',
      'text or FASTA file to take the window from (default: the embedded Crime and Punishment)',
      nonEmptyFlag('--data'),
    )
    .option(
      '--seq-len <n>',
      `window length, a multiple of the chunk lengths (default ${VERIFY_DEFAULTS.seqLen}, at most the model's length; the exact oracle is O(n²))`,
      intFlag('--seq-len', 2),
    )
    .option('--offset <n>', 'first token of the window (default: start of the held-out last 5% of the data)', intFlag('--offset', 0))
    .option(
      '--num-hashes <list>',
      `hash rounds to compare, comma-separated (default: ${VERIFY_DEFAULTS.numHashes.join(',')})`,
      intListFlag('--num-hashes'),
    )
    .option(
      '--seed <s>',
      `seed of the LSH rotations (and of a preset's initialisation) (default ${VERIFY_DEFAULTS.seed})`,
      intFlag('--seed', 0),
    )
    .option('--json', 'print the report as JSON instead of a table')
    .addOption(threadsOption())
    .addOption(backendOption())
    .addHelpText('after', `\nExample: reformer verify --checkpoint runs/default --num-hashes 1,2,4,8\n${EXIT_HELP}`)
    .action(async (flags: VerifyFlags) => {
      if (flags.checkpoint !== undefined && flags.preset === undefined) checkCheckpointPath(flags.checkpoint, '--checkpoint'); // both: verify says which to drop
      setExit(await verifyCommand(flags, ctx));
    });

  program
    .command('convert')
    .description(
      'write a HuggingFace folder with PyTorch weights (pytorch_model.bin, zip or legacy format, or sharded) as model.safetensors + config.json (+ spiece.model)',
    )
    .argument('<hf-folder>', 'folder with config.json and pytorch_model.bin (or any weights a --checkpoint takes)')
    .argument('<out>', 'new folder to write (model.safetensors, config.json, spiece.model if any, manifest.json)')
    .addHelpText('after', `\nThe pickle is read by a restricted unpickler: nothing in it is executed.\n${EXIT_HELP}`)
    .action((source: string, out: string) => {
      checkCheckpointPath(source, '<hf-folder>');
      setExit(convertCommand(source, out, ctx));
    });

  program
    .command('conformance')
    .description('run a folder of HF fixture cases (<case>.json + <case>.safetensors) and report per tensor')
    .argument('<dir>', 'fixture folder, e.g. test/fixtures/hf-reformer')
    .option(
      '--dtype <dtype>',
      'f32 (compare with HF fp32 outputs) or f64 (with HF float64 references)',
      choiceFlag('--dtype', ['f32', 'f64'] as const),
      'f32',
    )
    .option('--filter <text>', 'only cases whose name or component contains text', nonEmptyFlag('--filter'))
    .addOption(
      new Option(
        '--threads <n>',
        'accepted for uniformity: conformance runs on the reference backend (plain TypeScript, one thread)',
      ).argParser(intFlag('--threads', 1, 256)),
    )
    .addHelpText('after', `\nExit code 0 when no case fails, 1 otherwise.\n${EXIT_HELP}`)
    .action((dir: string, flags) => {
      setExit(conformanceCommand(dir, flags, ctx));
    });

  const bench = program
    .command('bench')
    .description(`benchmarks: ${BENCH_TARGETS.join(', ')} (tables on stdout; --json adds one JSON object as the last line)`)
    .argument('<what>', BENCH_TARGETS.join(' | '), choiceFlag('<what>', BENCH_TARGETS))
    .option('--json [file]', 'print one JSON object with the results as the last stdout line; with a file, also write it there')
    .addOption(
      new Option(
        '--threads <n>',
        'compute threads of the WASM backend, this one included (default: all cores); vs-pytorch: a comma-separated list, both sides (default 1 and all cores)',
      ).argParser(intListFlag('--threads', 256)),
    );
  for (const o of benchOptions()) bench.addOption(o);
  bench
    .addHelpText(
      'after',
      '\nExamples:\n  reformer bench kernels --json\n  reformer bench attention --seq-lens 1024,4096,16384,65536,262144,1048576\n' +
        '  reformer bench vs-pytorch --seq-lens 4096 --threads 1,2 --json vs.json   (HF PyTorch side by side; skipped without torch)\n' +
        '  reformer bench generate --contexts 1024,4096,16384 --new-tokens 256 --json   (cached vs uncached generation)\n' +
        EXIT_HELP,
    )
    .action(async (what: BenchTarget, flags: BenchFlags, cmd: Command) => {
      setExit(await benchCommand(what, flags, explicitOptions(cmd), ctx));
    });

  program
    .command('demo')
    .description(
      'the main job (npm start): train the default Reformer on the embedded book for a bounded time, report validation bits per byte before/after, save the checkpoint, print a sample',
    )
    .option(
      '--minutes <m>',
      'training budget in minutes (the whole command takes about 20 s more)',
      numberFlag('--minutes', 0, 1e6, { exclusiveMin: true, what: 'a number of minutes' }),
      DEMO_DEFAULTS.minutes,
    )
    .option(
      '--out <dir>',
      'run directory: checkpoint/, metrics.jsonl, training.svg (an existing run there is continued)',
      nonEmptyFlag('--out'),
      DEMO_DEFAULTS.out,
    )
    .option('--prompt <text>', 'prompt of the sample', nonEmptyFlag('--prompt'), DEMO_DEFAULTS.prompt)
    .option('--max-new-tokens <n>', 'bytes to sample', intFlag('--max-new-tokens'), DEMO_DEFAULTS.maxNewTokens)
    .option(
      '--preset <name>',
      `model of a new run: ${engine.presets.join(', ')} (default ${engine.defaultPreset})`,
      choiceFlag('--preset', engine.presets),
    )
    .option('--data <file>', 'training text of a new run (default: the embedded Crime and Punishment)', nonEmptyFlag('--data'))
    .option('--steps <n>', 'at most this many training steps (default: as many as fit in --minutes, measured)', intFlag('--steps'))
    .option(
      '--lr <x>',
      "peak learning rate (default: the planned shape's measured best, 0.003; cosine decay to lr/10)",
      numberFlag('--lr', 0, 10, { exclusiveMin: true }),
    )
    .option('--seed <s>', `initialisation and sampler seed of a new run (default ${DEMO_DEFAULTS.seed})`, intFlag('--seed', 0))
    .addOption(threadsOption())
    .addOption(backendOption())
    .addHelpText(
      'after',
      `\nOutputs: <out>/checkpoint (HF config.json + model.safetensors), <out>/metrics.jsonl, <out>/training.svg.\n${EXIT_HELP}`,
    )
    .action(async (flags: DemoFlags) => {
      setExit(await demoCommand(flags, ctx, log));
    });

  addTaskCommand(program, ctx, setExit, log, { threads: threadsOption(), backend: backendOption(), exitHelp: EXIT_HELP });

  return program;
}

function readVersion(ctx: CliContext): string {
  try {
    return (JSON.parse(readFileSync(join(ctx.packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Exit code of an error (see EXIT). */
export function exitCodeOf(e: unknown): number {
  if (e instanceof NotAvailableError) return EXIT.unavailable;
  if (e instanceof UsageError || e instanceof ConfigError || e instanceof FormatError || e instanceof ShapeError) return EXIT.usage;
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  return EXIT.failure;
}

/** One line for an error: the message with its kind, newlines flattened. */
export function errorLine(e: unknown): string {
  let text: string;
  if (e instanceof CommanderError) text = e.message.replace(/^error: /, '');
  else if (e instanceof UsageError || e instanceof NotAvailableError) text = e.message;
  else if (e instanceof ReformerError) text = `${e.name}: ${e.message}`;
  else if (e instanceof Error) text = `${e.name}: ${e.message}`;
  else text = String(e);
  return `reformer: ${text.replace(/\s*\n\s*/g, ' ')}`;
}

/**
 * Runs the CLI on `argv` (without `node` and the script) and returns the exit code; never calls
 * process.exit. `overrides` replace parts of the default context (tests).
 */
export async function runCli(argv: readonly string[], overrides: Partial<CliContext> = {}): Promise<number> {
  const ctx: CliContext = { ...defaultContext(), ...overrides };
  const verbose = argv.includes('--verbose');
  let code: number = EXIT.ok;
  const program = buildProgram(ctx, (c) => {
    code = c;
  });
  try {
    if (argv.length === 0) {
      ctx.stderr.write(program.helpInformation());
      return EXIT.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError && (e.code === 'commander.helpDisplayed' || e.code === 'commander.version')) return EXIT.ok;
    if (e instanceof CommanderError && e.code === 'commander.help') return EXIT.usage;
    ctx.stderr.write(`${errorLine(e)}\n`);
    if (verbose && e instanceof Error && e.stack) ctx.stderr.write(`${e.stack}\n`);
    return exitCodeOf(e);
  }
}

/** Entry point of bin/reformer.js. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  // `reformer generate ... | head`: a closed pipe ends the command quietly
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(EXIT.ok);
      throw e;
    });
  }
  return runCli(argv);
}
