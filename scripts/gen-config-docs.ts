/**
 * Writes docs/configuration.md from docs/config.schema.json (itself written by
 * scripts/gen-schema.ts from src/config/schema.ts): one table per top-level section,
 * one row per key, with type, default and description.
 * `--check` fails when the checked-in file is not current (CI).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minItems?: number;
  minLength?: number;
  maxLength?: number;
}

interface Row {
  key: string;
  type: string;
  required: boolean;
  default?: unknown;
  description: string;
}

/** What each section is for: the schema describes keys, not sections. */
const SECTIONS: Record<string, string> = {
  redis:
    "Where NixGuard keeps its queue, state, leases and events. Every NixGuard process of one installation shares it. The NixOS module sets `url` to its local Redis socket.",
  state: "Local directories. The NixOS module fixes them to its `StateDirectory=` and `RuntimeDirectory=`.",
  log: "Logging to stdout as JSON lines (pino); secrets are redacted.",
  api: "The REST API and `/metrics`, `/healthz`, `/readyz` on one listener. Tokens are files, never values.",
  probes: "How hosts are observed: one transport call per host per cycle, plus its HTTP checks.",
  remediation:
    "What NixGuard does about failures (the ladder: restart, redeploy, quarantine) and the gates every action passes.",
  schedule: "Redeploys on a timetable, through the same queue and gates as automatic ones.",
  nixops4: "How `nixops4 apply` runs for redeploys.",
  ssh: "Defaults for the ssh transport; a host may override user, port, identity and known hosts.",
  worker: "The queue worker that runs restarts and redeploys.",
  leader: "Controller fail-over through a Redis lease when several controllers share one Redis.",
  notify: "Webhooks for selected events.",
  deployments:
    "The desired state: deployments (one nixops4 flake directory each), their hosts, and what to check on each host.",
};

/**
 * Prose for keys whose schema entry has no description of its own (or only the
 * generic one of its type). Used only where the schema is silent: descriptions in
 * src/config/schema.ts win.
 */
