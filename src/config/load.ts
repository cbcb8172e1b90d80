import { readFileSync } from "node:fs";
import cron from "node-cron";
import type { z } from "zod";
import { ConfigError, type ConfigIssue, NixGuardError } from "../errors.js";
import { JsonSyntaxError, parseJsonText } from "../json-text.js";
import { sharingTimings } from "../probes/share/timing.js";
import { type DesiredState, expandDesiredState } from "./desired.js";
import { formatDuration } from "./duration.js";
import { checkFiles, neededFiles } from "./files.js";
import { type Config, ConfigSchema } from "./schema.js";
import { tokenName } from "./token-name.js";

export interface LoadedConfig {
  config: Config;
  desired: DesiredState;
  /** Where it came from, for reloads and messages. */
  file?: string;
}

/**
 * Validates a parsed JSON value: schema, then cross-field rules, then catalog expansion. All issues
 * at once, in one pass: when the schema refuses some sections, the rules that read only sections
 * it accepted still run on them (issue 19: an invalid cron or an unknown deployment in `schedule`
 * stayed hidden behind a typo elsewhere until that was fixed).
 */
export function parseConfig(raw: unknown, file?: string): LoadedConfig {
  const v = validateConfig(raw);
  if (!v.loaded) throw new ConfigError(v.issues, file);
  return Object.freeze({ ...v.loaded, ...(file ? { file } : {}) });
}

interface Validation {
  loaded?: LoadedConfig;
  issues: ConfigIssue[];
  /** The sections the schema accepted (all of them when `loaded`), for checks beyond the schema. */
  partial?: { config: Config; refused: Set<Section> };
}

function validateConfig(raw: unknown): Validation {
  const result = ConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    const issues = toIssues(result.error.issues, raw);
    const partial = parseSections(raw);
    if (partial) {
      const later: ConfigIssue[] = [];
      checkCrossField(partial.config, later, partial.refused);
      if (!partial.refused.has("deployments")) expandDesiredState(partial.config, later);
      const seen = new Set(issues.map((i) => `${i.path}\0${i.message}`));
      issues.push(...later.filter((i) => !seen.has(`${i.path}\0${i.message}`)));
    }
    return { issues, ...(partial ? { partial } : {}) };
  }
  const config = result.data;
  const issues: ConfigIssue[] = [];
  checkCrossField(config, issues);
  const desired = expandDesiredState(config, issues);
  const partial = { config, refused: new Set<Section>() };
  if (issues.length > 0) return { issues, partial };
  return { loaded: { config: deepFreezeConfig(config), desired }, issues, partial };
}

/**
 * `config check`: every error of the file in one pass — JSON, schema, cross-field rules,
 * references, and the files the config will need (token files, ssh keys, known_hosts, CAs:
 * present and readable by this user) — plus warnings (a secret readable by group or others).
 */
export function checkConfigFile(
  file: string,
  opts: { files?: boolean } = {},
): {
  loaded?: LoadedConfig;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
} {
  let raw: unknown;
  try {
    raw = parseJsonText(readConfigText(file));
  } catch (e) {
    if (e instanceof ConfigError) return { errors: e.issues, warnings: [] };
    if (!(e instanceof JsonSyntaxError)) throw e;
    return { errors: [jsonIssue(e)], warnings: [] };
  }
  const v = validateConfig(raw);
  if (!v.partial) return { errors: v.issues, warnings: [] };
  const { config, refused } = v.partial;
  // Paths in a refused section are defaults, not the file's: only check what was accepted.
  const files = neededFiles(config).filter((f) => !refused.has(f.path.split(/[.[]/)[0] as Section));
  const found = opts.files === false ? { errors: [], warnings: [] } : checkFiles(files);
  return {
    ...(v.loaded ? { loaded: Object.freeze({ ...v.loaded, file }) } : {}),
    errors: [...v.issues, ...found.errors],
    warnings: found.warnings,
  };
}

type Section = keyof typeof ConfigSchema.shape;

/**
 * Each top-level section parsed alone; a refused one takes its default (or, without one, is
 * only named in `refused`), so the rules reading accepted sections can still run.
 */
function parseSections(raw: unknown): { config: Config; refused: Set<Section> } | undefined {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return undefined;
  const refused = new Set<Section>();
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.shape) as Section[]) {
    const schema = ConfigSchema.shape[key] as z.ZodType;
    const own = schema.safeParse((raw as Record<string, unknown>)[key]);
    if (own.success) {
      out[key] = own.data;
      continue;
    }
    refused.add(key);
    const fallback = schema.safeParse(undefined);
    out[key] = fallback.success ? fallback.data : key === "deployments" ? {} : undefined;
  }
  return { config: out as Config, refused };
}

function readConfigText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new NixGuardError("CONFIG_READ", `${file}: cannot read config file (${err.code ?? err.message})`, {
      cause: e,
    });
  }
}

function jsonIssue(e: JsonSyntaxError): ConfigIssue {
  const { line, column } = e.where;
  return { path: "", message: `invalid JSON at line ${line} column ${column}: ${e.problem}`, where: e.where };
}

