/**
 * StopSignals in-process (src/node/signals.ts): the first signal requests a stop; a copy of it within
 * the duplicate window (a process-group signal that npx/npm also forwards) is ignored; a second signal
 * after the window is re-raised with the default action; after the window the handlers are gone.
 * Our own listeners are called directly (never process.emit, which would reach the runner's too).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StopSignals, type StopSignal } from '../../src/node/signals.js';

/** Installs `s` and returns its listener for each signal. */
function install(s: StopSignals): Record<StopSignal, () => void> {
  const before = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
  s.install();
  const ours = (sig: StopSignal) => process.listeners(sig).find((l) => !before[sig].includes(l)) as () => void;
  return { SIGINT: ours('SIGINT'), SIGTERM: ours('SIGTERM') };
}

const live: StopSignals[] = [];
afterEach(() => {
  for (const s of live.splice(0)) s.dispose();
});

function make(windowMs: number) {
  let clock = 1000;
  const raised: StopSignal[] = [];
  const firsts: StopSignal[] = [];
  const s = new StopSignals((sig) => firsts.push(sig), { duplicateWindowMs: windowMs, raise: (sig) => raised.push(sig), now: () => clock });
  live.push(s);
  const h = install(s);
  return { s, h, raised, firsts, advance: (ms: number) => (clock += ms) };
}

describe('StopSignals', () => {
  it('a signal delivered twice within the window (process group + npm forwarding) is one stop: nothing is raised', () => {
    const { s, h, raised, firsts, advance } = make(500);
    h.SIGTERM();
    advance(3);
    h.SIGTERM();
    expect(s.requested).toBe(true);
    expect(s.signal).toBe('SIGTERM');
    expect(firsts).toEqual(['SIGTERM']);
    expect(raised).toEqual([]);
  });

  it('a second signal after the window, reaching JavaScript before the handlers were removed, is re-raised and the handlers removed', () => {
    const { h, raised, advance } = make(500);
    const count = process.listenerCount('SIGINT');
    h.SIGINT();
    advance(600);
    h.SIGINT();
    expect(raised).toEqual(['SIGINT']);
    expect(process.listenerCount('SIGINT')).toBe(count - 1);
  });

  it('after the window the handlers are removed (the default action applies: a second signal kills at once)', async () => {
    const { h } = make(20);
    const ints = process.listenerCount('SIGINT');
    const terms = process.listenerCount('SIGTERM');
    h.SIGINT();
    expect(process.listenerCount('SIGINT')).toBe(ints); // kept during the window
    await new Promise((r) => setTimeout(r, 60));
    expect(process.listenerCount('SIGINT')).toBe(ints - 1);
    expect(process.listenerCount('SIGTERM')).toBe(terms - 1);
  });

  it('settled() resolves at once without a stop, and after the window (handlers removed) with one', async () => {
    const { s, h } = make(30);
    await s.settled(); // no stop requested: nothing to wait for
    const ints = process.listenerCount('SIGINT');
    h.SIGINT();
    const t0 = performance.now();
    await s.settled();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(20);
    expect(process.listenerCount('SIGINT')).toBe(ints - 1);
    await s.settled(); // already settled
  });
});
