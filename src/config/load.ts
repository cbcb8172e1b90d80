import { readFileSync } from "node:fs";
import cron from "node-cron";
import type { z } from "zod";
import { ConfigError, type ConfigIssue, NixGuardError } from "../errors.js";
import { JsonSyntaxError, parseJsonText } from "../json-text.js";
import { type DesiredState, expandDesiredState } from "./desired.js";
import { formatDuration } from "./duration.js";
import { type Config, ConfigSchema } from "./schema.js";
import { tokenName } from "./token-name.js";

export interface LoadedConfig {
  config: Config;
  desired: DesiredState;
  /** Where it came from, for reloads and messages. */
  file?: string;
}

/** Validates a parsed JSON value: schema, then cross-field rules, then catalog expansion. All issues at once. */
export function parseConfig(raw: unknown, file?: string): LoadedConfig {
  const result = ConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(toIssues(result.error.issues, raw), file);
  const config = result.data;
  const issues: ConfigIssue[] = [];
  checkCrossField(config, issues);
  const desired = expandDesiredState(config, issues);
  if (issues.length > 0) throw new ConfigError(issues, file);
  return Object.freeze({ config: deepFreezeConfig(config), desired, ...(file ? { file } : {}) });
}

export function loadConfigFile(file: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new NixGuardError("CONFIG_READ", `${file}: cannot read config file (${err.code ?? err.message})`, {
      cause: e,
    });
  }
  let raw: unknown;
  try {
    raw = parseJsonText(text);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    const { line, column } = e.where;
    throw new ConfigError(
      [{ path: "", message: `invalid JSON at line ${line} column ${column}: ${e.problem}`, where: e.where }],
      file,
    );
  }
  return parseConfig(raw, file);
}

/** The longest an apply takes to stop once told to: SIGINT, SIGTERM and SIGKILL graces, then its stragglers'. */
export function applyStopMs(n: Config["nixops4"]): number {
  return n.interruptGrace + n.killGrace + n.stragglerGrace;
}

function checkCrossField(config: Config, issues: ConfigIssue[]): void {
  const names = new Set(Object.keys(config.deployments));
  const checkCron = (expr: string, path: string) => {
    if (!cron.validate(expr)) issues.push({ path, message: "invalid cron expression", value: expr });
  };
  config.remediation.maintenance.forEach((m, i) => {
    checkCron(m.cron, `remediation.maintenance[${i}].cron`);
    m.deployments?.forEach((d, j) => {
      if (!names.has(d))
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
      if (!names.has(d))
        issues.push({ path: `schedule[${i}].deployments[${j}]`, message: "unknown deployment", value: d });
    });
  });
  const port = Number(config.api.listen.slice(config.api.listen.lastIndexOf(":") + 1));
  if (!(port >= 0 && port <= 65535))
    issues.push({ path: "api.listen", message: "port must be 0-65535", value: config.api.listen });
  if (config.leader.renew >= config.leader.lease) {
    issues.push({
      path: "leader.renew",
      message: "must be shorter than leader.lease",
      value: config.leader.renew,
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
