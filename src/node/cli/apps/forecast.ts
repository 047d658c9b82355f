/**
 * `reformer task forecast`: long daily series as Chronos-style tokens (apps/forecast.ts) and a causal
 * Reformer LM over them (apps/forecast-model.ts). For each `--series` (default both: co2, wti) it reads
 * the CSV, holds out the last `--horizon` steps, trains a fresh model with the `Trainer` on mean-scaled
 * windows of the rest, samples `--samples` forecast paths of the held-out steps, and scores the
 * per-step quantiles (MASE of the median, WQL over 0.1…0.9) beside the naive and seasonal-naive
 * forecasts. Progress on stderr; `<out>/results.json` rewritten (atomically) after each series,
 * `<out>/<series>.svg` (history tail, truth, median, 10–90% fan, baselines), `<out>/<series>/` the
 * checkpoint; the table on stdout at the end.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import {
  naiveForecast,
  parseSeriesCsv,
  pathQuantiles,
  pointQuantiles,
  scoreForecast,
  SERIES_GAPS,
  seasonalNaiveForecast,
  maseScale,
  WQL_LEVELS,
  type SeriesGaps,
} from '../../../apps/forecast.js';
import { type ForecastModelSpec, forecastConfig, sampleForecastPaths, ScaledWindowBatches } from '../../../apps/forecast-model.js';
import { ReformerConfig } from '../../../config/reformer-config.js';
import { UsageError } from '../../../errors.js';
import { lmCheckpointToBytes } from '../../../model/checkpoint.js';
import { ReformerModelWithLMHead } from '../../../model/lm-model.js';
import { writeFileAtomic } from '../../atomic.js';
import { forecastPlotSvg } from '../../forecast-plot.js';
import { displayPath, errnoCode } from '../../paths.js';
import { fmtDuration, TaskProgress } from '../../progress.js';
import type { BackendKind, CliContext } from '../context.js';
import { attnLayersFlag, choiceFlag, choiceListFlag, intFlag, nonEmptyFlag, numberFlag } from '../parse.js';
import { lrOption, warmupOption } from '../tasks/task-flags.js';
import { checkTaskOut, round, writeResultsJson } from '../tasks/task-results.js';
import { lmTrainer, trainAndSave, warmupSteps } from '../tasks/task-training.js';
import { forecastTable, SERIES_DEFAULTS, SERIES_NAMES, type SeriesName, type SeriesRecord } from './forecast-series.js';

export interface ForecastFlags {
  series: SeriesName[];
  data?: string;
  gaps?: SeriesGaps;
  season?: number;
  maseSeason?: number;
  bins?: number;
  low?: number;
  high?: number;
  horizon: number;
  window: number;
  context: number;
  hidden: number;
  heads: number;
  ff: number;
  layers: ('local' | 'lsh')[];
  chunk: number;
  hashes: number;
  steps: number;
  batch: number;
  lr: number;
  warmup?: number;
  samples: number;
  temperature: number;
  plotTail: number;
  seed: number;
  out: string;
  threads?: number;
  backend?: BackendKind;
}

export const FORECAST_DEFAULTS = {
  series: [...SERIES_NAMES],
  horizon: 365,
  window: 1024,
  context: 512,
  hidden: 64,
  heads: 2,
  ff: 128,
  layers: ['local', 'lsh'] as ('local' | 'lsh')[],
  chunk: 64,
  hashes: 1,
  steps: 500,
  batch: 8,
  lr: 3e-3,
  samples: 100,
  temperature: 1,
  plotTail: 730,
  seed: 1,
  out: 'runs/forecast',
} as const;

const rounded = (a: ArrayLike<number>, d = 4): number[] => Array.from(a, (x) => round(x, d));

/** Runs the experiment; returns the exit code. @throws UsageError / ConfigError for bad flags or data (exit 2). */
export async function taskForecastCommand(flags: ForecastFlags, ctx: CliContext, log: (line: string) => void): Promise<number> {
  checkTaskOut(flags.out);
  if (flags.series.length > 1) {
    for (const f of ['data', 'gaps', 'season', 'maseSeason', 'bins', 'low', 'high'] as const) {
      if (flags[f] !== undefined)
        throw new UsageError(
          `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} sets one series' data: pass it with a single --series`,
        );
    }
  }
  if (flags.context + flags.horizon > flags.window) {
    throw new UsageError(
      `--context ${flags.context} + --horizon ${flags.horizon} exceeds --window ${flags.window}: the forecast would run past the trained positions; raise --window or lower the others`,
    );
  }
  const note = (line: string): void => void ctx.stderr.write(`${line}\n`);
  const { backend, note: backendNote } = await ctx.createBackend(flags.backend ?? 'auto', flags.threads);
  if (backendNote) note(`note: ${backendNote}`);
  const resultsPath = join(flags.out, 'results.json');
  const records: SeriesRecord[] = [];
  for (const name of flags.series) {
    const d = SERIES_DEFAULTS[name];
    const dataPath = flags.data ?? d.data;
    const gaps = flags.gaps ?? d.gaps;
    let text: string;
    try {
      text = readFileSync(dataPath, 'utf8');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') throw new UsageError(`--data ${dataPath}: no such file; pass the series' CSV (date,value)`);
      throw e;
    }
    const series = parseSeriesCsv(text, gaps);
    const H = flags.horizon;
    const n = series.values.length;
    if (n - H < flags.window + 1) {
      throw new UsageError(
        `--horizon ${H}: leaves ${n - H} of ${n} values to train on, fewer than one window (${flags.window}) + 1; lower --horizon or --window`,
      );
    }
    const train = series.values.slice(0, n - H);
    const truth = series.values.slice(n - H);
    const observedTest = series.observed.subarray(n - H);
    const spec: ForecastModelSpec = {
      window: flags.window,
      context: flags.context,
      quantizer: { bins: flags.bins ?? d.bins, low: flags.low ?? d.low, high: flags.high ?? d.high },
      hidden: flags.hidden,
      heads: flags.heads,
      feedForward: flags.ff,
      layers: flags.layers,
      chunk: flags.chunk,
      hashes: flags.hashes,
    };
    const config = forecastConfig(spec);
    const season = flags.season ?? d.season;
    const maseSeason = flags.maseSeason ?? d.maseSeason;
    const scale = maseScale(train, maseSeason);
    note(
      `forecast ${name}: ${n.toLocaleString('en-US')} values (${gaps}), train ${series.dates[0]} … ${series.dates[n - H - 1]}, ` +
        `forecast ${H} steps ${series.dates[n - H]} … ${series.dates[n - 1]}; ${spec.quantizer.bins} bins on [${spec.quantizer.low}, ${spec.quantizer.high}]`,
    );
    const lm = new ReformerModelWithLMHead(backend, new ReformerConfig(config), { seed: flags.seed });
    const trainer = lmTrainer(
      lm,
      {
        batch: flags.batch,
        seqLen: flags.window,
        steps: flags.steps,
        lr: flags.lr,
        warmupSteps: warmupSteps(flags.steps, flags.warmup),
        seed: flags.seed,
      },
      new ScaledWindowBatches(train, spec, { batch: flags.batch, seed: flags.seed }),
    );
    const model = trainer.model;
    note(
      `train ${name}: ${lm.params.length.toLocaleString('en-US')} parameters, ${flags.steps} steps × ${flags.batch} windows of ${flags.window}`,
    );
    const dir = join(flags.out, name);
    const { run, seconds: trainSeconds } = await trainAndSave(trainer, {
      stream: ctx.stderr,
      totalSteps: flags.steps,
      logEvery: 25,
      bitsPerByte: false,
      checkpoint: { dir, files: () => lmCheckpointToBytes(lm) },
    });
    const bar = new TaskProgress({ stream: ctx.stderr, label: `sample ${name}`, unit: 'paths', total: flags.samples });
    const s0 = performance.now();
    let sampled: ReturnType<typeof sampleForecastPaths>;
    try {
      sampled = sampleForecastPaths(model, train, spec, {
        horizon: H,
        samples: flags.samples,
        seed: flags.seed,
        temperature: flags.temperature,
        onPath: (k) => bar.update(k),
      });
    } finally {
      bar.stop();
    }
    const sampleSeconds = (performance.now() - s0) / 1000;
    const qs = pathQuantiles(sampled.paths, WQL_LEVELS);
    const naive = naiveForecast(train, H);
    const snaive = seasonalNaiveForecast(train, H, season);
    const at = (a: number): Float64Array => qs[WQL_LEVELS.indexOf(a)]!;
    const plotPath = join(flags.out, `${name}.svg`);
    const tail = Math.min(flags.plotTail, train.length);
    writeFileAtomic(
      plotPath,
      await forecastPlotSvg({
        title: `${d.title} (${flags.samples} sampled paths)`,
        unit: d.unit,
        historyDates: series.dates.slice(n - H - tail, n - H),
        history: train.subarray(train.length - tail),
        forecastDates: series.dates.slice(n - H),
        truth,
        median: at(0.5),
        q10: at(0.1),
        q90: at(0.9),
        baselines: { naive, [`seasonal naive (m=${season})`]: snaive },
      }),
    );
    const record: SeriesRecord = {
      series: name,
      data: displayPath(dataPath),
      gaps,
      values: n,
      observed: series.observed.reduce((a, b) => a + b, 0),
      train: { first: series.dates[0]!, last: series.dates[n - H - 1]!, length: n - H },
      test: { first: series.dates[n - H]!, last: series.dates[n - 1]!, length: H, observed: observedTest.reduce((a, b) => a + b, 0) },
      quantizer: spec.quantizer,
      season,
      mase_season: maseSeason,
      mase_scale: round(scale, 6),
      training: {
        steps: run.step,
        stopped_by: run.stoppedBy,
        seconds: round(trainSeconds, 1),
        final_loss: run.lastStep ? round(run.lastStep.loss, 4) : null,
        parameters: lm.params.length,
      },
      sampling: {
        samples: flags.samples,
        seconds: round(sampleSeconds, 1),
        context_scale: round(sampled.scale, 6),
        temperature: flags.temperature,
      },
      scores: {
        ours: scoreForecast(truth, qs, scale, observedTest),
        naive: scoreForecast(truth, pointQuantiles(naive), scale, observedTest),
        seasonal_naive: scoreForecast(truth, pointQuantiles(snaive), scale, observedTest),
      },
      forecast: {
        dates: series.dates.slice(n - H),
        truth: rounded(truth),
        median: rounded(at(0.5)),
        q10: rounded(at(0.1)),
        q90: rounded(at(0.9)),
      },
      plot: displayPath(plotPath),
      checkpoint: displayPath(dir),
    };
    records.push(record);
    writeResultsJson(resultsPath, resultsJson(flags, backend.constructor.name, records), 1);
    note(
      `${name}: trained ${run.step} steps in ${fmtDuration(trainSeconds)}, sampled ${flags.samples} paths in ${fmtDuration(sampleSeconds)}; plot ${displayPath(plotPath)}`,
    );
  }
  for (const line of forecastTable(records)) log(line);
  log(`results: ${displayPath(resultsPath)}`);
  return 0;
}

function resultsJson(flags: ForecastFlags, backend: string, records: SeriesRecord[]): Record<string, unknown> {
  return {
    format: 'reformer-ts.forecast-results',
    version: 1,
    scheme: {
      scaling: 'mean |x| over the first `context` values of each window / of the forecast context (Chronos)',
      quantization: 'uniform bin centres low + j(high-low)/(bins-1), nearest centre, clipped; dequantized to the centre',
      quantile_levels: WQL_LEVELS,
      metrics: 'MASE of the median (scale: in-sample seasonal-naive MAE with mase_season), WQL (Chronos), on observed test steps',
    },
    model: {
      window: flags.window,
      context: flags.context,
      hidden_size: flags.hidden,
      num_attention_heads: flags.heads,
      feed_forward_size: flags.ff,
      attn_layers: flags.layers,
      chunk_length: flags.chunk,
      num_hashes: flags.hashes,
    },
    training: { steps: flags.steps, batch: flags.batch, lr: flags.lr, seed: flags.seed },
    horizon: flags.horizon,
    backend,
    results: records,
  };
}

/** Registers `reformer task forecast` under `task`. */
export function registerForecastTask(
  task: Command,
  ctx: CliContext,
  setExit: (code: number) => void,
  log: (line: string) => void,
  shared: { threads: Option; backend: Option; exitHelp: string },
): void {
  const d = FORECAST_DEFAULTS;
  task
    .command('forecast')
    .description(
      'long daily series (Mauna Loa CO2, WTI oil) as Chronos-style tokens: train a Reformer LM on the history, sample the held-out last 365 steps; MASE and WQL vs naive and seasonal naive, an SVG fan chart',
    )
    .option('--series <list>', `comma-separated from ${SERIES_NAMES.join(', ')} (default both)`, choiceListFlag('--series', SERIES_NAMES), [
      ...d.series,
    ])
    .option(
      '--data <csv>',
      "the series' CSV, date,value with a header (default: the shared data set of the series)",
      nonEmptyFlag('--data'),
    )
    .option('--gaps <rule>', `missing days: ${SERIES_GAPS.join(', ')} (default co2 ffill, wti none)`, choiceFlag('--gaps', SERIES_GAPS))
    .option('--season <m>', 'season of the seasonal-naive forecast (default co2 365, wti 252)', intFlag('--season'))
    .option('--mase-season <m>', 'season of the MASE scale (default co2 365, wti 1)', intFlag('--mase-season'))
    .option('--bins <n>', 'value tokens (default co2 512, wti 1024)', intFlag('--bins', 2, 65536))
    .option('--low <x>', 'centre of the lowest bin, in units of the mean scale (default co2 0.96, wti -1)', numberFlag('--low', -1e6, 1e6))
    .option('--high <x>', 'centre of the highest bin (default co2 1.06, wti 3)', numberFlag('--high', -1e6, 1e6))
    .option('--horizon <n>', `held-out steps to forecast (default ${d.horizon})`, intFlag('--horizon'), d.horizon)
    .option('--window <n>', `training window T = Π axial_pos_shape (default ${d.window})`, intFlag('--window', 2), d.window)
    .option(
      '--context <n>',
      `values the scale and the forecast prompt cover; context + horizon ≤ window (default ${d.context})`,
      intFlag('--context'),
      d.context,
    )
    .option('--hidden <n>', `d_model (default ${d.hidden})`, intFlag('--hidden', 2), d.hidden)
    .option('--heads <n>', `attention heads (default ${d.heads})`, intFlag('--heads'), d.heads)
    .option('--ff <n>', `feed_forward_size (default ${d.ff})`, intFlag('--ff'), d.ff)
    .option('--layers <list>', `attn_layers, comma-separated local/lsh (default ${d.layers.join(',')})`, attnLayersFlag('--layers'), [
      ...d.layers,
    ])
    .option('--chunk <n>', `local and LSH chunk length, a divisor of the window (default ${d.chunk})`, intFlag('--chunk'), d.chunk)
    .option('--hashes <n>', `num_hashes of the LSH layers (default ${d.hashes})`, intFlag('--hashes'), d.hashes)
    .option('--steps <n>', `training steps per series (default ${d.steps})`, intFlag('--steps'), d.steps)
    .option('--batch <n>', `windows per step (default ${d.batch})`, intFlag('--batch'), d.batch)
    .option(...lrOption(d.lr))
    .option(...warmupOption())
    .option('--samples <n>', `sampled forecast paths (default ${d.samples})`, intFlag('--samples'), d.samples)
    .option(
      '--temperature <t>',
      `sampling temperature (default ${d.temperature})`,
      numberFlag('--temperature', 0, 10, { exclusiveMin: true }),
      d.temperature,
    )
    .option('--plot-tail <n>', `history steps shown before the forecast (default ${d.plotTail})`, intFlag('--plot-tail'), d.plotTail)
    .option('--seed <s>', `initialisation, windows and sampling seed (default ${d.seed})`, intFlag('--seed', 0), d.seed)
    .option('--out <dir>', `results.json, <series>.svg and a checkpoint per series (default ${d.out})`, nonEmptyFlag('--out'), d.out)
    .addOption(shared.threads)
    .addOption(shared.backend)
    .addHelpText('after', `\nExample: reformer task forecast --series co2 --steps 300 --out runs/co2\n${shared.exitHelp}`)
    .action(async (flags: ForecastFlags) => {
      setExit(await taskForecastCommand(flags, ctx, log));
    });
}
