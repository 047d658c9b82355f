/** `reformer conformance` and `bench`: wired where the engine exists, a clear "not available" otherwise (`verify`: verify.ts). */
import { ReferenceBackend } from '../../backend/reference.js';
import { formatConformanceReport } from '../../conformance/runner.js';
import { runConformanceFolder } from '../conformance.js';
import { NotAvailableError, type CliContext } from './context.js';

export interface ConformanceFlags {
  dtype: 'f32' | 'f64';
  filter?: string;
}

/** Runs an HF fixture folder; exit 0 if no case failed, 1 otherwise. */
export function conformanceCommand(dir: string, flags: ConformanceFlags, ctx: CliContext): number {
  const report = runConformanceFolder(dir, {
    backend: new ReferenceBackend({ dtype: flags.dtype }),
    ...(flags.filter ? { filter: (name: string, component: string) => name.includes(flags.filter!) || component.includes(flags.filter!) } : {}),
  });
  ctx.stdout.write(`${formatConformanceReport(report)}\n`);
  return report.failed === 0 ? 0 : 1;
}

export const BENCH_TARGETS = ['kernels', 'attention', 'model', 'memory'] as const;
export type BenchTarget = (typeof BENCH_TARGETS)[number];

export function benchCommand(target: BenchTarget): never {
  throw new NotAvailableError(`bench ${target}: not available yet: the ${target} benchmark has not landed in bench/ (run npm run bench when it has)`);
}
