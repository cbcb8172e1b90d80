import { basename } from "node:path";

/**
 * An API token's name, as events record the actor and rate limits count: its `name`, else its
 * file's name (systemd credentials are named for what they are, e.g. /run/credentials/…/ops).
 * Config validation and the API both call this, so two tokens can never share a name unnoticed.
 */
export function tokenName(spec: { name?: string | undefined; file: string }, index: number): string {
  return spec.name ?? (basename(spec.file) || `token${index}`);
}
