/**
 * The excerpt of the embedded novel (data/crime-and-punishment.txt) that the page offers for the LSH
 * picture and for live training: text from the held-out last 5% (which `reformer train` never trains
 * on, so the shipped model has not seen it), from the first paragraph start after the 95% mark,
 * about `bytes` long, ending at a paragraph end. The Vite build bundles only this excerpt
 * (web/vite.config.ts); Node tools apply the same rule to the file.
 */

/** The excerpt of `text` (the whole novel). */
export function novelExcerpt(text: string, bytes = 6000): string {
  const start = text.indexOf('\n\n', Math.floor(text.length * 0.95));
  const from = start < 0 ? 0 : start + 2;
  const end = text.indexOf('\n\n', from + bytes);
  return text.slice(from, end < 0 ? text.length : end);
}
