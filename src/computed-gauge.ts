/**
 * A gauge whose series are not stored but read from their owner's state at each scrape.
 *
 * Why: per-host gauges (nixguard_check_up, _host_up, _http_tls_expiry_timestamp_seconds) are
 * ~10 series per host. As prom-client gauges each series is a hash string, a labels object and a
 * sample in prom-client's map plus a cached text line for the fast /metrics render: ~4.5 KB per
 * host, 45 MB at 10,000 hosts, all of it a copy of what the health book already holds. This
 * keeps nothing: a scrape walks the book and writes the lines.
 *
 * It speaks prom-client's metric interface (name, help, type, get(), reset()), so it registers in
 * a prom-client Registry and `registry.metrics()` prints it like any gauge; api/metrics-text.ts
 * calls `render()` instead, which writes the text without building sample objects.
 */

/** Calls `emit` once per series: label values in `labelNames` order, then the value. */
export type SeriesSource = (emit: (labelValues: readonly string[], value: number) => void) => void;

interface Sample {
  labels: Record<string, string>;
  value: number;
}

export class ComputedGauge {
  readonly type = "gauge";
  readonly aggregator = "sum";
  private source: SeriesSource = () => undefined;
  /** `name{a="`, `",b="`, …: the fixed parts of every line, built once. */
  private readonly parts: string[];
  /**
   * Per label: value → `<part><escaped value>`. Label values are few and long-lived (deployment,
   * host and check names shared with the specs), so a scrape mostly looks pieces up instead of
   * building and escaping them (~0.7 MB at 10,000 hosts, against the ~45 MB of stored series).
   */
  private readonly pieces: Map<string, string>[];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    this.parts = labelNames.map((l, i) => `${i === 0 ? `\n${name}{` : '",'}${l}="`);
    this.pieces = labelNames.map(() => new Map());
  }

  /** Where the series come from; the owner of the state sets it (the last call wins). */
  from(source: SeriesSource): void {
    this.source = source;
  }

  /** prom-client's view: every series as a sample (registry.metrics(), JSON, tests). */
  get(): { name: string; help: string; type: "gauge"; aggregator: string; values: Sample[] } {
    const values: Sample[] = [];
    this.source((labelValues, value) => {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((l, i) => {
        labels[l] = labelValues[i] ?? "";
      });
      values.push({ labels, value });
    });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The series lines in the text format, each preceded by "\n", as prom-client would print them. */
  render(): string {
    const { parts, pieces } = this;
    // Pieces joined once at the end: one flat string, no tree of concatenations to walk.
    const out: string[] = [];
    let series = 0;
    this.source((labelValues, value) => {
      series++;
      for (let i = 0; i < parts.length; i++) {
        const v = labelValues[i] ?? "";
        const cache = pieces[i] as Map<string, string>;
        let piece = cache.get(v);
        if (piece === undefined) {
          piece = (parts[i] as string) + escapeLabelValue(v);
          cache.set(v, piece);
        }
        out.push(piece);
      }
      out.push('"} ', formatValue(value));
    });
    // Values no longer in use (hosts removed by a reload) must not pile up: a cache holding more
    // than twice what one render can use starts afresh.
    for (const cache of pieces) if (cache.size > 2 * series + 64) cache.clear();
    return out.join("");
  }

  /** Nothing to reset: the values are the owner's. */
  reset(): void {}
}

/** Prometheus text-format label escaping; config names rarely need it, so test first. */
export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"') : v;
}

/** Numbers as prom-client prints them. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "Nan";
  if (!Number.isFinite(v)) return v < 0 ? "-Inf" : "+Inf";
  return `${v}`;
}
