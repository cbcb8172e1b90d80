import type { FleetStatus, PlannedAction } from "../api/control-plane-port.js";
import type { HostHealth, NixGuardEvent } from "../controller/types.js";

/** Plain-text tables for people (`--json` prints the API's JSON for scripts instead). */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? "" : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return `${cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? "").padEnd(widths[i]!))).join("  ")).join("\n")}\n`;
}

const iso = (ms: number | undefined) =>
  ms === undefined ? "" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

export function formatStatus(s: FleetStatus): string {
  const leader = s.leader.known
    ? s.leader.self
      ? "this process"
      : (s.leader.id ?? "another process")
    : "none";
  const pauses = s.pauses.map(
    (p) => `${scopeText(p.scope)} (${p.reason}, by ${p.actor}${p.until ? `, until ${iso(p.until)}` : ""})`,
  );
  const lines = [
    `mode         ${s.mode}`,
    `leader       ${leader}`,
    `breaker      ${s.breaker.open ? `OPEN (${Math.round(s.breaker.unhealthyFraction * 100)}% unhealthy)` : "closed"}`,
    `paused       ${pauses.length ? pauses.join("; ") : "no"}`,
    `maintenance  ${s.maintenance.length ? s.maintenance.map((m) => `${m.deployment ?? "all"} until ${iso(m.until)}`).join("; ") : "no"}`,
    `quarantined  ${s.quarantined.length ? s.quarantined.map((q) => (q.host ? `${q.deployment}/${q.host}` : q.deployment)).join(", ") : "none"}`,
    `hosts        ${Object.entries(s.hosts)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `queue        ${Object.entries(s.queue)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  ];
  return `${lines.join("\n")}\n`;
}

function scopeText(scope: FleetStatus["pauses"][number]["scope"]): string {
  if (scope.kind === "global") return "global";
  if (scope.kind === "deployment") return `deployment ${scope.deployment}`;
  return `host ${scope.deployment ? `${scope.deployment}/` : ""}${scope.host}`;
}

export function formatHosts(hosts: HostHealth[]): string {
  if (hosts.length === 0) return "no hosts\n";
  return table(
    ["DEPLOYMENT", "HOST", "STATE", "SINCE", "REASONS"],
    hosts.map((h) => [h.deployment, h.host, h.state, iso(h.since), h.reasons.join("; ")]),
  );
}

export function formatActions(actions: PlannedAction[]): string {
  if (actions.length === 0) return "nothing to do: every host matches its desired state\n";
  return table(
    ["ACTION", "DEPLOYMENT", "HOST", "DECISION", "JOB"],
    actions.map((a) => [
      a.action.kind,
      a.action.deployment,
      a.action.kind === "redeploy" ? (a.action.host ?? a.action.target) : a.action.host,
      a.decision === "blocked" ? `blocked (${a.blockedBy})` : a.decision,
      a.jobId,
    ]),
  );
}

export function formatEvents(events: NixGuardEvent[]): string {
  if (events.length === 0) return "no events\n";
  return table(
    ["TIME", "KIND", "DEPLOYMENT", "HOST", "ACTION", "OUTCOME", "ACTOR", "REASON"],
    events.map((e) => [iso(e.time), e.kind, e.deployment, e.host, e.action, e.outcome, e.actor, e.reason]),
  );
}
