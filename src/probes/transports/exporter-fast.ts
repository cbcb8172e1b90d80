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
const SAMPLE_LINE = new RegExp(`^(?:${NAME})(?:\\{${LABEL}(?:,${LABEL})*\\})? \\S+$`);
const ESCAPE = /\\([\\"n])/g;
const unescapeLabel = (v: string) =>
  v.includes("\\") ? v.replace(ESCAPE, (_, c) => (c === "n" ? "\n" : c)) : v;

export interface LineFilter {
  /** The family names read; every other line is skipped unread. */
  wanted: readonly string[];
  /** Whether text[start, end) is a line that can only say "not in this state" (counted, not read). */
  isInactiveState: (text: string, start: number, end: number) => boolean;
}

/** Anything String#trim might remove is in here (conservatively: all but printable ASCII). */
const mayTrim = (c: number) => c <= 32 || c >= 127;

/**
 * Calls `onLine` for each line of a wanted family, in order; `isInactiveState` lines are counted,
 * not passed. Returns that count, or undefined as soon as `onLine` answers false. Lines are read
 * in place: only a wanted line becomes a string of its own (a slice per line of the page, and a
 * name per line to look up, were a page's largest garbage).
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
    const from = start;
    start = end + 1;
    if (filter.isInactiveState(text, from, end)) {
      inactiveStates++;
      continue;
    }
    // The parser trims every line; most need nothing trimmed, and those are not copied for it.
    let src = text;
    let a = from;
    let b = end;
    if (b > a && (mayTrim(text.charCodeAt(a)) || mayTrim(text.charCodeAt(b - 1)))) {
      src = text.slice(from, end).trim();
      a = 0;
      b = src.length;
    }
    if (a >= b) continue;
    const name = wantedFamilyAt(src, a, b, filter.wanted);
    if (name !== undefined && !onLine(text.slice(from, end), name)) return undefined;
  }
  return inactiveStates;
}

/**
 * The wanted family the trimmed line text[a, b) belongs to — the name of a `# HELP`/`# TYPE`
 * comment, or a sample's name (up to `{`, a space or a tab) — as the wanted list's own string;
 * undefined for any other line (blank lines and other comments included).
 */
function wantedFamilyAt(text: string, a: number, b: number, wanted: readonly string[]): string | undefined {
  let from = a;
  let to = a;
  if (text.charCodeAt(a) === 35 /* # */) {
    if (!text.startsWith("# HELP ", a) && !text.startsWith("# TYPE ", a)) return undefined;
    from = a + 7;
    to = text.indexOf(" ", from);
    if (to === -1 || to > b) to = b;
  } else {
    for (; to < b; to++) {
      const c = text.charCodeAt(to);
      if (c === 123 /* { */ || c === 32 || c === 9) break;
    }
  }
  const length = to - from;
  for (const w of wanted) if (w.length === length && text.startsWith(w, from)) return w;
  return undefined;
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
      // familyOf's name is this line's prefix up to `{` or a space, which NAME matches exactly.
      // Validated by the pattern, then read by position: exec's match arrays and a second pattern
      // per label pair were most of a page's garbage.
      if (!SAMPLE_LINE.test(t)) return false;
      sample = readSample(t, name.length);
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

/**
 * The value and labels of a line SAMPLE_LINE accepted: `name value` or `name{l="v",…} value`,
 * one space before the value (which has none), label names without `=`, values whose only
 * escapes are \\, \" and \n (a `"` in a value is always escaped): positions alone find each part.
 */
function readSample(t: string, nameEnd: number): Sample {
  const sp = t.lastIndexOf(" ");
  const value = t.slice(sp + 1);
  if (t.charCodeAt(nameEnd) !== 123 /* { */) return { value, labels: undefined };
  const labels: Record<string, string> = {};
  // Pairs run from after `{` to the `}` before the space.
  for (let i = nameEnd + 1; i < sp - 1; ) {
    const eq = t.indexOf("=", i);
    let j = eq + 2; // past `="`
    for (let c = t.charCodeAt(j); c !== 34; c = t.charCodeAt(j)) j += c === 92 /* \\ */ ? 2 : 1;
    labels[t.slice(i, eq)] = unescapeLabel(t.slice(eq + 2, j));
    i = j + 2; // past `"` and `,` (or `}`)
  }
  return { value, labels };
}

/** shallow-equal's shallowEqualObjects, which the parser uses to merge a repeated series. */
function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  // Counted with for-in rather than two Object.keys arrays per line (label objects are plain).
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k] || !Object.hasOwn(b, k)) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}
