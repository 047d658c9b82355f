/**
 * The entry point shared by the benchmark child processes (model-child.ts, generate-child.ts,
 * profile-child.ts): when `moduleUrl` is the script Node was started with, parse the request from
 * argv[2], run it, and print the result as one JSON line; an error is one line `error: <message>` on
 * stderr (`error: ResourceError: ...` for a refusal for memory) and exit code 1.
 */
import { pathToFileURL } from 'node:url';

export async function runAsChild<Q, R>(moduleUrl: string, run: (req: Q) => Promise<R>): Promise<void> {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  try {
    const req = JSON.parse(process.argv[2] ?? '{}') as Q;
    process.stdout.write(`${JSON.stringify(await run(req))}\n`);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`error: ${err.name === 'ResourceError' ? 'ResourceError: ' : ''}${err.message ?? String(e)}\n`);
    process.exitCode = 1;
  }
}
