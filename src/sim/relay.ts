/**
 * The wire between the fake executables (tiny bash relays, see bin.ts) and the simulator.
 *
 * Request body: length-prefixed strings `<bytes>:<data>` — cwd, "1"/"0" (stdin is a TTY),
 * the simulated host the process runs "on" (NIXGUARD_SIM_HOST, empty for local tools), the
 * relay's PID, then its argv. Byte lengths, so any argv survives unchanged.
 *
 * Response body: a bash snippet the relay evals. It is built here only from `sh()`-quoted
 * strings and fixed function names, so no simulated value is ever parsed as shell syntax.
 */
export interface RelayRequest {
  cwd: string;
  tty: boolean;
  simHost: string;
  pid: number;
  argv: string[];
}

export function parseRelayBody(body: Buffer): RelayRequest {
  const items: string[] = [];
  let pos = 0;
  while (pos < body.length) {
    const colon = body.indexOf(0x3a, pos);
    if (colon < 0) throw new Error("relay body: missing ':'");
    const len = Number(body.subarray(pos, colon).toString("latin1"));
    if (!Number.isInteger(len) || len < 0 || colon + 1 + len > body.length)
      throw new Error("relay body: bad length");
    items.push(body.subarray(colon + 1, colon + 1 + len).toString("utf8"));
    pos = colon + 1 + len;
  }
  if (items.length < 4) throw new Error("relay body: too few fields");
  const [cwd, tty, simHost, pid, ...argv] = items as [string, string, string, string, ...string[]];
  return { cwd, tty: tty === "1", simHost, pid: Number(pid), argv };
}

/** Single-quoted for bash: the only character needing care inside '' is ' itself. */
export const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export class Snippet {
  private readonly parts: string[] = [];

  out(text: string): this {
    if (text) this.parts.push(`printf %s ${sh(text)}`);
    return this;
  }
  err(text: string): this {
    if (text) this.parts.push(`printf %s ${sh(text)} >&2`);
    return this;
  }
  sleep(ms: number): this {
    if (ms > 0) this.parts.push(`__sim_sleep ${(ms / 1000).toFixed(3)}`);
    return this;
  }
  hang(): this {
    this.parts.push("__sim_hang");
    return this;
  }
  /** Call the simulator again and run its answer (used by nixops4 after its wait). */
  call(endpoint: string): this {
    this.parts.push(`__sim_call ${sh(endpoint)}`, 'eval "$__sim_reply"');
    return this;
  }
  /** Replace this process with the remote command under /bin/sh, fakes first on PATH. */
  execRemote(host: string, command: string): this {
    this.parts.push(
      `export NIXGUARD_SIM_HOST=${sh(host)} PATH="$__sim_dir/remote:$PATH"`,
      command === "" ? "exec /bin/sh" : `exec /bin/sh -c ${sh(command)}`,
    );
    return this;
  }
  /** Run the real tool of the same name (e.g. `cat` of a file the simulator does not fake). */
  passthrough(): this {
    this.parts.push('__sim_passthrough "$@"');
    return this;
  }
  exit(code: number): string {
    this.parts.push(`exit ${Math.trunc(code) & 255}`);
    return `${this.parts.join("\n")}\n`;
  }
  /** For snippets that end by exec or hang. */
  end(): string {
    return `${this.parts.join("\n")}\n`;
  }
}
