/**
 * The PyTorch peer of `reformer bench vs-pytorch`: HuggingFace's `ReformerModelWithLMHead` on Debian's
 * torch + OpenBLAS, run by the peer's own benchmark script `bench_hf.py` (../shared/peer-pytorch/,
 * README there). This file finds the peer, checks that it can run (a one-line reason when it cannot:
 * the comparison is optional and is skipped without torch), runs one (length, mode, threads) cell of
 * it in its own process tree, and parses its JSON.
 *
 * Where things are (flag, else environment, else default):
 * - peer folder: `--peer-dir`, `REFORMER_PEER_DIR`, `<repo>/../shared/peer-pytorch`;
 * - HF package (HF's two Reformer files + stubs, assembled by the peer's install.sh): `--peer-pkg`,
 *   `ORACLE_PKG`, `${TMPDIR:-/tmp}/reformer-peer-pytorch/hfpkg` (install.sh's default);
 * - interpreter: `--python`, default /usr/bin/python3 (Debian's, where python3-torch is installed).
 *
 * bench_hf.py re-executes its children with OpenBLAS (`LD_LIBRARY_PATH`), `OPENBLAS_NUM_THREADS` /
 * `OMP_NUM_THREADS` = threads and, only where OpenBLAS misdetects the CPU, `OPENBLAS_CORETYPE`; it
 * reports which library really provided torch's `sgemm_`, OpenBLAS's core, and the child's peak RSS
 * (VmHWM). Its JSON: `{"results": [{"mode", "seq_len", "seconds", "tokens_per_s", "peak_rss_bytes",
 * "threads", "blas", "torch_version", ...}], "meta": {...}, "failures"?: [...]}`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FormatError } from '../../errors.js';

export const DEFAULT_PEER_PYTHON = '/usr/bin/python3';
/** The peer's benchmark script, in the peer folder. */
export const PEER_SCRIPT = 'bench_hf.py';

export interface PeerLocation {
  /** Peer folder (bench_hf.py, install.sh, bench-config-<L>.json). */
  readonly dir: string;
  /** Folder holding the assembled `transformers` package (ORACLE_PKG). */
  readonly pkg: string;
  /** Interpreter with torch. */
  readonly python: string;
}

/** Where the peer is: the flags, else REFORMER_PEER_DIR / ORACLE_PKG, else the defaults of the file header. */
export function peerLocation(
  opts: { dir?: string | undefined; pkg?: string | undefined; python?: string | undefined },
  packageRoot: string,
  env: NodeJS.ProcessEnv = process.env,
): PeerLocation {
  const dir = opts.dir ?? (env.REFORMER_PEER_DIR || join(packageRoot, '..', 'shared', 'peer-pytorch'));
  const pkg = opts.pkg ?? (env.ORACLE_PKG || join(env.TMPDIR || '/tmp', 'reformer-peer-pytorch', 'hfpkg'));
  return { dir: resolve(dir), pkg: resolve(pkg), python: opts.python ?? DEFAULT_PEER_PYTHON };
}

/** How to install the peer, for skip reasons. */
function installHint(loc: PeerLocation): string {
  return `install it with PKG=$(${join(loc.dir, 'install.sh')}) and ORACLE_PKG=$PKG (see ${join(loc.dir, 'README.md')})`;
}

/** Imports torch, then HF's Reformer from the package; prints one JSON line (never raises). */
const PROBE = `
import json, sys
try:
    import torch
except Exception as e:
    print(json.dumps({"error": "torch", "detail": type(e).__name__ + ": " + str(e)}))
    sys.exit(0)
sys.path.insert(0, sys.argv[1])
try:
    from transformers.models.reformer import modeling_reformer
except Exception as e:
    print(json.dumps({"error": "pkg", "detail": type(e).__name__ + ": " + str(e)}))
    sys.exit(0)
print(json.dumps({"torch": torch.__version__}))
`;

