/** WASM wrappers of the activation family (kernels: assembly/activations.ts). */
import { ShapeError } from '../../../errors.js';
import type { Activation, Float } from '../../backend.js';
import type { WasmDispatch } from '../../wasm/dispatch.js';
import { validateElementwise } from '../elementwise/params.js';

/** The kernels' `kind` argument: 0 relu, 1 gelu, 2 gelu_new. */
const ACTIVATION_KIND: Record<Activation, number> = { relu: 0, gelu: 1, gelu_new: 2 };

export function activationForward(d: WasmDispatch, kind: Activation, x: Float, y: Float, n: number): void {
  const op = 'activationForward';
  validateElementwise(op, n, ['x', x], ['y', y]);
  const kd = activationKind(op, kind);
  const xp = d.f(op, 'x', x);
  const yp = d.f(op, 'y', y);
  d.split('activationForward', n, d.partsFor(n * 2), 16, 0, (i0, i1) => [kd, xp + 4 * i0, yp + 4 * i0, i1 - i0]);
}

export function activationBackward(d: WasmDispatch, kind: Activation, x: Float, dy: Float, dx: Float, n: number): void {
  const op = 'activationBackward';
  validateElementwise(op, n, ['x', x], ['dy', dy], ['dx', dx]);
  const kd = activationKind(op, kind);
  const xp = d.f(op, 'x', x);
  const dyp = d.f(op, 'dy', dy);
  const dxp = d.f(op, 'dx', dx);
  d.split('activationBackward', n, d.partsFor(n * 3), 16, 0, (i0, i1) => [kd, xp + 4 * i0, dyp + 4 * i0, dxp + 4 * i0, i1 - i0]);
}

function activationKind(op: string, kind: Activation): number {
  const k = ACTIVATION_KIND[kind];
  if (k === undefined) throw new ShapeError(`${op}: unknown activation '${String(kind)}'; expected relu, gelu or gelu_new`);
  return k;
}
