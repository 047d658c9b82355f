/** Small DOM helpers of the page. */

/** The element with this id. @throws Error if the page has none (a broken index.html) */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`index.html has no element #${id}`);
  return e as T;
}

/** A new element with a class and text. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

/** The number in an <input>, or the fallback when it is empty or not a number. */
export function numberOf(id: string, fallback: number): number {
  const v = Number.parseFloat(byId<HTMLInputElement>(id).value);
  return Number.isFinite(v) ? v : fallback;
}

/** Colour of bucket b of n: hues spread by the golden angle so neighbouring buckets differ. */
export function bucketColour(b: number, n: number, alpha = 1): string {
  const hue = (b * 137.508) % 360;
  const light = 72 + ((b * 7) % 3) * 6 - (n > 24 ? 0 : 4);
  return `hsla(${hue.toFixed(1)}, 70%, ${light}%, ${alpha})`;
}

/** Shows an error message in `target` (and the console). */
export function showError(target: HTMLElement, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  target.textContent = message;
  target.classList.add('error');
  console.error(e);
}

/** Clears an error shown by `showError`. */
export function clearError(target: HTMLElement): void {
  target.classList.remove('error');
}
