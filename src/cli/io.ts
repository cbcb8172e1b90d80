/** Where client commands write and read their environment; tests pass their own. */
export interface ClientIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Epoch ms now, for relative ages. */
  now: () => number;
}

export const processIo: ClientIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  now: Date.now,
};
