/**
 * Helpers of the browser tests and the browser throughput script: serve the built page (web/dist)
 * with Vite's preview server (which sends the cross-origin isolation headers of web/vite.config.ts),
 * and drive Debian's Chromium headless through playwright-core (which downloads nothing).
 *
 * The browser is `REFORMER_CHROMIUM` or /usr/bin/chromium (`apt-get install chromium`; .ci/run
 * installs it). A missing browser or page build is an error naming the fix, never a skip.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB_DIST = join(REPO, 'web', 'dist');

/** The Chromium executable. @throws Error naming the fix if there is none */
export function chromiumPath(): string {
  const path = process.env.REFORMER_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(
      `no Chromium at ${path}: install it (apt-get install -y chromium) or set REFORMER_CHROMIUM to a Chromium/Chrome executable`,
    );
  }
  return path;
}

/** Flags of the headless runs: no sandbox (CI runs as root), no GPU, nothing that reaches the network on its own. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserSession {
  readonly url: string;
  readonly context: BrowserContext;
  /** Console lines of every page (for failure messages). */
  readonly log: string[];
  newPage(path?: string): Promise<Page>;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
};

/** A plain static server of web/dist WITHOUT the isolation headers (what a host that sends none does). */
async function plainServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    let file = join(WEB_DIST, path);
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!file.startsWith(WEB_DIST) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * Serves web/dist (with Vite's preview server and its COOP/COEP headers, or with `isolation: false`
 * from a plain server that sends none) and starts Chromium with a fresh profile.
 * @throws Error if the page is not built (`npm run web:build`) or Chromium is missing
 */
export async function openBrowser(options: { isolation?: boolean } = {}): Promise<BrowserSession> {
  if (!existsSync(join(WEB_DIST, 'index.html'))) throw new Error(`the page is not built: no ${WEB_DIST}/index.html; run npm run web:build`);
  const executablePath = chromiumPath();
  let server: { close(): Promise<void> };
  let url: string | undefined;
  if (options.isolation === false) {
    const plain = await plainServer();
    server = plain;
    url = plain.url;
  } else {
    const vite: PreviewServer = await preview({
      configFile: join(REPO, 'web', 'vite.config.ts'),
      logLevel: 'warn',
      preview: { port: 0, host: '127.0.0.1', strictPort: false, open: false },
    });
    server = vite;
    url = vite.resolvedUrls?.local[0];
  }
  if (!url) throw new Error('the preview server did not report its address');
  const profile = mkdtempSync(join(tmpdir(), 'reformer-chromium-'));
  const log: string[] = [];
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1200, height: 1500 },
    });
  } catch (e) {
    await server.close();
    rmSync(profile, { recursive: true, force: true });
    throw new Error(`could not start ${executablePath}: ${(e as Error).message}`);
  }
  return {
    url,
    context,
    log,
    async newPage(path = '') {
      const page = await context.newPage();
      page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
      await page.goto(new URL(path, url).href);
      return page;
    },
    async close() {
      await context.close();
      await server.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
