#!/usr/bin/env node
/**
 * Stress runs of the property specs: the same spec files under many random fast-check seeds, and/or
 * with many more cases per property. Not part of `npm test` (CI keeps one random seed per run).
 *
 *   npm run spec:seeds -- --seeds 30                              the whole spec/ folder, 30 seeds
 *   npm run spec:seeds -- --runs 1000 --filter spec/model/reversible   1,000 cases per property, 1 seed
 *   npm run spec:seeds -- --seeds 3 --runs 200 spec/kernels -t gemm     3 seeds × 200 cases, tests named *gemm*
 *   npm run spec:seeds -- --seed 931886938 --filter reversible      replay given seed(s) (repeatable)
 *
 * Options
 *   --seeds <n>      number of random seeds (default 1 with --runs or --seed, else 30)
 *   --seed <s>       a fixed seed (repeatable; adds to the random ones only when --seeds is also given)
 *   --runs <n>       cases per property (FC_NUM_RUNS; spec/helpers/runs.ts); default: each property's own count
 *   --filter <f>     a vitest file filter (repeatable; positional arguments are filters too); default spec/
 *   -t <pattern>     vitest test-name pattern
 *   --workers <n>    vitest --maxWorkers (default: vitest's)
 *   --log <file>     also append everything (the vitest output included) to this file
 *   --ratios <file>  record every measured-bound law's ratio err / (ref + u·scale) (SPEC_RATIOS_OUT, see
 *                    spec/helpers/error-bounds.ts) into this JSON-lines file and print, per law, n, p50,
 *                    p99, max and k at the end
 *   --bail           stop at the first failing seed
 *
 * For each seed it prints one line, `seed <s>  PASS|FAIL  <tests> tests  <seconds>s`, and for a failure
 * the failing tests and the command that replays it. Exit status 1 if any seed failed.
 * vitest's per-test timeout is lifted (1,000 cases of a gradient check take minutes).
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const USAGE =
  'usage: spec-seeds.mjs [--seeds n] [--seed s]... [--runs n] [--filter f]... [-t pattern] [--workers n] [--log file] [--bail] [filter...]';

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string', multiple: true },
      runs: { type: 'string' },
      filter: { type: 'string', multiple: true },
      t: { type: 'string', short: 't' },
      workers: { type: 'string' },
      log: { type: 'string' },
      ratios: { type: 'string' },
      bail: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
} catch (e) {
  console.error(`spec-seeds: ${e.message}\n${USAGE}`);
  process.exit(2);
}
const o = args.values;
if (o.help) {
  console.log(USAGE);
  process.exit(0);
}

function positiveInt(name, v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`spec-seeds: --${name} must be a positive integer, got "${v}"`);
    process.exit(2);
  }
  return n;
}
function seedInt(v) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 31) {
    console.error(`spec-seeds: --seed must be an integer in [0, 2^31), got "${v}"`);
    process.exit(2);
  }
  return n;
}

const fixed = (o.seed ?? []).map(seedInt);
const runs = o.runs !== undefined ? positiveInt('runs', o.runs) : null;
/** random seeds: --seeds n; none when only fixed ones are given; 1 for a --runs stress run; else 30 */
function randomCount() {
  if (o.seeds !== undefined) return positiveInt('seeds', o.seeds);
  if (fixed.length > 0) return 0;
  return runs !== null ? 1 : 30;
}
const count = randomCount();
const seeds = [...fixed, ...Array.from({ length: count }, () => randomInt(2 ** 31))];
const filters = [...(o.filter ?? []), ...args.positionals];
if (filters.length === 0) filters.push('spec/');
const workers = o.workers !== undefined ? positiveInt('workers', o.workers) : null;

/** Per law: the distribution of the recorded ratios (the file may hold several runs). */
function printRatios(file) {
  let lines = [];
  try {
    lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  } catch {
    log(`spec-seeds: no ratios recorded in ${file}`);
    return;
  }
  const laws = new Map();
  for (const l of lines) {
    const r = JSON.parse(l);
    const t = laws.get(r.law) ?? { k: r.k, sample: [], worst: null };
    const ratio = Number(r.ratio);
    t.sample.push(ratio);
    if (t.worst === null || ratio > t.worst.ratio) t.worst = { ratio, what: r.what };
    laws.set(r.law, t);
  }
  log(`ratios err / (ref + u·scale) recorded in ${file} (one per law check):`);
  for (const [law, t] of [...laws].sort(([a], [b]) => a.localeCompare(b))) {
    const s = t.sample.sort((a, b) => a - b);
    const at = (f) => s[Math.min(s.length - 1, Math.floor(f * s.length))].toPrecision(3);
    log(
      `  ${law}: n ${s.length}  p50 ${at(0.5)}  p99 ${at(0.99)}  max ${s.at(-1).toPrecision(3)}  k ${t.k}  (worst: ${t.worst.what.slice(0, 160)})`,
    );
  }
}

