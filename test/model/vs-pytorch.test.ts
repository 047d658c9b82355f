/**
 * `reformer bench vs-pytorch` (src/node/bench/vs-pytorch.ts, peer.ts, machine.ts) without torch:
 * - with an interpreter that does not exist it prints the skip reason, marks every row skipped and exits 0;
 * - against a stub peer (a script in the place of python that answers the torch check and writes
 *   bench_hf.py's JSON format with known timings) our side runs for real, the two sides interleave in
 *   child processes, and the table, ratios and JSON follow from the stub's numbers;
 * - the formatting, the peer-JSON parser and the /proc/cpuinfo parser on fixed inputs.
 * Nothing here asserts on our timings.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { parseCpuInfo, simdFlags, simdLevel } from '../../src/node/bench/machine.js';
import { median } from '../../src/node/bench/measure.js';
import { REFERENCE_CONFIG } from '../../src/node/bench/model.js';
import { parsePeerDocument } from '../../src/node/bench/peer.js';
import { formatVsPytorch, ratioText, type VsReport, type VsRow, vsPytorchJson } from '../../src/node/bench/vs-pytorch.js';
import { cli, lastJson, requireDist } from '../cli/helpers.js';

/** A peer folder as the command expects it (bench_hf.py is never run: the stub interpreter answers instead). */
function fakePeerDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vs-pytorch-peer-'));
  writeFileSync(join(dir, 'bench_hf.py'), '# replaced by the stub interpreter in these tests\n');
  writeFileSync(join(dir, 'bench-config-4096.json'), JSON.stringify(REFERENCE_CONFIG));
  return dir;
}

/** Median seconds the stub reports for a mode: its timed calls are [s, 1.5 s, 0.8 s][:repeats]. */
const STUB_SECONDS = { forward: 0.25, train: 0.8 } as const;

/**
 * An executable standing in for python: `-c CODE PKG` answers the torch check; otherwise it reads
 * bench_hf.py's flags, logs the call, and writes bench_hf.py's JSON (train fails at `failLen`).
 */