export type PeerProbe = { readonly ok: true; readonly torch: string } | { readonly ok: false; readonly reason: string };

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();
const lastLine = (s: string): string => s.trim().split('\n').pop()?.trim() ?? '';

/**
 * Whether the peer can run here, in about a second: the folder holds bench_hf.py and
 * bench-config-4096.json, the interpreter exists and imports torch, and HF's Reformer imports from
 * the package. Otherwise one line saying what is missing and how to install it.
 */
export function probePeer(loc: PeerLocation): PeerProbe {
  if (!isDir(loc.dir)) {
    return {
      ok: false,
      reason: `no peer folder at ${loc.dir}: give --peer-dir or set REFORMER_PEER_DIR (the folder of peer-pytorch/README.md)`,
    };
  }
  for (const f of [PEER_SCRIPT, 'bench-config-4096.json']) {
    if (!existsSync(join(loc.dir, f))) return { ok: false, reason: `${loc.dir} has no ${f}: give --peer-dir the peer-pytorch folder` };
  }
  const r = spawnSync(loc.python, ['-c', PROBE, loc.pkg], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable' : r.error.message;
    return { ok: false, reason: `--python ${loc.python}: ${why}, so torch is absent; ${installHint(loc)}` };
  }
  let answer: { torch?: unknown; error?: unknown; detail?: unknown } = {};
  try {
    answer = JSON.parse(lastLine(r.stdout)) as typeof answer;
  } catch {
    return {
      ok: false,
      reason: `--python ${loc.python} could not run the torch check (exit ${r.status ?? r.signal}: ${lastLine(r.stderr) || 'no output'})`,
    };
  }
  if (answer.error === 'torch')
    return { ok: false, reason: `torch is not importable by ${loc.python} (${String(answer.detail)}); ${installHint(loc)}` };
  if (answer.error === 'pkg') {
    return {
      ok: false,
      reason: `HF's Reformer package is not at ${loc.pkg} (${String(answer.detail)}): assemble it with ${join(loc.dir, 'install.sh')} and set ORACLE_PKG or --peer-pkg to the path it prints`,
    };
  }
  return { ok: true, torch: String(answer.torch) };
}

/** One cell of the peer's benchmark, as bench_hf.py reports it (the fields we use; all of it in `raw`). */
export interface PeerCellResult {
  tokens_per_s: number;
  /** Median seconds per call. */
  seconds: number;
  /** Every timed call. */
  all_seconds: number[];
  /** The child's VmHWM. */
  peak_rss_bytes: number;
  /** torch.get_num_threads() in the child. */
  threads: number;
  /** e.g. "openblas-SkylakeX" (the library that really provided sgemm_). */
  blas: string;
  torch_version: string;
  openblas_core: string | null;
  openblas_config: string | null;
  sgemm_provider: string | null;
  /** 1024³ sgemm through torch, GFLOP/s. */
  sgemm1024_gflops: number | null;
  openblas_coretype_env: string | null;
  hf_commit: string | null;
  /** Notes of the orchestrator (e.g. why OPENBLAS_CORETYPE was or was not set). */
  notes: string[];
  /** The result object as printed. */
  raw: Record<string, unknown>;
}

const num = (o: Record<string, unknown>, k: string): number => {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new FormatError(`peer result (${PEER_SCRIPT} JSON): "${k}" is ${JSON.stringify(v)}, expected a number`);
  }
  return v;
};
const str = (o: Record<string, unknown>, k: string): string | null => (typeof o[k] === 'string' ? (o[k] as string) : null);
const optNum = (o: Record<string, unknown>, k: string): number | null =>
  typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : null;

/**
 * The result for (mode, seqLen) in a bench_hf.py JSON document, or its failure message.
 * @throws FormatError if the document is not bench_hf.py's format
 */