const NOTES: Record<string, string> = {
  "state.dir": "State directory (the private Redis, when `redis.url` is unset, keeps its data here)",
  schedule: "Scheduled redeploys",
  notify: "Webhooks: a JSON POST per selected event",
  "deployments.<name>.fediversity.garage.enable": "Garage runs in this deployment",
  "deployments.<name>.fediversity.mastodon.enable": "Mastodon runs in this deployment",
  "deployments.<name>.fediversity.pixelfed.enable": "Pixelfed runs in this deployment",
  "deployments.<name>.fediversity.peertube.enable": "PeerTube runs in this deployment",
  "deployments.<name>.fediversity.gotosocial.enable": "GoToSocial runs in this deployment",
  "deployments.<name>.hosts.<host>.serviceOptions.<service>.scheme":
    "Scheme of the public URL; default https",
  "deployments.<name>.hosts.<host>.serviceOptions.<service>.checks":
    "Adjustments of the service's HTTP checks by name",
  "deployments.<name>.hosts.<host>.serviceOptions.<service>.checks.<check>.enable": "false drops the check",
  "deployments.<name>.hosts.<host>.serviceOptions.<service>.checks.<check>.url":
    "Full URL instead of the derived one",
  "deployments.<name>.hosts.<host>.serviceOptions.<service>.checks.<check>.path":
    "Path on the service's hostname",
  "deployments.<name>.hosts.<host>.serviceOptions.<service>.checks.<check>.expectStatus":
    "Accepted status codes",
  "deployments.<name>.hosts.<host>.serviceOptions.<service>.checks.<check>.expectBody":
    "Substring the body must contain",
  "api.listen": "`HOST:PORT` of the API and metrics listener; `[::]:9273` for IPv6",
  "api.tokens": "Bearer tokens, each read from a file; `read` may query, `admin` may also act",
  "api.tokens[].name":
    "Shown in the audit trail of manual actions; unset: the file's name. Unique across tokens",
  "api.tokens[].file": "File holding the token (mode 0400, outside any store)",
  "api.tokens[].scope": "`read`: state, hosts, events; `admin`: also pause, resume, reconcile, quarantine",
  "api.bodyLimit": "Largest accepted request body, bytes",
  "api.rateLimit.max": "Requests per client per window",
  "api.rateLimit.window": "Rate-limit window",
  "log.level": "Minimum level logged",
  "probes.interval": "Time between two probe cycles of one host",
  "probes.timeout": "Deadline of one probe (transport call or HTTP check)",
  "probes.jitter": "Random spread of each interval, as a fraction of it",
  "probes.concurrency": "Probes in flight at once, over all hosts",
  "probes.failureThreshold": "Consecutive failures before a check counts as failing",
  "probes.successThreshold": "Consecutive successes before a failing check counts as healthy",
  "probes.thresholds.diskUsedFraction": "Host facts: disk use above this marks the host degraded",
  "probes.thresholds.loadPerCpu": "Host facts: 1-minute load per CPU above this marks the host degraded",
  "probes.thresholds.memoryUsedFraction": "Host facts: memory use above this marks the host degraded",
  "remediation.mode":
    "`enforce` acts; `dry-run` plans and records what it would do; `observe` only watches and alerts",
  "remediation.restartAttempts":
    "Unit restarts per host within `restartWindow` before escalating to a redeploy",
  "remediation.restartWindow": "Window `restartAttempts` is counted in",
  "remediation.settle":
    "After an action, how long its deployment gets no further automatic action, and failures on the hosts the action touched are recorded but not counted",
  "remediation.backoff.initial": "First delay before repeating an action on the same key",
  "remediation.backoff.factor": "Growth of the delay per repeated action",
  "remediation.backoff.max": "Largest delay",
  "remediation.budget.deployment.max": "Actions per deployment per window",
  "remediation.budget.deployment.window": "Window of the per-deployment budget",
  "remediation.budget.global.max": "Actions over all deployments per window",
  "remediation.budget.global.window": "Window of the global budget",
  "remediation.breaker.unhealthyFraction":
    "More than this fraction of hosts bad at once opens the circuit breaker: all remediation pauses",
  "remediation.breaker.minHosts": "The breaker only judges fleets of at least this many hosts",
  "remediation.quarantine.cooldown": "A quarantined host or deployment is released after this long",
  "remediation.drift":
    "When /run/current-system changes behind NixGuard's back: redeploy, only alert, or ignore",
  "remediation.maintenance": "Windows in which no automatic action runs",
  "remediation.maintenance[].duration": "Length of each window from its cron start",
  "remediation.maintenance[].deployments": "Deployments the window applies to; all when omitted",
  "schedule[].action": "Only `redeploy` for now",
  "schedule[].deployments": "Deployments to redeploy",
  "nixops4.command": "nixops4 executable: a name looked up in PATH or an absolute path",
  "nixops4.timeout": "An apply running longer is stopped and counted as failed",
  "nixops4.killGrace": "Time between SIGTERM and SIGKILL for a nixops4 that must stop",
  "ssh.command": "ssh executable: a name looked up in PATH or an absolute path",
  "ssh.user": "Remote user; systemd unit restarts need root or a matching polkit rule",
  "ssh.port": "Remote port",
  "ssh.identityFile": "Private key file (NixOS module: a systemd credential)",
  "ssh.knownHostsFile": "known_hosts file; host keys are always checked",
  "ssh.connectTimeout": "TCP connect deadline",
  "ssh.controlPersist": "How long an idle ssh master connection is kept for reuse (ssh.session per-probe)",
  "worker.concurrency": "Jobs one worker runs at once (applies are still one per flake directory)",
  "worker.shutdownGrace": "On SIGTERM, how long a running apply may finish before it is stopped",
  "worker.logLimitBytes": "Output kept per job (deploy log), bytes",
  "leader.lease": "Leader lease length",
  "leader.renew": "Renewal interval of the lease; shorter than `lease`",
  "notify[].events": "Event kinds sent to this URL",
  "notify[].timeout": "Deadline of one delivery",
  "notify[].retries": "Retries of a failed delivery",
  deployments: "Deployments by name",
  "deployments.<name>.fediversity":
    "Fediversity deployment settings: enabled services expand to hosts' checks",
  "deployments.<name>.hosts": "Hosts by name",
  "deployments.<name>.hosts.<host>.user": "Overrides `ssh.user`",
  "deployments.<name>.hosts.<host>.port": "Overrides `ssh.port`",
  "deployments.<name>.hosts.<host>.identityFile": "Overrides `ssh.identityFile`",
  "deployments.<name>.hosts.<host>.knownHostsFile": "Overrides `ssh.knownHostsFile`",
  "deployments.<name>.hosts.<host>.services":
    "Catalog services on this host; each adds its units and HTTP checks",
  "deployments.<name>.hosts.<host>.serviceOptions": "Per-service adjustments of the catalog",
  "deployments.<name>.hosts.<host>.units": "Extra systemd units that must be active",
  "deployments.<name>.hosts.<host>.http": "Extra HTTP checks",
  "deployments.<name>.hosts.<host>.http[].method": "HTTP method",
  "deployments.<name>.hosts.<host>.http[].expectStatus": "Accepted status codes",
  "deployments.<name>.hosts.<host>.http[].followRedirects": "Follow redirects before judging",
  "deployments.<name>.hosts.<host>.http[].tlsVerify": "Verify the TLS certificate",
  "deployments.<name>.hosts.<host>.http[].caFile": "CA bundle for this check",
  "deployments.<name>.hosts.<host>.http[].bearerTokenFile":
    "File with a bearer token sent with the request; on redirects only to the check URL's own origin",
};

