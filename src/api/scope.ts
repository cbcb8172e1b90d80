import { resourceName } from "../config/grammar.js";
import type { PauseScope } from "./control-plane-port.js";

/**
 * Pause scopes as one string, the form the CLI, the API body and the `scope` metric label share:
 * `global`, `deployment/<deployment>`, `host/<host>` or `host/<deployment>/<host>`.
 * Returns the scope or an error message.
 */
export function parseScope(text: string): PauseScope | string {
  if (text === "global") return { kind: "global" };
  const [kind, ...parts] = text.split("/");
  const bad = parts.map((p) => resourceName(p)).find((e) => e !== undefined);
  if (bad) return bad;
  if (kind === "deployment" && parts.length === 1) return { kind: "deployment", deployment: parts[0]! };
  if (kind === "host" && parts.length === 1) return { kind: "host", host: parts[0]! };
  if (kind === "host" && parts.length === 2) return { kind: "host", deployment: parts[0]!, host: parts[1]! };
  return 'expected "global", "deployment/<name>", "host/<name>" or "host/<deployment>/<name>"';
}

export function formatScope(scope: PauseScope): string {
  switch (scope.kind) {
    case "global":
      return "global";
    case "deployment":
      return `deployment/${scope.deployment}`;
    case "host":
      return scope.deployment ? `host/${scope.deployment}/${scope.host}` : `host/${scope.host}`;
  }
}
