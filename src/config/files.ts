import { accessSync, constants, statSync } from "node:fs";
import type { ConfigIssue } from "../errors.js";
import type { Config } from "./schema.js";

/** A file the config names and NixGuard (or nixops4) will read; `secret` files must not be world- or group-readable. */
export interface NeededFile {
  path: string;
  file: string;
  secret: boolean;
}

/** Every file path in the config that is read at run time: tokens, passwords, ssh keys, known_hosts, CAs. */
export function neededFiles(config: Config): NeededFile[] {
  const out: NeededFile[] = [];
  const add = (path: string, file: string | undefined, secret: boolean) => {
    if (file) out.push({ path, file, secret });
  };
  config.api.tokens.forEach((t, i) => {
    add(`api.tokens[${i}].file`, t.file, true);
  });
  add("redis.sentinels.passwordFile", config.redis.sentinels?.passwordFile, true);
  add("redis.sentinels.sentinelPasswordFile", config.redis.sentinels?.sentinelPasswordFile, true);
  add("ssh.identityFile", config.ssh.identityFile, true);
  add("ssh.knownHostsFile", config.ssh.knownHostsFile, false);
  add("nixops4.ssh.identityFile", config.nixops4.ssh.identityFile, true);
  add("nixops4.ssh.knownHostsFile", config.nixops4.ssh.knownHostsFile, false);
  for (const [dn, dep] of Object.entries(config.deployments)) {
    for (const [hn, host] of Object.entries(dep.hosts)) {
      const base = `deployments.${dn}.hosts.${hn}`;
      add(`${base}.identityFile`, host.identityFile, true);
      add(`${base}.knownHostsFile`, host.knownHostsFile, false);
      (host.http ?? []).forEach((c, i) => {
        add(`${base}.http[${i}].caFile`, c.caFile, false);
        add(`${base}.http[${i}].bearerTokenFile`, c.bearerTokenFile, true);
      });
    }
  }
  return out;
}

/**
 * What `config check` finds about the files a config needs: missing or unreadable ones are
 * errors (serve would fail on them later, or a probe would), a secret readable by group or
 * others is a warning. Reads as the user running the check: run it as NixGuard's user.
 */
export function checkFiles(files: NeededFile[]): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const f of files) {
    const key = `${f.path}\0${f.file}`;
    if (seen.has(key)) continue;
    seen.add(key);
    let mode: number;
    try {
      const st = statSync(f.file);
      if (!st.isFile()) {
        errors.push({ path: f.path, message: "not a regular file", value: f.file });
        continue;
      }
      mode = st.mode;
      accessSync(f.file, constants.R_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const message =
        code === "ENOENT"
          ? "file does not exist"
          : code === "EACCES"
            ? "file not readable by this user"
            : `cannot read (${code})`;
      errors.push({ path: f.path, message, value: f.file });
      continue;
    }
    if (f.secret && (mode & 0o077) !== 0)
      warnings.push({
        path: f.path,
        message: `holds a secret but is readable by ${mode & 0o007 ? "everyone" : "its group"} (mode ${(mode & 0o777).toString(8)}; chmod 600)`,
        value: f.file,
      });
  }
  return { errors, warnings };
}
