import { isIP } from "node:net";

/**
 * Strict grammars for every config or API value that can end up in an ssh or nixops4 argv or in
 * a remote shell line. Each check returns an error message (what was expected) or undefined.
 * They are deliberately narrower than what the underlying tools accept: a value refused here is
 * an operator's typo at worst, a value accepted wrongly is remote code execution as root.
 */
export type Check = (value: string) => string | undefined;

// No control characters (newline, NUL, escape...) anywhere, ever.
const CONTROL = /[\u0000-\u001f\u007f]/;
// Characters a POSIX shell gives meaning to; a name never needs them.
const SHELL_META = /[\s;&|`$<>(){}[\]*?!~#'"\\^]/;

function common(value: string, what: string): string | undefined {
  if (value.length === 0) return `${what} must not be empty`;
  if (CONTROL.test(value)) return `${what} must not contain control characters (newline, NUL, ...)`;
  if (value.startsWith("-")) return `${what} must not start with "-" (it would be read as an option)`;
  return undefined;
}

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** A DNS name (RFC 1123), an IPv4 or an IPv6 address. */
export const hostAddress: Check = (v) => {
  const c = common(v, "host address");
  if (c) return c;
  if (isIP(v) !== 0) return undefined;
  if (v.length > 253) return "host address is longer than 253 characters";
  const labels = v.endsWith(".") ? v.slice(0, -1).split(".") : v.split(".");
  if (labels.every((l) => HOST_LABEL.test(l))) return undefined;
  return "expected a DNS name (letters, digits, '-' and '.'), an IPv4 or an IPv6 address";
};

/** HOST:PORT, or [IPv6]:PORT: a host address as above and a port 1-65535. */
export const hostPort: Check = (v) => {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v);
  if (!m) return "expected HOST:PORT ([IPv6]:PORT)";
  const host = m[1] ?? m[2] ?? "";
  if (m[1] !== undefined && isIP(host) !== 6) return "expected an IPv6 address inside [ ]";
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return "port must be 1-65535";
  return hostAddress(host);
};

/** A POSIX user name as shadow-utils accepts by default. */
export const sshUser: Check = (v) =>
  common(v, "ssh user") ??
  (/^[a-z_][a-z0-9_-]{0,31}$/.test(v) ? undefined : "expected a user name matching [a-z_][a-z0-9_-]{0,31}");

const UNIT_SUFFIXES = [
  "service",
  "socket",
  "timer",
  "target",
  "mount",
  "automount",
  "path",
  "slice",
  "scope",
  "device",
  "swap",
];
// systemd's unit-name grammar (unit-name.c: VALID_CHARS = alnum ":-_.\\" plus one "@" for
// templates). Backslash is only allowed as the \xNN escape systemd itself produces.
const UNIT_BODY = /^(?:[A-Za-z0-9:_.-]|\\x[0-9a-f]{2})+(?:@(?:[A-Za-z0-9:_.-]|\\x[0-9a-f]{2})*)?$/;

/** A full systemd unit name with its type suffix: `mastodon-web.service`, `getty@tty1.service`. */
export const unitName: Check = (v) => {
  const c = common(v, "unit name");
  if (c) return c;
  if (v.length > 255) return "unit name is longer than 255 characters";
  const dot = v.lastIndexOf(".");
  const suffix = dot > 0 ? v.slice(dot + 1) : "";
  if (!UNIT_SUFFIXES.includes(suffix)) {
    return `expected a systemd unit name ending in .${UNIT_SUFFIXES.slice(0, 3).join(", .")}, ...`;
  }
  if (!UNIT_BODY.test(v.slice(0, dot))) {
    return "expected a systemd unit name (letters, digits, ':', '_', '.', '-', one '@' for templates)";
  }
  return undefined;
};

const TARGET_SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A nixops4 deployment name (`default`) or member dot path (`fediversity.mastodon`). */
export const nixops4Target: Check = (v) => {
  const c = common(v, "nixops4 target");
  if (c) return c;
  if (v.length > 200) return "nixops4 target is longer than 200 characters";
  if (v.split(".").every((s) => TARGET_SEGMENT.test(s))) return undefined;
  return "expected a nixops4 deployment name or dot path of identifiers ([A-Za-z_][A-Za-z0-9_-]*, joined by '.')";
};

/** An absolute, normalised file system path without shell metacharacters. */
export const absolutePath: Check = (v) => {
  if (v.length === 0) return "path must not be empty";
  if (CONTROL.test(v)) return "path must not contain control characters (newline, NUL, ...)";
  if (!v.startsWith("/")) return "expected an absolute path (starting with /)";
  if (v.length > 4096) return "path is longer than 4096 characters";
  if (v.split("/").some((s) => s === ".." || s === ".")) return "path must not contain '.' or '..' segments";
  if (SHELL_META.test(v)) return "path must not contain spaces or shell metacharacters";
  if (!/^[A-Za-z0-9._/@+,=:%-]+$/.test(v)) return "path may contain only letters, digits and ._/@+,=:%-";
  return undefined;
};

/** An http(s) URL without credentials or control characters. */
export const httpUrl: Check = (v) => {
  if (v.length === 0) return "URL must not be empty";
  if (CONTROL.test(v) || /\s/.test(v)) return "URL must not contain whitespace or control characters";
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return "expected an absolute http:// or https:// URL";
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return "expected an http:// or https:// URL";
  if (u.username || u.password) return "URL must not carry credentials (use a token file)";
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  if (hostAddress(host)) return `URL host: ${hostAddress(host)}`;
  return undefined;
};

/**
 * Names NixGuard itself uses as keys (deployments, hosts, checks, token names). They appear in
 * Redis keys, BullMQ job ids (which refuse ':'), metric labels and URLs, so the grammar is tight;
 * "__" is reserved as the job-id separator.
 */
export const resourceName: Check = (v) => {
  const c = common(v, "name");
  if (c) return c;
  if (v.length > 63) return "name is longer than 63 characters";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(v)) return "expected a name of letters, digits, '.', '_' and '-'";
  if (v.includes("__")) return 'name must not contain "__" (reserved separator)';
  if (v.includes("..")) return 'name must not contain ".."';
  return undefined;
};

const FLAKE_INPUT = /^[A-Za-z_][A-Za-z0-9_-]*(?:\/[A-Za-z_][A-Za-z0-9_-]*)*$/;
const FLAKE_REF = /^(?:[a-z+]+:)?[A-Za-z0-9._/@+,=:%?&~-]+$/;

/**
 * Extra nixops4 arguments: only nixops4's documented global flags, each with a value of its
 * own grammar, each at most once (clap refuses a repeated switch with exit 2: `-vv` is a usage
 * error, `-v` being a boolean). An allowlist, because any other flag could change what runs (or
 * where). `--no-interactive` is always passed by NixGuard and `--file` comes from nixops4.file,
 * so neither is accepted here.
 */
export function nixops4ExtraArgs(args: readonly string[]): { index: number; message: string } | undefined {
  const seen = new Set<string>();
  const once = (flag: string, i: number) => {
    if (!seen.has(flag)) {
      seen.add(flag);
      return undefined;
    }
    return {
      index: i,
      message: `${flag} may be given once: nixops4 refuses a repeated flag (usage error, exit 2)`,
    };
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (CONTROL.test(a)) return { index: i, message: "argument must not contain control characters" };
    if (/^-vv+$/.test(a))
      return { index: i, message: "-v is a switch in nixops4: give it once (-vv is a usage error, exit 2)" };
    if (a === "-v" || a === "--verbose") {
      const twice = once("-v/--verbose", i);
      if (twice) return twice;
      continue;
    }
    if (a === "--show-trace") {
      const twice = once(a, i);
      if (twice) return twice;
      continue;
    }
    if (a === "--no-interactive" || a === "--interactive")
      return { index: i, message: "NixGuard always runs nixops4 with --no-interactive; leave it out" };
    if (a === "--file" || a.startsWith("--file="))
      return { index: i, message: "set nixops4.file instead of passing --file" };
    const color = /^--color(?:=(.*))?$/.exec(a);
    if (color) {
      const twice = once("--color", i);
      if (twice) return twice;
      const value = color[1] ?? args[++i];
      if (value === undefined || !["auto", "always", "never"].includes(value)) {
        return { index: i, message: "--color takes auto, always or never" };
      }
      continue;
    }
    if (a === "--override-input") {
      const input = args[i + 1];
      const ref = args[i + 2];
      if (input === undefined || !FLAKE_INPUT.test(input))
        return { index: i + 1, message: "--override-input needs an input name" };
      if (ref === undefined || ref.startsWith("-") || !FLAKE_REF.test(ref)) {
        return {
          index: i + 2,
          message: "--override-input needs a flake reference without shell metacharacters",
        };
      }
      i += 2;
      continue;
    }
    return {
      index: i,
      message:
        "allowed: -v, --verbose, --show-trace, --color auto|always|never, --override-input INPUT FLAKEREF",
    };
  }
  return undefined;
}

/**
 * A file path relative to the deployment's directory (nixops4.file → `--file`): no absolute
 * path, no '.' or '..' segment, no shell metacharacters, not an option.
 */
export const relativePath: Check = (v) => {
  const c = common(v, "path");
  if (c) return c;
  if (v.startsWith("/")) return "expected a path relative to the deployment's directory";
  if (v.length > 1024) return "path is longer than 1024 characters";
  if (v.split("/").some((s) => s === ".." || s === "." || s === ""))
    return "path must not contain empty, '.' or '..' segments";
  if (!/^[A-Za-z0-9._/@+,=:%-]+$/.test(v)) return "path may contain only letters, digits and ._/@+,=:%-";
  return undefined;
};

// Nix's base32 alphabet (no e, o, u, t) and the store-path name characters, minus `?` and `=`
// (allowed by Nix, never in a system toplevel's name, and `?` is a shell glob).
const STORE_PATH = /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+_-][A-Za-z0-9+._-]{0,210}$/;

/** A store path as `readlink /run/current-system` prints it: `/nix/store/<hash>-nixos-system-…`. */
export const storePath: Check = (v) =>
  common(v, "store path") ??
  (STORE_PATH.test(v) ? undefined : "expected /nix/store/<32 base-32 characters>-<name>");

/** A system profile generation number (`system-<N>-link`). */
export const generationNumber = (n: number): string | undefined =>
  Number.isSafeInteger(n) && n >= 1 && n <= 1_000_000_000 ? undefined : `generation ${n} out of range`;
