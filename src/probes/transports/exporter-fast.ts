/**
 * The wanted families of a node_exporter page read without the maintained parser, for pages in
 * the exposition format's canonical form (what node_exporter and client_golang print). The
 * maintained parser builds every sample's name, labels and value one character at a time; at
 * 10,000 hosts that was ~70 KB of garbage per host probe, the largest allocation on the probe
 * path. This reader gives exactly what parseNodeExporter read from that parser — families grouped
 * by consecutive lines, the last group of a name winning, a sample with the labels of the one
 * before it overwriting its value — and answers undefined at the first line outside the strict
 * canonical form (odd spacing, a timestamp, an unknown escape, a summary or histogram TYPE, a
 * label syntax the parser would reject…), so that page goes to the maintained parser as before.
 */

/** The parts of a parsed family parseNodeExporter reads (a subset of the parser's output). */
export interface Family {
  name: string;
  metrics: Sample[];
}

export interface Sample {
  value?: string | undefined;
  labels?: Record<string, string> | undefined;
}

export interface WantedFamilies {
  byName: Map<string, Family>;
  inactiveStates: number;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL_VALUE = '"(?:[^"\\\\]|\\\\[\\\\"n])*"';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE}`;
/** `name value` or `name{l="v",…} value`: one space, no timestamp, known escapes only. */
const SAMPLE_LINE = new RegExp(`^(?:${NAME})(?:\\{(${LABEL}(?:,${LABEL})*)\\})? (\\S+)$`);
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"/g;
const ESCAPE = /\\([\\"n])/g;
const unescapeLabel = (v: string) =>
  v.includes("\\") ? v.replace(ESCAPE, (_, c) => (c === "n" ? "\n" : c)) : v;

export interface LineFilter {
  wanted: ReadonlySet<string>;
  isInactiveState: (line: string) => boolean;
  familyOf: (line: string) => string | undefined;
}

/**
 * Calls `onLine` for each line of a wanted family, in order; `isInactiveState` lines are counted,
 * not passed. Returns that count, or undefined as soon as `onLine` answers false.
 */
export function eachWantedLine(
  text: string,
  filter: LineFilter,
  onLine: (line: string, family: string) => boolean,
): number | undefined {
  let inactiveStates = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (filter.isInactiveState(line)) {
      inactiveStates++;
      continue;
    }
    const name = filter.familyOf(line);
    if (name !== undefined && filter.wanted.has(name) && !onLine(line, name)) return undefined;
  }
  return inactiveStates;
}

/** The wanted families of a page; undefined when any wanted line is not in canonical form. */
export function readWantedFamilies(text: string, filter: LineFilter): WantedFamilies | undefined {
  const byName = new Map<string, Family>();
  let current: Family | undefined;
  const inactiveStates = eachWantedLine(text, filter, (line, name) => {
    const t = line.trim();
    let sample: Sample | undefined;
    if (t.charCodeAt(0) === 35 /* # */) {
      // familyOf kept only `# HELP name…` / `# TYPE name…`; the parser needs a space after the name.
      const rest = t.slice(7 + name.length);
      if (rest.charCodeAt(0) !== 32) return false;
      if (t.startsWith("# TYPE ")) {
        const type = rest.slice(1).toUpperCase();
        // A summary or histogram groups suffixed names into its family; not read here.
        if (type.includes(" ") || type === "SUMMARY" || type === "HISTOGRAM") return false;
      }
    } else {
      const m = SAMPLE_LINE.exec(t);
      // familyOf's name is this line's prefix up to `{` or a space, which NAME matches exactly.
      if (!m) return false;
      sample = { value: m[2] };
      const labelText = m[1];
      if (labelText !== undefined) {
        const labels: Record<string, string> = {};
        LABEL_PAIR.lastIndex = 0;
        for (let p = LABEL_PAIR.exec(labelText); p; p = LABEL_PAIR.exec(labelText)) {
          labels[p[1] as string] = unescapeLabel(p[2] as string);
        }
        sample.labels = labels;
      }
    }
    if (current?.name !== name) {
      current = { name, metrics: [] };
      byName.set(name, current);
    }
    if (!sample) return true;
    const last = current.metrics[current.metrics.length - 1];
    if (last && sameLabels(last.labels, sample.labels)) last.value = sample.value;
    else current.metrics.push(sample);
    return true;
  });
  return inactiveStates === undefined ? undefined : { byName, inactiveStates };
}

/** shallow-equal's shallowEqualObjects, which the parser uses to merge a repeated series. */
function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  for (const k of ak) if (a[k] !== b[k] || !Object.hasOwn(b, k)) return false;
  return true;
}
