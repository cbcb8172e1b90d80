/** What one fake command prints and exits with. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
  /** The command never returns (a `systemctl restart` waiting on a stop that hangs). */
  hang?: boolean;
  /** After printing, it waits this long, then asks the simulator this endpoint how it ends. */
  resumes?: { delayMs: number; endpoint: string };
}

export const ok = (stdout: string): CommandResult => ({ stdout, stderr: "", code: 0 });
export const fail = (stderr: string, code = 1): CommandResult => ({ stdout: "", stderr, code });