function log(line) {
  console.log(line);
  if (o.log) appendFileSync(o.log, `${line}\n`);
}

const vitestArgs = ['vitest', 'run', ...filters, '--testTimeout=0', '--hookTimeout=0'];
if (o.t) vitestArgs.push('-t', o.t);
if (workers) vitestArgs.push(`--maxWorkers=${workers}`);
const scratch = mkdtempSync(join(tmpdir(), 'spec-seeds-'));

/** Runs vitest once with FC_SEED=seed; resolves with its JSON report (null if none was written). */
function runOnce(seed, index) {
  const report = join(scratch, `report-${index}.json`);
  const env = { ...process.env, FC_SEED: String(seed) };
  if (runs !== null) env.FC_NUM_RUNS = String(runs);
  else delete env.FC_NUM_RUNS;
  if (o.ratios) env.SPEC_RATIOS_OUT = resolve(o.ratios);
  const cmd = [...vitestArgs, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`];
  return new Promise((resolve) => {
    const child = spawn('npx', cmd, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const sink = (chunk) => {
      if (o.log) appendFileSync(o.log, chunk);
    };
    child.stdout.on('data', sink);
    child.stderr.on('data', sink);
    child.on('close', (code) => {
      let json = null;
      try {
        json = JSON.parse(readFileSync(report, 'utf8'));
      } catch {
        json = null;
      }
      resolve({ code, json });
    });
  });
}

const replayBase = (seed, file) =>
  `FC_SEED=${seed}${runs !== null ? ` FC_NUM_RUNS=${runs}` : ''} npx vitest run ${file}${o.t ? ` -t '${o.t}'` : ''}`;

log(
  `spec-seeds: ${seeds.length} seed(s), ${runs !== null ? `${runs} cases per property` : "each property's own case count"}, ` +
    `files: ${filters.join(' ')}${o.t ? `, tests: ${o.t}` : ''}`,
);
const started = Date.now();
let failedSeeds = 0;
let passedSeeds = 0;
for (const [i, seed] of seeds.entries()) {
  const t0 = Date.now();
  const { code, json } = await runOnce(seed, i);
  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  const total = json?.numTotalTests ?? '?';
  const ok = code === 0 && json !== null && json.numFailedTests === 0 && json.numFailedTestSuites === 0;
  log(`seed ${String(seed).padStart(10)}  ${ok ? 'PASS' : 'FAIL'}  ${total} tests  ${secs}s`);
  if (ok) {
    passedSeeds++;
    continue;
  }
  failedSeeds++;
  if (json === null) log(`  vitest exited with ${code} and wrote no report${o.log ? ` (see ${o.log})` : ''}`);
  for (const file of json?.testResults ?? []) {
    const rel = file.name.startsWith(process.cwd()) ? file.name.slice(process.cwd().length + 1) : file.name;
    const failed = file.assertionResults.filter((a) => a.status === 'failed');
    if (failed.length === 0 && file.status === 'failed') log(`  ${rel}: ${(file.message ?? 'suite failed').split('\n')[0]}`);
    for (const a of failed) {
      const msg = (a.failureMessages?.[0] ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
      log(`  ✗ ${rel} > ${a.fullName}`);
      if (msg) log(`      ${msg.trim().slice(0, 300)}`);
    }
    if (failed.length > 0 || file.status === 'failed') log(`    replay: ${replayBase(seed, rel)}`);
  }
  if (o.bail) break;
}
rmSync(scratch, { recursive: true, force: true });
if (o.ratios) printRatios(o.ratios);
const wall = (Date.now() - started) / 1000;
log(
  `spec-seeds: ${passedSeeds} passed, ${failedSeeds} failed of ${passedSeeds + failedSeeds} seed(s) in ${(wall / 60).toFixed(1)} min` +
    ` (${new Date().toISOString()})`,
);
process.exit(failedSeeds > 0 ? 1 : 0);
