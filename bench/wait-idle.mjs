#!/usr/bin/env node
// Waits until the machine has been quiet (all CPUs together at least --idle of the time, default 0.9)
// for --seconds consecutive seconds (default 5), then exits 0; exits 1 after --timeout minutes
// (default 60). Linux only (/proc/stat). Benchmarks on a shared VM are meaningless while other jobs
// run, so the measurements in docs/benchmarks.md were started like this:
//
//   node bench/wait-idle.mjs && node bin/reformer.js bench kernels --json
//
// It cannot stop a job from starting during the measurement: repeat runs and compare.
import { readFileSync } from 'node:fs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const minIdle = arg('--idle', 0.9);
const seconds = arg('--seconds', 5);
const timeoutMin = arg('--timeout', 60);

function sample() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + (cpu[4] ?? 0); // idle + iowait
  return { idle, total: cpu.reduce((a, b) => a + b, 0) };
}

const deadline = Date.now() + timeoutMin * 60_000;
let quiet = 0;
let prev = sample();
while (Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 1000));
  const cur = sample();
  const frac = (cur.idle - prev.idle) / Math.max(1, cur.total - prev.total);
  prev = cur;
  quiet = frac >= minIdle ? quiet + 1 : 0;
  if (quiet >= seconds) {
    process.stderr.write(`wait-idle: ${seconds} s at ≥ ${minIdle * 100}% idle\n`);
    process.exit(0);
  }
}
process.stderr.write(`wait-idle: the machine was not quiet for ${seconds} s within ${timeoutMin} min\n`);
process.exit(1);
