import os from "node:os";

/** The machine a figure was measured on, for every JSON line and docs/benchmarks.md. */
export function machine() {
  return {
    date: new Date().toISOString().slice(0, 10),
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model.trim() ?? "unknown",
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
  };
}

/** One markdown table (header, separator, row) and one JSON line on stdout. */
export function emit(columns: string[], row: (string | number)[], json: Record<string, unknown>): void {
  console.log(`| ${columns.join(" | ")} |`);
  console.log(`|${columns.map(() => "---").join("|")}|`);
  console.log(`| ${row.join(" | ")} |`);
  console.log(JSON.stringify({ ...json, machine: machine() }));
}

/** `--name value` flags with defaults; unknown flags are an error, so a typo never runs the wrong size. */
export function flags<T extends Record<string, string>>(defaults: T, argv = process.argv.slice(2)): T {
  const out: Record<string, string> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const key = a.replace(/^--/, "");
    if (!a.startsWith("--") || !(key in defaults) || argv[i + 1] === undefined) {
      console.error(
        `usage: ${Object.entries(defaults)
          .map(([k, v]) => `--${k} ${v}`)
          .join(" ")}`,
      );
      process.exit(64);
    }
    out[key] = argv[++i] as string;
  }
  return out as T;
}

export const log = (msg: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};