/** Generic descriptions that only name the type: shown as the type instead. */
const TYPE_DESCRIPTIONS: [RegExp, string][] = [
  [/^Duration:/, "duration"],
  [/^Absolute path without shell metacharacters$/, "path"],
];

const KEY_NAMES: Record<string, string> = {
  deployments: "<name>",
  hosts: "<host>",
  serviceOptions: "<service>",
  checks: "<check>",
};

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n+/g, " ");
}

/** Prose cells: a bare `<service>` would be read as an HTML tag. */
function prose(text: string): string {
  return cell(text).replace(/</g, "&lt;");
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(" | ");
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return alternatives.map(typeOf).join(" or ");
  const t = Array.isArray(s.type) ? s.type.join(" or ") : (s.type ?? "any");
  if (t === "array") return `array of ${s.items ? typeOf(s.items) : "any"}`;
  if (t === "object" && isMap(s)) return `map of ${typeOf(s.additionalProperties as JsonSchema)}`;
  for (const [re, name] of TYPE_DESCRIPTIONS) if (re.test(s.description ?? "")) return name;
  // zod writes "no bound" on integers as ±MAX_SAFE_INTEGER.
  const min = s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER ? s.minimum : undefined;
  const max = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
  if (min !== undefined && max !== undefined) return `${t} (${min}–${max})`;
  if (min !== undefined) return `${t} (≥ ${min})`;
  if (max !== undefined) return `${t} (≤ ${max})`;
  return t;
}

function isMap(s: JsonSchema): boolean {
  return typeof s.additionalProperties === "object" && !s.properties;
}

function rows(schema: JsonSchema, prefix: string, required: boolean, out: Row[]): void {
  const generic = TYPE_DESCRIPTIONS.some(([re]) => re.test(schema.description ?? ""));
  const row = (): Row => ({
    key: prefix,
    type: typeOf(schema),
    required,
    ...(schema.default !== undefined ? { default: schema.default } : {}),
    description: (generic ? undefined : schema.description) ?? NOTES[prefix] ?? "",
  });
  if (schema.properties) {
    // An object with named keys: describe each key (the object itself only if it has prose).
    if (schema.description) out.push({ ...row(), type: "object" });
    const req = new Set(schema.required ?? []);
    for (const [name, sub] of Object.entries(schema.properties)) {
      rows(sub, prefix ? `${prefix}.${name}` : name, req.has(name), out);
    }
    return;
  }
  if (isMap(schema)) {
    // A record: one placeholder segment named after the keys it takes.
    const keyName = KEY_NAMES[prefix.slice(prefix.lastIndexOf(".") + 1)] ?? "<key>";
    const value = schema.additionalProperties as JsonSchema;
    if (value.properties) {
      out.push(row());
      rows(value, `${prefix}.${keyName}`, false, out);
      return;
    }
  }
  if (schema.items?.properties) {
    out.push(row());
    rows(schema.items, `${prefix}[]`, false, out);
    return;
  }
  out.push(row());
}

