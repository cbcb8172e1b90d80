import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { absolutePath } from "../config/grammar.js";
import { NixGuardError } from "../errors.js";
import { resolveCommand } from "../exec/env.js";

/**
 * nixops4's own ssh: the identity and known_hosts it uses to reach the machines.
 *
 * nixops4-nixos (modules/nixops4Resource/nixos.nix at 18e3a69) switches a machine with a bash
 * script that *overwrites* NIX_SSHOPTS (`export NIX_SSHOPTS="-o ConnectTimeout=10 … -o
 * StrictHostKeyChecking=yes -o UserKnownHostsFile=<the machine's key in the store>"`), then runs
 * `nix copy --to ssh-ng://HOST`, whose ssh is `ssh` from PATH with NIX_SSHOPTS, and `ssh
 * $NIX_SSHOPTS HOST …/bin/apply switch`, `ssh` from PATH again. So an environment variable
 * alone never reaches it: NixGuard puts a wrapper called `ssh` first on nixops4's PATH that runs
 * the real ssh with `-F <NixGuard's ssh_config>`; both the `nix copy` ssh and the switch ssh go
 * through it. NIX_SSHOPTS=-F … is set too, for resources that do not overwrite it.
 *
 * The file has IdentityFile + IdentitiesOnly, and the known_hosts as GlobalKnownHostsFile:
 * options on ssh's command line win over -F files, and nixops4-nixos passes its own
 * UserKnownHostsFile there, so a UserKnownHostsFile in the file would be ignored; the global
 * file (then /etc/ssh/ssh_known_hosts, ssh's default) is consulted besides it. StrictHostKeyChecking yes: never trust on first use.
 * -F also means ~/.ssh/config and /etc/ssh/ssh_config are not read: nixops4's ssh is exactly
 * what this file says.
 */
export interface Nixops4Ssh {
  identityFile?: string | undefined;
  knownHostsFile?: string | undefined;
}

const DIR = "nixops4-ssh";

function checked(name: string, v: string): string {
  const bad = absolutePath(v);
  if (bad) throw new NixGuardError("UNSAFE_VALUE", `refusing nixops4.ssh.${name}: ${bad}`);
  return v;
}

/** ssh_config expands %-tokens in these values: a literal % is written %%. Values are checked first. */
const quoted = (v: string) => `"${v.replaceAll("%", "%%")}"`;

/** Pure: the ssh_config text for nixops4's ssh. */
export function sshConfigText(ssh: Nixops4Ssh): string {
  const lines = [
    "# Written by NixGuard for nixops4's ssh (nixops4.ssh in its config); rewritten at every apply.",
    "Host *",
    "  StrictHostKeyChecking yes",
    "  BatchMode yes",
  ];
  if (ssh.identityFile)
    lines.push(`  IdentityFile ${quoted(checked("identityFile", ssh.identityFile))}`, "  IdentitiesOnly yes");
  if (ssh.knownHostsFile)
    // The system-wide file ssh would read by default stays in the list (NixOS programs.ssh.knownHosts).
    lines.push(
      `  GlobalKnownHostsFile ${quoted(checked("knownHostsFile", ssh.knownHostsFile))} /etc/ssh/ssh_known_hosts`,
    );
  return `${lines.join("\n")}\n`;
}

/** Pure: the `ssh` wrapper. Both paths are checked (no quote, space or control character). */
export function sshWrapperText(realSsh: string, configFile: string): string {
  checked("(ssh on PATH)", realSsh);
  checked("(runtime dir)", configFile);
  return `#!/bin/sh\n# Written by NixGuard: nixops4's ssh (and nix copy's) reads NixGuard's ssh_config for nixops4.\nexec '${realSsh}' -F '${configFile}' "$@"\n`;
}

function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * Writes the ssh_config (0600) and the wrapper (0700) under `runtimeDir` and returns what to add
 * to nixops4's environment; undefined when nixops4.ssh sets nothing (nixops4 then uses the
 * deployer's own ssh setup, as before). Throws UNSAFE_VALUE for a bad path, COMMAND_NOT_FOUND
 * when there is no ssh on PATH to wrap.
 */
export function prepareNixops4Ssh(
  ssh: Nixops4Ssh,
  runtimeDir: string,
  pathVar: string | undefined,
): Record<string, string> | undefined {
  if (!ssh.identityFile && !ssh.knownHostsFile) return undefined;
  const config = sshConfigText(ssh);
  const dir = join(checked("(runtime dir)", runtimeDir), DIR);
  const bin = join(dir, "bin");
  // Our own wrapper directory is never the ssh it wraps.
  const rest = (pathVar ?? "")
    .split(delimiter)
    .filter((d) => d !== "" && d !== bin)
    .join(delimiter);
  const realSsh = resolveCommand("ssh", rest);
  if (!realSsh)
    throw new NixGuardError(
      "COMMAND_NOT_FOUND",
      "nixops4.ssh is set, but there is no ssh on PATH to run it with",
    );
  const configFile = join(dir, "ssh_config");
  mkdirSync(bin, { recursive: true, mode: 0o700 });
  writeAtomic(configFile, config, 0o600);
  writeAtomic(join(bin, "ssh"), sshWrapperText(realSsh, configFile), 0o700);
  return { PATH: rest === "" ? bin : `${bin}${delimiter}${rest}`, NIX_SSHOPTS: `-F ${configFile}` };
}
