/**
 * nixops4's progress, read from its output in the real format (../shared/fediversity.md):
 * tracing's human format, one span per resource,
 *
 *   2026-11-23T10:00:00.123456Z  INFO Applying composite:Applying resource{resource=ComponentPath(["a", "b"])}: nixops4::work: new
 *   … (events of nested spans) …
 *   2026-11-23T10:00:07.654321Z  INFO Applying composite:Applying resource{resource=ComponentPath(["a", "b"])}: nixops4::work: close time.busy=1.2ms time.idle=7.5s
 *
 * on stdout before nixops4 3c20e61 (2026-05-19) and on stderr since — so both streams are read,
 * each line on its own. A `new` or `close` belongs to the innermost span of the line, which must
 * be `Applying resource` (a nested `creating resource` closing is not the resource finishing).
 * The preview nixops4 prints first ("The following resources … will be applied:" then
 * `  - a.b` lines, on stderr) gives the total.
 */
export type ProgressEvent =
  | { kind: "start"; path: string }
  | { kind: "finish"; path: string }
  | { kind: "planned"; path: string };

export interface ApplyProgress {
  /** Resources the preview listed (absent until nixops4 printed its preview). */
  planned?: number;
  started: number;
  finished: number;
  /** Dot paths started and not finished yet, in start order. */
  running: string[];
  /** The last resource that started or finished, e.g. `finished fediversity.mastodon`. */
  message: string;
}

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;
// `… <innermost span>{fields}: <target::path>: <new | close …>` at the end of a line.
const SPAN_EVENT =
  /(?:^|:)([A-Za-z][A-Za-z ]*?)(?:\{([^{}]*)\})?: [a-z0-9_]+(?:::[a-z0-9_]+)*: (new|close)\b/;
// The timestamp and level before the spans.
const PREFIX = /^\S*\s+(?:TRACE|DEBUG|INFO|WARN|ERROR)\s+/;
const COMPONENT_PATH = /resource=ComponentPath\((\[.*\])\)/;
const PLAIN_PATH = /resource=([A-Za-z0-9_.-]+)/;
const PREVIEW_HEADER = "The following resources (and nested composites, if any) will be applied:";
const PREVIEW_ITEM = /^ {2}- (\S+)$/;

/** The dot path of a span's `resource=` field: Debug of ComponentPath, or a plain path. */
export function resourcePath(fields: string): string | undefined {
  const cp = COMPONENT_PATH.exec(fields);
  if (cp?.[1]) {
    try {
      const segments = JSON.parse(cp[1]) as unknown;
      if (Array.isArray(segments) && segments.every((s) => typeof s === "string"))
        return segments.length === 0 ? "(root)" : segments.join(".");
    } catch {
      return undefined;
    }
    return undefined;
  }
  return PLAIN_PATH.exec(fields)?.[1];
}

/** A resource span's start or end, from one line (undefined for every other line). */
export function parseSpanLine(line: string): ProgressEvent | undefined {
  const m = SPAN_EVENT.exec(line.replace(ANSI, "").trimEnd().replace(PREFIX, ""));
  if (m?.[1] !== "Applying resource" || m[2] === undefined) return undefined;
  const path = resourcePath(m[2]);
  if (!path) return undefined;
  return { kind: m[3] === "new" ? "start" : "finish", path };
}

/** Follows one apply's lines (either stream, in the order read) and keeps the count. */
export class ProgressTracker {
  private readonly planned = new Set<string>();
  private previewing = false;
  private sawPreview = false;
  private readonly running: string[] = [];
  private started = 0;
  private finished = 0;
  private message = "";

  /** Feeds one line; returns the event it was, if any. */
  push(line: string): ProgressEvent | undefined {
    const text = line.replace(ANSI, "").trimEnd();
    if (text === PREVIEW_HEADER) {
      this.previewing = true;
      this.sawPreview = true;
      return undefined;
    }
    if (text === "Composite contains no resources; nothing to apply.") {
      this.sawPreview = true;
      return undefined;
    }
    if (this.previewing) {
      const item = PREVIEW_ITEM.exec(text);
      if (item?.[1] && !item[1].startsWith("*")) {
        this.planned.add(item[1]);
        return { kind: "planned", path: item[1] };
      }
      this.previewing = false;
    }
    const e = parseSpanLine(text);
    if (e?.kind === "start") {
      this.started++;
      this.running.push(e.path);
      this.message = `started ${e.path}`;
    } else if (e?.kind === "finish") {
      const i = this.running.indexOf(e.path);
      if (i >= 0) this.running.splice(i, 1);
      this.finished++;
      this.message = `finished ${e.path}`;
    }
    return e;
  }

  snapshot(): ApplyProgress {
    return {
      ...(this.sawPreview ? { planned: this.planned.size } : {}),
      started: this.started,
      finished: this.finished,
      running: this.running.slice(0, 50),
      message: this.message,
    };
  }
}

/** A job's stored progress (BullMQ keeps whatever was given), checked before it is shown. */
export function isApplyProgress(v: unknown): v is ApplyProgress {
  if (v === null || typeof v !== "object") return false;
  const p = v as Record<string, unknown>;
  return (
    typeof p["started"] === "number" &&
    typeof p["finished"] === "number" &&
    Array.isArray(p["running"]) &&
    typeof p["message"] === "string"
  );
}