export function parsePeerDocument(doc: unknown, mode: string, seqLen: number): PeerCellResult | { error: string } {
  if (doc === null || typeof doc !== 'object' || !Array.isArray((doc as { results?: unknown }).results)) {
    throw new FormatError(`peer result (${PEER_SCRIPT} JSON): expected an object with a "results" array`);
  }
  const d = doc as { results: unknown[]; meta?: { notes?: unknown }; failures?: { error?: unknown }[] };
  const hit = d.results.find(
    (r): r is Record<string, unknown> =>
      r !== null && typeof r === 'object' && (r as { mode?: unknown }).mode === mode && (r as { seq_len?: unknown }).seq_len === seqLen,
  );
  if (!hit) {
    const f = d.failures?.[0]?.error;
    return { error: typeof f === 'string' ? f : `no result for ${mode} at L = ${seqLen} in the peer's JSON` };
  }
  const times = Array.isArray(hit.all_seconds) ? hit.all_seconds.filter((x): x is number => typeof x === 'number') : [];
  const notes = Array.isArray(d.meta?.notes) ? d.meta.notes.filter((x): x is string => typeof x === 'string') : [];
  return {
    tokens_per_s: num(hit, 'tokens_per_s'),
    seconds: num(hit, 'seconds'),
    all_seconds: times.length > 0 ? times : [num(hit, 'seconds')],
    peak_rss_bytes: num(hit, 'peak_rss_bytes'),
    threads: num(hit, 'threads'),
    blas: str(hit, 'blas') ?? 'unknown',
    torch_version: str(hit, 'torch_version') ?? 'unknown',
    openblas_core: str(hit, 'openblas_core'),
    openblas_config: str(hit, 'openblas_config'),
    sgemm_provider: str(hit, 'sgemm_provider'),
    sgemm1024_gflops: optNum(hit, 'sgemm1024_gflops'),
    openblas_coretype_env: str(hit, 'openblas_coretype_env'),
    hf_commit: str(hit, 'hf_commit'),
    notes,
    raw: hit,
  };
}

export interface PeerCellRequest {
  seqLen: number;
  mode: 'forward' | 'train';
  threads: number;
  /** Timed calls after one warm-up call. */
  repeats: number;
}

/**
 * Runs one cell of the peer (bench_hf.py: an orchestrator and one child process for this mode and
 * length) on the config files of the peer folder, with no optimizer update in train mode (like
 * ours: loss + gradients). Blocks until it ends.
 * @returns its result, or `{ error }` with the peer's own message (or its stderr's last line)
 */
export function runPeerCell(loc: PeerLocation, req: PeerCellRequest): PeerCellResult | { error: string } {
  const tmp = mkdtempSync(join(tmpdir(), 'reformer-vs-pytorch-'));
  const out = join(tmp, 'peer.json');
  try {
    const args = [
      join(loc.dir, PEER_SCRIPT),
      '--lengths',
      String(req.seqLen),
      '--modes',
      req.mode,
      '--threads',
      String(req.threads),
      '--repeats',
      String(req.repeats),
      '--warmup',
      '1',
      '--optimizer',
      'none',
      '--config-dir',
      loc.dir,
      '--pkg',
      loc.pkg,
      '--python',
      loc.python,
      '--json',
      out,
    ];
    const r = spawnSync(loc.python, args, {
      encoding: 'utf8',
      maxBuffer: 16 << 20,
      env: { ...process.env, ORACLE_PKG: loc.pkg, BENCH_CONFIG_DIR: loc.dir },
    });
    if (r.error) return { error: `could not start ${loc.python}: ${r.error.message}` };
    if (!existsSync(out)) {
      const tail = r.stderr.trim().split('\n').slice(-2).join(' | ');
      return { error: `${PEER_SCRIPT} wrote no result (exit ${r.status ?? r.signal}): ${tail || 'no output'}` };
    }
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(out, 'utf8'));
    } catch (e) {
      throw new FormatError(`peer result (${PEER_SCRIPT} JSON): not JSON (${(e as Error).message})`);
    }
    return parsePeerDocument(doc, req.mode, req.seqLen);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