function writeStub(dir: string, log: string, failLen = 0): string {
  const path = join(dir, 'python-stub.mjs');
  writeFileSync(
    path,
    `#!${process.execPath}
import { appendFileSync, writeFileSync } from 'node:fs';
const a = process.argv.slice(2);
if (a[0] === '-c') { console.log(JSON.stringify({ torch: '0.0-stub' })); process.exit(0); }
const flag = (f) => a[a.indexOf(f) + 1];
const L = Number(flag('--lengths')), mode = flag('--modes'), t = Number(flag('--threads')), reps = Number(flag('--repeats'));
appendFileSync(${JSON.stringify(log)}, \`peer \${mode} L=\${L} threads=\${t} optimizer=\${flag('--optimizer')} pkg=\${flag('--pkg')}\\n\`);
if (mode === 'train' && L === ${failLen}) {
  writeFileSync(flag('--json'), JSON.stringify({ results: [], meta: {}, failures: [{ error: \`openblas train L=\${L}: child failed (rc -9)\` }] }));
  process.exit(1);
}
const s = ${JSON.stringify(STUB_SECONDS)}[mode];
const all = [s, 1.5 * s, 0.8 * s].slice(0, reps);
const sorted = [...all].sort((x, y) => x - y);
const med = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
const result = { mode, seq_len: L, seconds: med, tokens_per_s: L / med, peak_rss_bytes: 300 * 2 ** 20 + t, threads: t,
  blas: 'openblas-StubCore', torch_version: '0.0-stub', all_seconds: all, openblas_core: 'StubCore',
  openblas_config: 'OpenBLAS 0.0 stub', sgemm_provider: '/stub/libblas.so.3', sgemm1024_gflops: 12.5,
  openblas_coretype_env: null, hf_commit: 'e49c385266e06355cd9960bd8cfea665ade9ec7f' };
writeFileSync(flag('--json'), JSON.stringify({ results: [result], meta: { notes: ['stub note'] } }));
console.log(JSON.stringify({ results: [result] }));
`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe('reformer bench vs-pytorch', () => {
  beforeAll(() => requireDist());

  it('a --python that does not exist: one-line reason, every row skipped, exit 0, nothing run', async () => {
    const peer = fakePeerDir();
    const r = await cli([
      'bench',
      'vs-pytorch',
      '--python',
      '/nonexistent/python3',
      '--peer-dir',
      peer,
      '--seq-lens',
      '128,256',
      '--threads',
      '1,2',
      '--json',
    ]);
    expect(r.code, r.stderr.text).toBe(0);
    expect(r.stdout.text).toMatch(
      /^skipped: --python \/nonexistent\/python3: not found, so torch is absent; install it with PKG=\$\(.*install\.sh\)/m,
    );
    expect(r.stderr.lines()).toEqual([expect.stringMatching(/^bench vs-pytorch: skipped: --python \/nonexistent\/python3: not found/)]);
    const j = lastJson(r.stdout);
    expect(j.status).toBe('skipped');
    expect(j.order).toEqual([]);
    const rows = j.rows as VsRow[];
    expect(rows.map((x) => [x.seq_len, x.mode, x.threads])).toEqual([
      [128, 'forward', 1],
      [128, 'forward', 2],
      [128, 'train', 1],
      [128, 'train', 2],
      [256, 'forward', 1],
      [256, 'forward', 2],
      [256, 'train', 1],
      [256, 'train', 2],
    ]);
    for (const row of rows) {
      expect(row.status).toBe('skipped');
      expect(row.ours_tokens_per_s).toBeNull();
    }
  });

  it('against a stub peer: interleaved children, ratios from both sides, the JSON shape, and --json <file>', async () => {
    const peer = fakePeerDir();
    const log = join(peer, 'calls.log');
    const python = writeStub(peer, log);
    const out = join(peer, 'vs.json');
    const argv = ['bench', 'vs-pytorch', '--python', python, '--peer-dir', peer, '--peer-pkg', join(peer, 'pkg')];
    const r = await cli([
      ...argv,
      '--seq-lens',
      '128',
      '--modes',
      'forward,train',
      '--threads',
      '1',
      '--repeats',
      '2',
      '--rounds',
      '2',
      '--json',
      out,
    ]);
    expect(r.code, r.stderr.text).toBe(0);
    const j = lastJson(r.stdout);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(j);
    expect(Object.keys(j)).toEqual([
      'benchmark',
      'status',
      'skipped_reason',
      'rows',
      'order',
      'machine',
      'peer',
      'load_average',
      'repeats',
      'rounds',
      'configs',
    ]);
    expect(j.status).toBe('ok');
    // round 1 ours first, round 2 the peer first
    expect(j.order).toEqual([
      'ours forward L=128 threads=1 round 1',
      'peer forward L=128 threads=1 round 1',
      'peer forward L=128 threads=1 round 2',
      'ours forward L=128 threads=1 round 2',
      'ours train L=128 threads=1 round 1',
      'peer train L=128 threads=1 round 1',
      'peer train L=128 threads=1 round 2',
      'ours train L=128 threads=1 round 2',
    ]);
    // the stub saw exactly the peer's calls, in that order, with no optimizer update and the package given
    const pkg = join(peer, 'pkg');
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      `peer forward L=128 threads=1 optimizer=none pkg=${pkg}`,
      `peer forward L=128 threads=1 optimizer=none pkg=${pkg}`,
      `peer train L=128 threads=1 optimizer=none pkg=${pkg}`,
      `peer train L=128 threads=1 optimizer=none pkg=${pkg}`,
    ]);
    const rows = j.rows as VsRow[];
    expect(rows.map((x) => x.mode)).toEqual(['forward', 'train']);
    for (const row of rows) {
      expect(row.status).toBe('ok');
      // peer: the stub's calls [s, 1.5 s] twice; its tokens/s is L over their median
      const s = STUB_SECONDS[row.mode];
      expect(row.peer_times).toEqual([s, 1.5 * s, s, 1.5 * s]);
      expect(row.peer_tokens_per_s).toBeCloseTo(128 / median([s, 1.5 * s]), 9);
      expect(row.peer_peak_rss_bytes).toBe(300 * 2 ** 20 + 1);
      expect(row.peer_blas).toBe('openblas-StubCore');
      // ours ran for real: 2 timed calls in each of 2 children
      expect(row.ours_times).toHaveLength(4);
      expect(row.ours_tokens_per_s).toBeCloseTo(128 / median(row.ours_times), 9);
      expect(row.ours_peak_rss_bytes!).toBeGreaterThan(0);
      expect(['relaxed-simd', 'simd']).toContain(row.wasm_variant);
      expect(row.ratio).toBeCloseTo(row.ours_tokens_per_s! / row.peer_tokens_per_s!, 12);
      // the printed row carries the same ratio
      const line = r.stdout.lines().find((l) => l.startsWith(`128      ${row.mode === 'train' ? 'train step' : 'forward'}`));
      expect(line, r.stdout.text).toContain(`${row.ratio!.toFixed(2)}×`);
    }
    const p = j.peer as Record<string, unknown>;
    expect(p.torch_version).toBe('0.0-stub');
    expect(p.openblas_core).toBe('StubCore');
    expect(p.notes).toEqual(['stub note']);
    expect(r.stdout.text).toMatch(
      /^peer: HF ReformerModelWithLMHead @ e49c3852 on torch 0\.0-stub .*BLAS openblas-StubCore: sgemm_ from \/stub\/libblas\.so\.3, OpenBLAS core StubCore/m,
    );
    expect(r.stdout.text).toMatch(/^machine: .+, \d+ cores, (AVX-512|AVX2|AVX|SSE|unknown).*; ours: WASM (relaxed-simd|simd)/m);
    expect((j.configs as { file: string }[])[0]!.file).toBe(join(peer, 'bench-config-4096.json'));
  });

  it('a failing peer cell: the row says why, the other rows still run, exit 1', async () => {
    const peer = fakePeerDir();
    const python = writeStub(peer, join(peer, 'calls.log'), 128);
    const r = await cli([
      'bench',
      'vs-pytorch',
      '--python',
      python,
      '--peer-dir',
      peer,
      '--seq-lens',
      '128',
      '--threads',
      '1',
      '--repeats',
      '1',
      '--json',
    ]);
    expect(r.code).toBe(1);
    const rows = lastJson(r.stdout).rows as VsRow[];
    expect(rows.map((x) => x.status)).toEqual(['ok', 'failed']);
    expect(rows[1]!.reason).toBe('peer: openblas train L=128: child failed (rc -9)');
    expect(rows[1]!.ratio).toBeNull();
    expect(r.stdout.text).toContain('L = 128 train step, 1 thread(s): peer: openblas train L=128: child failed (rc -9)');
  });
});

