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
 * calls `chunks()` instead, which writes the text without building sample objects.
 */

/** One series: label values in `labelNames` order, and the value. */
export interface Series {
  readonly labels: readonly string[];
  readonly value: number;
}

/**
 * Every series, read afresh at each call. An iterable rather than an array, so a scrape can
 * stream the page a piece at a time instead of holding the whole fleet's lines at once.
 */
export type SeriesSource = () => Iterable<Series>;

/**
 * How many characters of text a chunk of /metrics holds: well under V8's 128 KB limit for
 * ordinary heap objects, so a chunk is short-lived young-generation garbage and never a large
 * object that only a full GC returns (a one-string page at 10,000 hosts × 8 checks held ~40 MB
 * of RSS for seconds after every scrape).
 */
export const CHUNK_CHARS = 48 * 1024;

interface Sample {
  labels: Record<string, string>;
  value: number;
}

export class ComputedGauge {
  readonly type = "gauge";
  readonly aggregator = "sum";
  private source: SeriesSource = () => [];
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
    for (const { labels: labelValues, value } of this.source()) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((l, i) => {
        labels[l] = labelValues[i] ?? "";
      });
      values.push({ labels, value });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /**
   * The series lines in the text format, each preceded by "\n", as prom-client would print them,
   * in chunks of about `chunkChars` characters. The source is read as the chunks are taken.
   */
  *chunks(chunkChars: number = CHUNK_CHARS): Generator<string> {
    const { parts, pieces } = this;
    // Pieces joined once per chunk: one flat string, no tree of concatenations to walk.
    const out: string[] = [];
    let size = 0;
    let series = 0;
    for (const { labels, value } of this.source()) {
      series++;
      for (let i = 0; i < parts.length; i++) {
        const v = labels[i] ?? "";
        const cache = pieces[i] as Map<string, string>;
        let piece = cache.get(v);
        if (piece === undefined) {
          piece = (parts[i] as string) + escapeLabelValue(v);
          cache.set(v, piece);
        }
        out.push(piece);
        size += piece.length;
      }
      const text = formatValue(value);
      out.push('"} ', text);
      size += 3 + text.length;
      if (size >= chunkChars) {
        yield out.join("");
        out.length = 0;
        size = 0;
      }
    }
    // Values no longer in use (hosts removed by a reload) must not pile up: a cache holding more
    // than twice what one render can use starts afresh.
    for (const cache of pieces) if (cache.size > 2 * series + 64) cache.clear();
    if (out.length > 0) yield out.join("");
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
