// AdamW (Loshchilov & Hutter 2019, decoupled weight decay; bias correction of Kingma & Ba 2015) as
// torch.optim.AdamW computes it (semantics: Backend.adamw):
//   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²          (stored, then re-read)
//   p = p·(1 − lr·wd) − (lr / bc1) · m / (sqrt(v)/sqrt(bc2) + eps),  bc_i = 1 − β_i^step.
// The per-step scalars are computed by the caller in f64 and passed in.

export function adamw(
  n: i32, param: usize, grad: usize, m: usize, v: usize,
  beta1: f64, beta2: f64, eps: f64, decay: f64, stepSize: f64, invSqrtBc2: f64,
): void {
  const b1 = <f32>beta1;
  const b2 = <f32>beta2;
  const ob1 = <f32>(1.0 - beta1);
  const ob2 = <f32>(1.0 - beta2);
  const ep = <f32>eps;
  const dec = <f32>decay;
  const st = <f32>stepSize;
  const ib = <f32>invSqrtBc2;
  const b1v = f32x4.splat(b1), b2v = f32x4.splat(b2), ob1v = f32x4.splat(ob1), ob2v = f32x4.splat(ob2);
  const epv = f32x4.splat(ep), decv = f32x4.splat(dec), stv = f32x4.splat(st), ibv = f32x4.splat(ib);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(grad + o);
    const mm = f32x4.add(f32x4.mul(b1v, v128.load(m + o)), f32x4.mul(ob1v, g));
    const vv = f32x4.add(f32x4.mul(b2v, v128.load(v + o)), f32x4.mul(ob2v, f32x4.mul(g, g)));
    v128.store(m + o, mm);
    v128.store(v + o, vv);
    const denom = f32x4.add(f32x4.mul(f32x4.sqrt(vv), ibv), epv);
    const upd = f32x4.mul(stv, f32x4.div(mm, denom));
    v128.store(param + o, f32x4.sub(f32x4.mul(v128.load(param + o), decv), upd));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grad + o);
    const mm = b1 * load<f32>(m + o) + ob1 * g;
    const vv = b2 * load<f32>(v + o) + ob2 * g * g;
    store<f32>(m + o, mm);
    store<f32>(v + o, vv);
    const denom = Mathf.sqrt(vv) * ib + ep;
    store<f32>(param + o, load<f32>(param + o) * dec - st * (mm / denom));
  }
}