function row(over: Partial<VsRow>): VsRow {
  return {
    seq_len: 4096,
    mode: 'forward',
    threads: 2,
    status: 'ok',
    reason: null,
    ours_tokens_per_s: null,
    peer_tokens_per_s: null,
    ratio: null,
    ours_seconds: null,
    peer_seconds: null,
    ours_times: [],
    peer_times: [],
    ours_peak_rss_bytes: null,
    peer_peak_rss_bytes: null,
    load_before: null,
    wasm_variant: null,
    peer_blas: null,
    peer_threads: null,
    ...over,
  };
}

function report(rows: VsRow[], load: [number, number, number], skipped: string | null = null): VsReport {
  return {
    rows,
    order: [],
    machine: { cpu: 'Test CPU 9000', cores: 2, simd: 'AVX2', simd_flags: ['avx', 'avx2', 'fma'], node: 'v20.0.0' },
    load_before: load,
    load_after: [1, 1, 1],
    peer: null,
    skipped_reason: skipped,
    repeats: 3,
    rounds: 1,
    configs: [],
  };
}

describe('vs-pytorch formatting', () => {
  const ok = row({
    ours_tokens_per_s: 7173,
    peer_tokens_per_s: 4912,
    ratio: 7173 / 4912,
    ours_peak_rss_bytes: 300 * 2 ** 20,
    peer_peak_rss_bytes: 1.5 * 2 ** 30,
    load_before: 0.12,
    wasm_variant: 'relaxed-simd',
  });

  it('the ratio column: two decimals and ×, or the status', () => {
    expect(ratioText(ok)).toBe('1.46×');
    expect(ratioText(row({ status: 'skipped' }))).toBe('skipped');
    expect(ratioText(row({ status: 'failed', ours_tokens_per_s: 10 }))).toBe('failed');
  });

  it('a row, the machine line, quiet load (no warning)', () => {
    const text = formatVsPytorch(report([ok], [0.1, 0.2, 0.3]));
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^seq_len +mode +threads +ours tok\/s +peer tok\/s +ratio +ours peak RSS +peer peak RSS +load$/);
    expect(lines[2]).toMatch(/^4096 +forward +2 +7173 +4912 +1\.46× +300 MiB +1\.50 GiB +0\.12$/);
    expect(text).toContain('machine: Test CPU 9000, 2 cores, AVX2 (avx avx2 fma); Node v20.0.0; ours: WASM relaxed-simd (128-bit SIMD)');
    expect(text).toContain('load average (1, 5, 15 min): 0.10, 0.20, 0.30 before, 1.00, 1.00, 1.00 after\n');
    expect(text).not.toContain('not quiet');
  });

  it('a busy machine is said so; skipped rows and the reason', () => {
    const text = formatVsPytorch(report([row({ status: 'skipped', reason: 'no torch' })], [1.5, 1, 1], 'no torch'));
    expect(text).toMatch(/^4096 +forward +2 +skipped +skipped +skipped +— +— +—$/m);
    expect(text).toContain('skipped: no torch\n');
    expect(text).toContain('the machine was not quiet');
    expect(vsPytorchJson(report([row({ status: 'skipped' })], [0, 0, 0], 'no torch')).status).toBe('skipped');
    expect(vsPytorchJson(report([ok, row({ status: 'failed' })], [0, 0, 0])).status).toBe('failed');
  });
});

