/**
 * How long ago, the way kubectl and nomad print it: `45s`, `12m`, `3h`, `2d`; two units while the
 * first is small (`3m20s`, `5h10m`) because those are the ages an operator compares.
 */
export function age(then: number | undefined, now: number): string {
  if (then === undefined) return "";
  const s = Math.max(0, Math.floor((now - then) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ""}`;
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 10) return `${h}h${m % 60 ? `${m % 60}m` : ""}`;
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}
