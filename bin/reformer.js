#!/usr/bin/env node
// The `reformer` command: runs the compiled CLI in dist/ (npm run build:ts).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/node/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('reformer: dist/ is missing; build it first with `npm run build` (or `npm run build:ts`)\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
