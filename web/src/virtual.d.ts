/** The held-out excerpt of the embedded novel (web/vite.config.ts, web/src/lib/excerpt.ts). */
declare module 'virtual:novel-excerpt' {
  export const EXCERPT: string;
}