describe("the peer's JSON (bench_hf.py format)", () => {
  const result = {
    mode: 'train',
    seq_len: 4096,
    seconds: 2.5,
    tokens_per_s: 1638.4,
    peak_rss_bytes: 1e9,
    threads: 2,
    blas: 'openblas-Zen',
  };

  it('picks the (mode, length) result; all_seconds defaults to the median', () => {
    const r = parsePeerDocument({ results: [{ ...result, mode: 'forward' }, result], meta: { notes: ['n'] } }, 'train', 4096);
    expect('error' in r).toBe(false);
    if ('error' in r) return;
    expect(r.tokens_per_s).toBe(1638.4);
    expect(r.all_seconds).toEqual([2.5]);
    expect(r.blas).toBe('openblas-Zen');
    expect(r.openblas_core).toBeNull();
    expect(r.notes).toEqual(['n']);
  });

  it("a failure comes back as the peer's message; a malformed document is a FormatError naming the field", () => {
    expect(parsePeerDocument({ results: [], failures: [{ error: 'child failed (rc 132)' }] }, 'train', 4096)).toEqual({
      error: 'child failed (rc 132)',
    });
    expect(() => parsePeerDocument({ results: [{ ...result, tokens_per_s: 'fast' }] }, 'train', 4096)).toThrow(FormatError);
    expect(() => parsePeerDocument({ results: [{ ...result, tokens_per_s: 'fast' }] }, 'train', 4096)).toThrow(/"tokens_per_s" is "fast"/);
    expect(() => parsePeerDocument([1, 2], 'train', 4096)).toThrow(/expected an object with a "results" array/);
  });
});

describe('/proc/cpuinfo', () => {
  const text = [
    'processor\t: 0',
    'vendor_id\t: AuthenticAMD',
    'model name\t: AMD EPYC 7B13 64-Core Processor',
    'flags\t\t: fpu sse sse2 avx fma avx2 bmi2',
    '',
    'processor\t: 1',
    'model name\t: Other',
    'flags\t\t: avx512f',
    '',
  ].join('\n');

  it("the first processor's model and flags; the widest SIMD level", () => {
    const info = parseCpuInfo(text);
    expect(info.model).toBe('AMD EPYC 7B13 64-Core Processor');
    expect(info.flags).toEqual(['fpu', 'sse', 'sse2', 'avx', 'fma', 'avx2', 'bmi2']);
    expect(simdLevel(info.flags)).toBe('AVX2');
    expect(simdFlags(info.flags)).toEqual(['avx', 'fma', 'avx2']);
    expect(simdLevel(['sse2', 'avx2', 'avx512f'])).toBe('AVX-512');
    expect(simdLevel(['sse2'])).toBe('SSE');
    expect(simdLevel([])).toBe('unknown');
    expect(parseCpuInfo('')).toEqual({ model: null, flags: [] });
  });
});
