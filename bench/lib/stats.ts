// Small numeric helpers for the report.
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  const hi = s[mid] ?? Number.NaN;
  return s.length % 2 === 1 ? hi : ((s[mid - 1] ?? hi) + hi) / 2;
}

export function max(xs: readonly (number | undefined)[]): number | undefined {
  const defined = xs.filter((x): x is number => x !== undefined);
  return defined.length === 0 ? undefined : Math.max(...defined);
}

/** A number for a table cell; "-" when there is none. */
export function fmt(n: number | undefined, digits = 0): string {
  return n === undefined || Number.isNaN(n) ? "-" : n.toFixed(digits);
}
