import type { NixGuardEvent } from "../controller/types.js";

/**
 * The demo's readable lines: one per event, `time  host  WHAT  details`, instead of raw JSON
 * logs. Pure: the caller decides where lines go and whether they are coloured.
 */
export type Tone = "plain" | "bad" | "good" | "act" | "note" | "title";

export interface Line {
  time: number;
  host: string;
  tag: string;
  text: string;
  tone: Tone;
}

const TAGS: Partial<Record<NixGuardEvent["kind"], { tag: string; tone: Tone }>> = {
  detect: { tag: "DETECTED", tone: "bad" },
  unreachable: { tag: "UNREACHABLE", tone: "bad" },
  drift: { tag: "DRIFT", tone: "bad" },
  action: { tag: "DECIDED", tone: "act" },
  blocked: { tag: "BLOCKED", tone: "note" },
  outcome: { tag: "OUTCOME", tone: "act" },
  recover: { tag: "HEALTHY", tone: "good" },
  quarantine: { tag: "QUARANTINE", tone: "bad" },
  breaker: { tag: "BREAKER", tone: "bad" },
  decision: { tag: "RESET", tone: "note" },
  pause: { tag: "PAUSE", tone: "note" },
  cause: { tag: "CAUSE", tone: "bad" },
  hold: { tag: "HOLD", tone: "note" },
};

/** The line for an event, or undefined for events the demo does not show (leader, config). */
export function eventLine(e: NixGuardEvent): Line | undefined {
  const t = TAGS[e.kind];
  if (!t) return undefined;
  const host = e.host ?? e.deployment ?? "fleet";
  return { time: e.time, host, tag: t.tag, text: describe(e), tone: t.tone };
}

/** Store paths without their hash, ISO times as clock times: the parts a reader compares. */
export function tidy(text: string): string {
  return text
    .replace(/\/nix\/store\/[0-9a-df-np-sv-z]{32}-/g, "")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, (iso) => clock(Date.parse(iso)));
}

function describe(e: NixGuardEvent): string {
  const reason = tidy(e.reason ?? "");
  switch (e.kind) {
    case "action": {
      const queued = e.outcome === "added" ? "queued" : (e.outcome ?? "queued");
      const by =
        e.actor && e.actor !== "controller" && !reason.startsWith("requested by")
          ? `, asked by ${e.actor}`
          : "";
      return `${e.action} — ${reason} → ${queued}${by}`;
    }
    case "outcome": {
      // The controller appends what the immediate re-probe saw; hysteresis may need more probes.
      const text = reason.replace(/ \(after: [^)]*\)$/, " (verifying: not healthy yet)");
      return `${e.action} ${e.outcome}: ${text}`;
    }
    case "drift":
      return `${reason} → policy: ${e.outcome ?? "redeploy"}`;
    case "breaker":
      return `${e.outcome === "open" ? "opened, remediation paused" : "closed"}: ${reason}`;
    case "quarantine":
      return `no more automatic action: ${reason}`;
    default:
      return reason;
  }
}

const COLOURS: Record<Tone, [string, string]> = {
  plain: ["", ""],
  bad: ["\x1b[31m", "\x1b[0m"],
  good: ["\x1b[32m", "\x1b[0m"],
  act: ["\x1b[36m", "\x1b[0m"],
  note: ["\x1b[2m", "\x1b[0m"],
  title: ["\x1b[1m", "\x1b[0m"],
};

export function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function renderLine(l: Line, colour: boolean): string {
  const [on, off] = colour ? COLOURS[l.tone] : ["", ""];
  return `${clock(l.time)}  ${l.host.padEnd(11)} ${on}${l.tag.padEnd(11)}${off} ${l.text}`;
}
