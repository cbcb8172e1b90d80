import type { Registry } from "prom-client";
import { CHUNK_CHARS, escapeLabelValue, formatValue } from "../computed-gauge.js";

/**
 * Renders a prom-client registry in the Prometheus text format, byte for byte what
 * `registry.metrics()` prints, but fast enough for 10,000 hosts × 8 checks (~130k series):
 * prom-client re-escapes and re-joins every label set on every scrape and the garbage dominates.
 * Here plain gauges and counters are read from prom-client's own series map (`hashMap`, keyed by
 * the label-set hash, stable in prom-client 15) and each series' line is cached until its value
 * changes, so a scrape mostly concatenates existing strings; the per-host gauges are
 * ComputedGauges and write their own lines. Anything else takes the public path.
 *
 * Memory matters as much as time here (~11 series per host stay cached for the process' life):
 * a cached line is one flat string. Built with `+`, V8 keeps a line as a tree of concatenation
 * nodes (~9 per line, 32 bytes each: ~1.5 KB per host); the prefix and label string it was made
 * of are not kept either, since a value change (rare: gauges move with check states) rebuilds
 * the line from the labels.
 */

type Labels = Record<string, string | number>;
interface Sample {
  value: number;
  labels?: Labels;
  metricName?: string;
  sharedLabels?: Labels;
}
interface MetricData {
  name: string;
  help: string;
  type: string;
  values?: Sample[];
}
interface SeriesEntry {
  value: number;
  line: string;
  seen: number;
}
interface PromMetric {
  name: string;
  help: string;
  type?: string;
  collect?: unknown;
  hashMap?: Record<string, Sample>;
  get(): Promise<MetricData> | MetricData;
  getForPromString?(): Promise<MetricData>;
  /** ComputedGauge: its series lines, written straight from the owner's state. */
  chunks?(): Iterable<string>;
}

const escapeString = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeLabel = (v: string | number) => (typeof v === "string" ? escapeLabelValue(v) : v);

function formatLabels(labels: Labels, exclude?: Labels): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (!exclude || !Object.hasOwn(exclude, k)) out.push(`${k}="${escapeLabel(v)}"`);
  }
  return out;
}

function labelString(sample: Sample): string {
  const labels = sample.labels ?? {};
  const shared = sample.sharedLabels;
  const parts =
    shared && Object.keys(shared).length > 0
      ? [...formatLabels(labels, shared), formatLabels(shared).join(",")].filter(Boolean)
      : formatLabels(labels);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** One series' line, as one flat string: Array#join allocates a sequential string, `+` does not. */
const seriesLine = (name: string, sample: Sample): string =>
  ["\n", name, labelString(sample), " ", formatValue(sample.value)].join("");

const seriesCache = new WeakMap<object, Map<string, SeriesEntry>>();
let generation = 0;

/** Lines of one gauge or counter without a collect callback, from cache where unchanged; page() groups them into chunks. */
function* fastSeries(metric: PromMetric, name: string, hashMap: Record<string, Sample>): Generator<string> {
  let cache = seriesCache.get(metric);
  if (!cache) {
    cache = new Map();
    seriesCache.set(metric, cache);
  }
  const gen = ++generation;
  let live = 0;
  for (const hash in hashMap) {
    const sample = hashMap[hash];
    if (!sample) continue; // removed while the page was being sent
    let entry = cache.get(hash);
    if (!entry) {
      entry = { value: sample.value, line: seriesLine(name, sample), seen: gen };
      cache.set(hash, entry);
    } else if (!Object.is(entry.value, sample.value)) {
      entry.value = sample.value;
      entry.line = seriesLine(name, sample);
    }
    entry.seen = gen;
    live++;
    yield entry.line;
  }
  // Series removed from the registry (host removed by a reload) leave the cache too — unless a
  // scrape that started later has marked entries since (pages stream, so two can interleave).
  if (gen === generation && cache.size > live) {
    for (const [hash, e] of cache) if (e.seen !== gen) cache.delete(hash);
  }
}

const isSimple = (m: PromMetric) => (m.type === "gauge" || m.type === "counter") && !m.collect && !!m.hashMap;

/**
 * The page in chunks of about CHUNK_CHARS characters, read from the registry as they are taken
 * (a stream's pace), so no scrape ever holds the whole page (~9 MB at 10,000 hosts × 8 checks)
 * as one string. Metrics that collect asynchronously (process metrics, queue counts) are read
 * before this resolves: their failure is an error answer, not a page cut short.
 */
export async function metricsChunks(registry: Registry): Promise<Iterable<string>> {
  // Default labels would have to be merged into every label set; no NixGuard registry sets them.
  const defaults = (registry as unknown as { _defaultLabels?: object })._defaultLabels;
  if (defaults && Object.keys(defaults).length > 0) return [await registry.metrics()];
  const metrics = registry.getMetricsAsArray() as unknown as PromMetric[];
  const collected = await Promise.all(
    metrics.map((m) =>
      m.chunks || isSimple(m) ? undefined : m.getForPromString ? m.getForPromString() : m.get(),
    ),
  );
  return page(metrics, collected);
}

function* page(metrics: PromMetric[], collected: (MetricData | undefined)[]): Generator<string> {
  let out = "";
  for (let i = 0; i < metrics.length; i++) {
    const metric = metrics[i] as PromMetric;
    const data = collected[i];
    const name = escapeString(data ? data.name : metric.name);
    out += `${i === 0 ? "" : "\n\n"}# HELP ${name} ${escapeString(data ? data.help : metric.help)}\n# TYPE ${name} ${data ? data.type : metric.type}`;
    const lines = data
      ? collectedLines(name, data)
      : metric.chunks
        ? metric.chunks()
        : fastSeries(metric, name, metric.hashMap as Record<string, Sample>);
    for (const text of lines) {
      out += text;
      if (out.length >= CHUNK_CHARS) {
        yield out;
        out = "";
      }
    }
  }
  yield `${out}\n`;
}

function* collectedLines(name: string, data: MetricData): Generator<string> {
  for (const s of data.values ?? [])
    yield `\n${s.metricName ?? name}${labelString(s)} ${formatValue(s.value)}`;
}

/** The whole page as one string (tests, benchmarks). */
export async function renderMetrics(registry: Registry): Promise<string> {
  let text = "";
  for (const chunk of await metricsChunks(registry)) text += chunk;
  return text;
}