export function loadConfigFile(file: string): LoadedConfig {
  const text = readConfigText(file);
  let raw: unknown;
  try {
    raw = parseJsonText(text);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    throw new ConfigError([jsonIssue(e)], file);
  }
  return parseConfig(raw, file);
}

/** The longest an apply takes to stop once told to: SIGINT, SIGTERM and SIGKILL graces, then its stragglers'. */
export function applyStopMs(n: Config["nixops4"]): number {
  return n.interruptGrace + n.killGrace + n.stragglerGrace;
}

/** Rules across fields; a rule reading a section in `refused` is skipped (its values are defaults). */
function checkCrossField(config: Config, issues: ConfigIssue[], refused = new Set<Section>()): void {
  const ok = (...sections: Section[]) => sections.every((s) => !refused.has(s));
  const names = new Set(Object.keys(config.deployments));
  const knownNames = ok("deployments");
  const checkCron = (expr: string, path: string) => {
    if (!cron.validate(expr)) issues.push({ path, message: "invalid cron expression", value: expr });
  };
  config.remediation.maintenance.forEach((m, i) => {
    checkCron(m.cron, `remediation.maintenance[${i}].cron`);
    m.deployments?.forEach((d, j) => {
      if (knownNames && !names.has(d))
        issues.push({
          path: `remediation.maintenance[${i}].deployments[${j}]`,
          message: "unknown deployment",
          value: d,
        });
    });
  });
  config.schedule.forEach((s, i) => {
    checkCron(s.cron, `schedule[${i}].cron`);
    s.deployments.forEach((d, j) => {
      if (knownNames && !names.has(d))
        issues.push({ path: `schedule[${i}].deployments[${j}]`, message: "unknown deployment", value: d });
    });
  });
  const port = Number(config.api.listen.slice(config.api.listen.lastIndexOf(":") + 1));
  if (!(port >= 0 && port <= 65535))
    issues.push({ path: "api.listen", message: "port must be 0-65535", value: config.api.listen });
  if (ok("leader") && config.leader.renew >= config.leader.lease) {
    issues.push({
      path: "leader.renew",
      message: "must be shorter than leader.lease",
      value: config.leader.renew,
    });
  }
  const sharing = sharingTimings(config.probes);
  if (ok("probes") && sharing.heartbeatMs >= sharing.deadAfterMs) {
    issues.push({
      path: "probes.sharing.heartbeat",
      message: `must be shorter than probes.sharing.deadAfter (${formatDuration(sharing.deadAfterMs)}): a live member would look dead between its heartbeats`,
      value: formatDuration(sharing.heartbeatMs),
    });
  }
  const stopMs = applyStopMs(config.nixops4);
  if (config.worker.lockTtl <= stopMs) {
    issues.push({
      path: "worker.lockTtl",
      message: `must be longer than nixops4.interruptGrace + killGrace + stragglerGrace (${formatDuration(stopMs)}): an apply that cannot renew its lock is stopped that long before the lock expires`,
      value: formatDuration(config.worker.lockTtl),
    });
  }
  if (config.nixops4.file !== undefined && config.nixops4.extraArgs.includes("--override-input")) {
    issues.push({
      path: "nixops4.extraArgs",
      message: "--override-input is refused by nixops4 in file mode (nixops4.file is set)",
      value: "--override-input",
    });
  }
  const tokenNames = new Set<string>();
  config.api.tokens.forEach((t, i) => {
    const name = tokenName(t, i);
    if (tokenNames.has(name)) {
      const message = t.name
        ? "duplicate token name"
        : `duplicate token name (unnamed: named after its file, "${name}"); give it a name`;
      issues.push({ path: `api.tokens[${i}].name`, message, value: name });
    }
    tokenNames.add(name);
  });
}

/** JSON path as people write it: `deployments.fediversity.hosts.mastodon.units[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** The value at a path of a parsed or raw config object (undefined where the path ends early). */
export function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** redis.url may carry a password, a notify URL a webhook's token (Slack, Matrix hooks). */
function holdsSecret(path: readonly PropertyKey[]): boolean {
  return (path[0] === "redis" && path[1] === "url") || (path[0] === "notify" && path[2] === "url");
}

function toIssues(zodIssues: readonly z.core.$ZodIssue[], raw: unknown): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of zodIssues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({ path: formatPath([...issue.path, key]), message: "unknown key (check its spelling)" });
      }
      continue;
    }
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      out.push(...toIssues(issue.errors.flat(), raw));
      continue;
    }
    // A value is echoed back to help find the typo — except where it may hold a secret: it
    // would reach the reload API's answer, a log line and stderr.
    const value = holdsSecret(issue.path) ? undefined : valueAt(raw, issue.path);
    out.push({
      path: formatPath(issue.path),
      message: describe(issue),
      ...(value !== undefined && typeof value !== "object" ? { value } : {}),
    });
  }
  return out;
}

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined
        ? `required (expected ${issue.expected})`
        : `expected ${issue.expected}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_key":
      return `invalid key: ${issue.issues.map((i) => i.message).join("; ")}`;
    default:
      return issue.message;
  }
}

function deepFreezeConfig<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreezeConfig(v);
    Object.freeze(value);
  }
  return value;
}
