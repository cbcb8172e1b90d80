import type {
  DeploymentSummary,
  FleetStatus,
  HostGenerationsInfo,
  JobInfo,
  PlannedAction,
} from "../api/control-plane-port.js";
import type { HostHealth, NixGuardEvent } from "../controller/types.js";
import type { HostObservation } from "../probes/types.js";
import { age } from "./age.js";

/** Plain-text tables for people (`-o json` prints the API's JSON for scripts instead). */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined ? "" : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return `${cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? "").padEnd(widths[i]!))).join("  ")).join("\n")}\n`;
}

export const iso = (ms: number | undefined) =>
  ms === undefined ? "" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/** A time column: relative age for people, the ISO time in wide output. */
const when = (ms: number | undefined, now: number, wide: boolean) => (wide ? iso(ms) : age(ms, now));

export function formatStatus(s: FleetStatus, now: number): string {
  const leader = s.leader.known
    ? s.leader.self
      ? "this process"
      : (s.leader.id ?? "another process")
    : "none";
  const pauses = s.pauses.map(
    (p) =>
      `${scopeText(p.scope)} (${p.reason}, by ${p.actor}, ${age(p.since, now)} ago${p.until ? `, until ${iso(p.until)}` : ""})`,
  );
  const lines = [
    `mode         ${s.mode}`,
    `leader       ${leader}`,
    `breaker      ${s.breaker.open ? `OPEN (${Math.round(s.breaker.unhealthyFraction * 100)}% unhealthy)` : "closed"}`,
    `paused       ${pauses.length ? pauses.join("; ") : "no"}`,
    `maintenance  ${s.maintenance.length ? s.maintenance.map((m) => `${m.deployment ?? "all"} until ${iso(m.until)}`).join("; ") : "no"}`,
    `quarantined  ${s.quarantined.length ? s.quarantined.map((q) => `${q.host ? `${q.deployment}/${q.host}` : q.deployment} (${age(q.since, now)})`).join(", ") : "none"}`,
    `held         ${s.held?.length ? s.held.map((h) => `${h.deployment}/${h.host} at ${generationName(h.to)} (${generationName(h.bad)} broke ${h.reason}; ${age(h.since, now)})`).join("; ") : "none"}`,
    `hosts        ${Object.entries(s.hosts)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `queue        ${Object.entries(s.queue)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  ];
  // What nixops4 answered at start, per deployment: its CLI generation, or why it could not tell.
  for (const n of s.nixops4 ?? [])
    lines.push(
      `nixops4      ${n.deployment}: ${n.generation ? `${n.generation} CLI, ` : ""}${n.state === "ok" ? "targets ok" : n.state === "unknown" ? `no answer yet (${n.error ?? "?"})` : n.state === "refused" ? `refuses ${(n.problems ?? []).join("; ")}` : "not asked yet"}`,
    );
  // Who probes what: each probing process, its share of the hosts and its last heartbeat.
  for (const m of s.probing?.members ?? [])
    lines.push(
      `prober       ${m.id}${m.id === s.probing?.self ? " (this process)" : ""}${m.hostname ? ` on ${m.hostname}` : ""}${m.pid ? ` pid ${m.pid}` : ""}: ${m.alive ? `${m.hosts} host(s)` : "dead"}, heartbeat ${age(m.heartbeatAt, now)} ago`,
    );
  return `${lines.join("\n")}\n`;
}

function scopeText(scope: FleetStatus["pauses"][number]["scope"]): string {
  if (scope.kind === "global") return "global";
  if (scope.kind === "deployment") return `deployment ${scope.deployment}`;
  return `host ${scope.deployment ? `${scope.deployment}/` : ""}${scope.host}`;
}

export function formatHosts(hosts: HostHealth[], now: number, wide: boolean): string {
  if (hosts.length === 0) return "no hosts\n";
  return table(
    ["DEPLOYMENT", "HOST", "STATE", wide ? "SINCE" : "AGE", "REASONS"],
    hosts.map((h) => [h.deployment, h.host, h.state, when(h.since, now, wide), h.reasons.join("; ")]),
  );
}

export function formatDeployments(list: DeploymentSummary[], now: number, wide: boolean): string {
  if (list.length === 0) return "no deployments\n";
  const counts = (d: DeploymentSummary) =>
    Object.entries(d.hosts)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(", ");
  const flags = (d: DeploymentSummary) =>
    [d.paused ? "paused" : "", d.quarantined ? "quarantined" : ""].filter(Boolean).join(",");
  const last = (d: DeploymentSummary) =>
    d.lastDeploy
      ? `${d.lastDeploy.outcome} ${when(d.lastDeploy.finishedAt, now, wide)}${wide ? "" : " ago"}`
      : "";
  return table(
    ["NAME", "HOSTS", "FLAGS", "LAST DEPLOY", ...(wide ? ["TARGET", "FLAKE"] : [])],
    list.map((d) => [d.name, counts(d), flags(d), last(d), ...(wide ? [d.target, d.flake] : [])]),
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

export function formatJobs(jobs: JobInfo[], now: number, wide: boolean): string {
  if (jobs.length === 0) return "no jobs\n";
  const duration = (j: JobInfo) => (j.startedAt === undefined ? "" : age(j.startedAt, j.finishedAt ?? now));
  return table(
    [
      "JOB",
      "STATE",
      "OUTCOME",
      "AGE",
      "DURATION",
      "ACTOR",
      ...(wide ? ["REQUESTED", "REASON", "MESSAGE"] : []),
    ],
    jobs.map((j) => [
      j.id,
      j.state,
      j.outcome,
      age(j.requestedAt, now),
      duration(j),
      j.actor,
      ...(wide ? [iso(j.requestedAt), j.reason, j.message] : []),
    ]),
  );
}

export function formatEvents(events: NixGuardEvent[], now: number, wide: boolean): string {
  if (events.length === 0) return "no events\n";
  return table(
    [
      wide ? "TIME" : "AGE",
      "KIND",
      "DEPLOYMENT",
      "HOST",
      "ACTION",
      "OUTCOME",
      "ACTOR",
      "REASON",
      ...(wide ? ["JOB"] : []),
    ],
    events.map((e) => [
      when(e.time, now, wide),
      e.kind,
      e.deployment,
      e.host,
      e.action,
      e.outcome,
      e.actor,
      e.reason,
      ...(wide ? [e.jobId] : []),
    ]),
  );
}

export function formatObservation(o: HostObservation, now: number): string {
  const head = `${o.deployment}/${o.host}: ${o.reachable ? "reachable" : `unreachable (${o.error?.message ?? "no answer"})`}, probed ${age(o.at, now)} ago in ${o.durationMs} ms\n`;
  const units = Object.entries(o.facts?.units ?? {}).map(([name, u]) => [
    "unit",
    name,
    `${u.activeState}${u.subState ? `/${u.subState}` : ""}`,
  ]);
  const http = o.http.map((h) => ["http", h.check, h.reason]);
  const rows = [...units, ...http];
  return rows.length === 0 ? head : head + table(["KIND", "CHECK", "STATE"], rows);
}

/** `nixos-system-web-25.05.20250601.abc1234` of a store path (the hash says nothing to people). */
const generationName = (path: string) => path.replace(/^\/nix\/store\/[0-9a-z]{32}-/, "");

export function formatGenerations(g: HostGenerationsInfo, now: number, wide: boolean): string {
  const head = g.hold
    ? `${g.deployment}/${g.host} HELD at ${generationName(g.hold.to)} since ${when(g.hold.since, now, wide)}: ${generationName(g.hold.bad)} broke ${g.hold.reason}\n`
    : "";
  if (g.generations.length === 0) return `${head}no generations seen yet\n`;
  return (
    head +
    table(
      ["", "GENERATION", "SINCE", "BY", "VERDICT", "REASON", ...(wide ? ["STORE PATH", "CAUSE"] : [])],
      g.generations.map((e) => [
        e.path === g.current ? "*" : "",
        generationName(e.path),
        when(e.since, now, wide),
        e.by,
        e.verdict,
        e.reason,
        ...(wide ? [e.path, e.cause] : []),
      ]),
    )
  );
}
