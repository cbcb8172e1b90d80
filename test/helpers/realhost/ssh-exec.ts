import { execa } from "execa";

/** How the bed's own commands reach a host: plain ssh, no control master, strict host keys. */
export interface SshTarget {
  address: string;
  identityFile: string;
  knownHostsFile: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The remote command's exit status; 255 when ssh itself failed; null when killed at the deadline. */
  exitCode: number | null;
}

export function sshArgv(t: SshTarget, command: string, connectTimeoutS = 5): string[] {
  return [
    "-T",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${t.knownHostsFile}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    `IdentityFile=${t.identityFile}`,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "ControlMaster=no",
    "-o",
    "ControlPath=none",
    "-o",
    `ConnectTimeout=${connectTimeoutS}`,
    "-o",
    "LogLevel=ERROR",
    "-l",
    "root",
    "--",
    t.address,
    command,
  ];
}

/**
 * Runs `command` (a shell line) on the host; ssh is killed (SIGKILL) at `timeoutMs` or when
 * `signal` aborts — the remote side then sees its session die, as when a connection drops.
 */
export async function sshExec(
  t: SshTarget,
  command: string,
  timeoutMs = 30_000,
  signal?: AbortSignal,
): Promise<ExecResult> {
  const connectTimeoutS = Math.max(1, Math.ceil(Math.min(timeoutMs, 5000) / 1000));
  const r = await execa("ssh", sshArgv(t, command, connectTimeoutS), {
    stdin: "ignore",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    ...(signal ? { cancelSignal: signal } : {}),
    reject: false,
    stripFinalNewline: false,
  });
  return {
    stdout: String(r.stdout),
    stderr: String(r.stderr),
    exitCode: r.timedOut || r.isCanceled ? null : (r.exitCode ?? null),
  };
}
