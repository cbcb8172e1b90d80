import type { SimHost } from "../fleet.js";
import { readProfileLink } from "../nixos-profile.js";
import { type CommandResult, fail, ok } from "./result.js";

/**
 * GNU coreutils `df`, `readlink`, `nproc` and `cat /proc/loadavg` as a simulated NixOS host
 * answers them. df's layout follows coreutils df.c: per-column widths from the widest cell with
 * minimum widths (Filesystem 14, numbers 5, Use% 4), Filesystem and Mounted on left-aligned, the
 * rest right-aligned, the last column never padded; Use% = ceil(used / (used + avail)).
 */

export interface Fs {
  source: string;
  fstype: string;
  size: number;
  used: number;
  avail: number;
  target: string;
}

// Paths that exist on a NixOS host: all on one root filesystem in the simulation.
const KNOWN_ROOTS = [
  "/",
  "/nix",
  "/nix/store",
  "/nix/var",
  "/var",
  "/var/lib",
  "/etc",
  "/home",
  "/root",
  "/tmp",
  "/run/current-system",
  "/boot",
];

function rootFs(host: SimHost): Fs {
  const size = host.diskSizeBytes;
  const used = host.diskUsedBytes;
  // ext4 keeps 5 % reserved for root: "Available" is less than size - used, as on a real host.
  const avail = Math.max(0, Math.floor(size * 0.95) - used);
  return { source: "/dev/disk/by-label/nixos", fstype: "ext4", size, used, avail, target: "/" };
}

type Field = "source" | "fstype" | "size" | "used" | "avail" | "pcent" | "target";
const FIELD_MIN: Record<Field, number> = {
  source: 14,
  fstype: 4,
  size: 5,
  used: 5,
  avail: 5,
  pcent: 4,
  target: 0,
};
const LEFT = new Set<Field>(["source", "fstype", "target"]);

function pcent(fs: Fs): string {
  const total = fs.used + fs.avail;
  if (total === 0) return "-";
  return `${Math.ceil((fs.used * 100) / total)}%`;
}

function blocks(n: number, blockSize: number): string {
  return String(Math.ceil(n / blockSize));
}

function blockHeader(blockSize: number, posix: boolean): string {
  if (posix) return `${blockSize}-blocks`;
  for (const [unit, size] of [
    ["G", 1024 ** 3],
    ["M", 1024 ** 2],
    ["K", 1024],
  ] as const)
    if (blockSize % size === 0) return `${blockSize / size}${unit}-blocks`;
  return `${blockSize}B-blocks`;
}

function parseBlockSize(v: string): number | undefined {
  const m = /^(\d+)([KMG]?)$/.exec(v);
  if (!m) return undefined;
  const mult = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2] as "" | "K" | "M" | "G"];
  return Number(m[1]) * mult;
}

export function df(host: SimHost, argv: readonly string[]): CommandResult {
  const fs = rootFs(host);
  return renderDf(argv, (p) =>
    KNOWN_ROOTS.some((k) => p === k || p.startsWith(k === "/" ? "/nix/store/" : `${k}/`)) ? fs : undefined,
  );
}

/** df over whatever `resolve` says each path is mounted on (undefined: no such file). */
export function renderDf(argv: readonly string[], resolve: (path: string) => Fs | undefined): CommandResult {
  let posix = false;
  let blockSize = 1024;
  let output: Field[] | undefined;
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "-P" || a === "--portability") posix = true;
    else if (a === "-k") blockSize = 1024;
    else if (a === "-B" || a === "--block-size") {
      const bs = parseBlockSize(argv[++i] ?? "");
      if (bs === undefined) return fail(`df: invalid block size: '${argv[i] ?? ""}'\n`);
      blockSize = bs;
    } else if (a.startsWith("-B") || a.startsWith("--block-size=")) {
      const v = a.startsWith("-B") ? a.slice(2) : a.slice(13);
      const bs = parseBlockSize(v);
      if (bs === undefined) return fail(`df: invalid block size: '${v}'\n`);
      blockSize = bs;
    } else if (a === "--output") output = ["source", "fstype", "size", "used", "avail", "pcent", "target"];
    else if (a.startsWith("--output=")) {
      const list = a.slice(9).split(",");
      const bad = list.find((f) => !(f in FIELD_MIN));
      if (bad)
        return fail(`df: option --output: field '${bad}' unknown\nTry 'df --help' for more information.\n`);
      output = list as Field[];
    } else if (a === "-l" || a === "--local" || a === "-x" || a === "--") {
      if (a === "-x") i++;
    } else if (a.startsWith("-") && a !== "-")
      return fail(`df: invalid option -- '${a.replace(/^-+/, "")}'\nTry 'df --help' for more information.\n`);
    else paths.push(a);
  }
  if (posix && output)
    return fail(
      "df: options -P and --output are mutually exclusive\nTry 'df --help' for more information.\n",
    );
  const fields: Field[] = output ?? ["source", "size", "used", "avail", "pcent", "target"];
  const header: Record<Field, string> = {
    source: "Filesystem",
    fstype: "Type",
    size: output ? blockHeader(blockSize, false) : blockHeader(blockSize, posix),
    used: "Used",
    avail: output ? "Avail" : "Available",
    pcent: output ? "Use%" : posix ? "Capacity" : "Use%",
    target: "Mounted on",
  };
  let stderr = "";
  const rows: Fs[] = [];
  for (const p of paths.length > 0 ? paths : ["/"]) {
    const fs = resolve(p);
    if (fs) rows.push(fs);
    else stderr += `df: ${p}: No such file or directory\n`;
  }
  const cell = (fs: Fs, f: Field): string => {
    switch (f) {
      case "size":
        return blocks(fs.size, blockSize);
      case "used":
        return blocks(fs.used, blockSize);
      case "avail":
        return blocks(fs.avail, blockSize);
      case "pcent":
        return pcent(fs);
      default:
        return fs[f];
    }
  };
  const table = [fields.map((f) => header[f]), ...rows.map((r) => fields.map((f) => cell(r, f)))];
  const widths = fields.map((f, c) =>
    Math.max(FIELD_MIN[f], ...table.map((row) => (row[c] as string).length)),
  );
  const stdout =
    rows.length === 0
      ? ""
      : table
          .map((row) =>
            row
              .map((text, c) => {
                const f = fields[c] as Field;
                if (c === row.length - 1 && LEFT.has(f)) return text;
                const w = widths[c] as number;
                return LEFT.has(f) ? text.padEnd(w) : text.padStart(w);
              })
              .join(" "),
          )
          .map((l) => `${l}\n`)
          .join("");
  return { stdout, stderr, code: stderr ? 1 : 0 };
}

export function readlink(host: SimHost, argv: readonly string[]): CommandResult {
  const paths = argv.filter((a) => !a.startsWith("-"));
  let stdout = "";
  let code = 0;
  for (const p of paths) {
    const target = p === "/run/current-system" ? host.currentSystem : readProfileLink(host.profile, p);
    if (target !== undefined) stdout += `${target}\n`;
    else code = 1; // readlink prints nothing for a non-link unless -v
  }
  if (paths.length === 0)
    return fail("readlink: missing operand\nTry 'readlink --help' for more information.\n");
  return { stdout, stderr: "", code };
}

export function loadavg(host: SimHost): string {
  const [a, b, c] = host.load;
  return `${a.toFixed(2)} ${b.toFixed(2)} ${c.toFixed(2)} 1/312 4242\n`;
}

export const nproc = (host: SimHost): CommandResult => ok(`${host.cpus}\n`);
