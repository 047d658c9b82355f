/**
 * The machine a benchmark ran on, for side-by-side tables (`reformer bench vs-pytorch`): CPU model,
 * cores, the widest x86 SIMD the CPU offers (from its `/proc/cpuinfo` flags) and the load average.
 *
 * Why the SIMD level matters: our kernels are WebAssembly SIMD (128-bit vectors whatever the CPU),
 * while PyTorch's BLAS (OpenBLAS) picks 256-bit AVX2 or 512-bit AVX-512 kernels, so the same ratio
 * means different things on an AVX2 and an AVX-512 machine.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';

/** Widest vector extension the CPU reports (x86 only; 'unknown' elsewhere or without /proc/cpuinfo). */
export type SimdLevel = 'AVX-512' | 'AVX2' | 'AVX' | 'SSE' | 'unknown';

export interface CpuInfo {
  /** `model name` of the first processor, e.g. "AMD EPYC 7B13 64-Core Processor"; null if not reported. */
  model: string | null;
  /** `flags` of the first processor (empty if not reported). */
  flags: readonly string[];
}

/** The first processor's model name and flags from the text of /proc/cpuinfo (Linux format). */
export function parseCpuInfo(text: string): CpuInfo {
  let model: string | null = null;
  let flags: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' && (model !== null || flags.length > 0)) break; // end of the first processor
    const i = line.indexOf(':');
    if (i < 0) continue;
    const key = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (key === 'model name' && model === null) model = value;
    else if (key === 'flags' && flags.length === 0) flags = value.split(/\s+/).filter((f) => f.length > 0);
  }
  return { model, flags };
}

/** The widest SIMD level in `flags` (avx512f → AVX-512, avx2 → AVX2, avx → AVX, sse2 → SSE). */
export function simdLevel(flags: readonly string[]): SimdLevel {
  const has = new Set(flags);
  if (has.has('avx512f')) return 'AVX-512';
  if (has.has('avx2')) return 'AVX2';
  if (has.has('avx')) return 'AVX';
  if (has.has('sse2')) return 'SSE';
  return 'unknown';
}

/** The vector-related flags worth printing (AVX-512 subsets, AVX2, FMA, AVX-VNNI), in the CPU's order. */
export function simdFlags(flags: readonly string[]): string[] {
  return flags.filter((f) => /^(avx|fma|amx)/.test(f));
}

export interface MachineInfo {
  /** CPU model (/proc/cpuinfo, else `os.cpus()`), or 'unknown CPU'. */
  cpu: string;
  /** Cores this process may use (`os.availableParallelism()`). */
  cores: number;
  simd: SimdLevel;
  /** AVX/FMA/AMX flags of the CPU. */
  simd_flags: string[];
  /** Node version, e.g. v20.19.0. */
  node: string;
}

/** This machine (reads /proc/cpuinfo where it exists). */
export function machineInfo(): MachineInfo {
  let info: CpuInfo = { model: null, flags: [] };
  try {
    info = parseCpuInfo(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    // not Linux: os.cpus() has the model, no flags
  }
  const model = info.model ?? cpus()[0]?.model?.trim() ?? null;
  return {
    cpu: model && model.length > 0 ? model : 'unknown CPU',
    cores: availableParallelism(),
    simd: simdLevel(info.flags),
    simd_flags: simdFlags(info.flags),
    node: process.version,
  };
}

/** The 1, 5 and 15-minute load averages, rounded to 0.01 (zeros on systems without them). */
export function loadAverages(): [number, number, number] {
  const [a = 0, b = 0, c = 0] = loadavg().map((x) => Math.round(x * 100) / 100);
  return [a, b, c];
}