function renderTable(rowsIn: Row[]): string {
  const lines = ["| Key | Type | Default | Description |", "|---|---|---|---|"];
  for (const r of rowsIn) {
    const def =
      r.default === undefined
        ? r.required
          ? "*required*"
          : ""
        : typeof r.default === "object" && r.default !== null && Object.keys(r.default).length === 0
          ? ""
          : `\`${cell(JSON.stringify(r.default))}\``;
    lines.push(`| \`${cell(r.key)}\` | ${cell(r.type)} | ${def} | ${prose(r.description)} |`);
  }
  return lines.join("\n");
}

/** The whole of docs/configuration.md, from the JSON Schema. Pure: same schema, same text. */
export function renderConfigDocs(schema: JsonSchema): string {
  const parts = [
    "<!-- Generated by scripts/gen-config-docs.ts from docs/config.schema.json. Do not edit: run `npx tsx scripts/gen-config-docs.ts`. -->",
    "",
    "# Configuration reference",
    "",
    "NixGuard reads one JSON file (`nixguard serve --config FILE`). On NixOS the module writes it from",
    "`services.nixguard.settings`; see [operations.md](operations.md). Validate a file with",
    "`nixguard config check FILE` (exit 0 when valid, 78 with every error when not — schema,",
    "cross-field rules, cron expressions, references, and the files it names: token files, ssh keys,",
    "known_hosts, present and readable, secrets not readable by others; `--no-files` skips the",
    "files) and see the effective config with its defaults and every host expanded with",
    "`nixguard config show FILE`.",
    "",
    "Every object is strict: an unknown key is an error. Durations are strings of number + unit",
    '(`ms`, `s`, `m`, `h`, `d`), such as `"30s"` or `"1h30m"`. Secrets are never values in this file:',
    "keys such as `api.tokens[].file` and `ssh.identityFile` name files. Editors can validate against",
    '[config.schema.json](config.schema.json) (`"$schema": "../docs/config.schema.json"`).',
    "",
    "Examples: [examples/minimal.json](../examples/minimal.json),",
    "[examples/fediversity.json](../examples/fediversity.json).",
    "",
  ];
  const required = new Set(schema.required ?? []);
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    if (name === "$schema") continue;
    const out: Row[] = [];
    rows(sub, name, required.has(name), out);
    parts.push(`## \`${name}\`${required.has(name) ? " (required)" : ""}`, "");
    if (SECTIONS[name]) parts.push(SECTIONS[name], "");
    parts.push(renderTable(out), "");
  }
  return parts.join("\n");
}

const schemaFile = new URL("../docs/config.schema.json", import.meta.url);
const outFile = new URL("../docs/configuration.md", import.meta.url);

export function currentConfigDocs(): { expected: string; actual: string } {
  const expected = renderConfigDocs(JSON.parse(readFileSync(schemaFile, "utf8")) as JsonSchema);
  let actual = "";
  try {
    actual = readFileSync(outFile, "utf8");
  } catch {}
  return { expected, actual };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { expected, actual } = currentConfigDocs();
  if (process.argv.includes("--check")) {
    if (actual !== expected) {
      console.error(
        "docs/configuration.md is out of date: run `npx tsx scripts/gen-config-docs.ts` and commit it",
      );
      process.exit(1);
    }
    console.log("docs/configuration.md is current");
  } else {
    writeFileSync(outFile, expected);
    console.log("wrote docs/configuration.md");
  }
}
