/** What one fake command prints and exits with. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

export const ok = (stdout: string): CommandResult => ({ stdout, stderr: "", code: 0 });
export const fail = (stderr: string, code = 1): CommandResult => ({ stdout: "", stderr, code });
