/**
 * The OpenSSH client's command line, parsed the way ssh.c does it: BSD getopt over the option
 * string below (so `-p22`, `-oBatchMode=yes`, `-tt` and `--` all work), the first non-option is
 * the destination (`[user@]host` or `ssh://[user@]host[:port]`), getopt restarts after it so
 * options may follow the destination, and everything after that is joined with single spaces
 * into the one remote command string. For options given twice the first one wins, as in ssh.
 */

// ssh.c (OpenSSH 9.x): "1246ab:c:e:fgi:kl:m:no:p:qstvxAB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy"
const WITH_ARG = new Set("bceilmopBDEFIJLOPQRSWw".split(""));
const FLAGS = new Set("1246afgknqstvxACGKMNTVXYy".split(""));

export interface SshInvocation {
  destination?: string;
  host?: string;
  user?: string;
  port?: number;
  /** -o options, keys lower-cased (ssh_config keywords are case-insensitive). */
  options: Map<string, string>;
  identityFiles: string[];
  flags: Set<string>;
  /** -O ctl_cmd (check, exit, stop, forward, cancel). */
  controlCommand?: string;
  command: string;
  /** The argv had no remote command words at all. */
  hasCommand: boolean;
}

export type SshParse = { ok: true; inv: SshInvocation } | { ok: false; stderr: string; code: number };

const USAGE =
  "usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] [-B bind_interface]\n" +
  "           [-b bind_address] [-c cipher_spec] [-D [bind_address:]port]\n" +
  "           [-E log_file] [-e escape_char] [-F configfile] [-I pkcs11]\n" +
  "           [-i identity_file] [-J [user@]host[:port]] [-L address]\n" +
  "           [-l login_name] [-m mac_spec] [-O ctl_cmd] [-o option] [-p port]\n" +
  "           [-Q query_option] [-R address] [-S ctl_path] [-W host:port]\n" +
  "           [-w local_tun[:remote_tun]] destination [command [argument ...]]\n";

export function parseSshArgv(argv: readonly string[]): SshParse {
  const inv: SshInvocation = {
    options: new Map(),
    identityFiles: [],
    flags: new Set(),
    command: "",
    hasCommand: false,
  };
  let i = 0;
  let terminated = false;
  const setOption = (raw: string): string | undefined => {
    const m = /^\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)(.*)$/.exec(raw);
    if (!m) return `command-line line 0: no argument after keyword "${raw.trim()}"`;
    const key = (m[1] as string).toLowerCase();
    if (!inv.options.has(key)) inv.options.set(key, m[2] as string);
    return undefined;
  };
  const parsePort = (v: string): number | undefined => {
    const n = /^\d{1,5}$/.test(v) ? Number(v) : Number.NaN;
    return n >= 1 && n <= 65535 ? n : undefined;
  };

  // One getopt pass from argv[i]; stops at the first non-option or after "--".
  const getopt = (): SshParse | undefined => {
    while (i < argv.length) {
      const a = argv[i] as string;
      if (a === "--") {
        i++;
        terminated = true;
        return undefined;
      }
      if (!a.startsWith("-") || a === "-") return undefined;
      i++;
      for (let j = 1; j < a.length; j++) {
        const c = a[j] as string;
        if (FLAGS.has(c)) {
          inv.flags.add(c);
          continue;
        }
        if (!WITH_ARG.has(c)) return { ok: false, stderr: `unknown option -- ${c}\n${USAGE}`, code: 255 };
        let value: string;
        if (j + 1 < a.length) value = a.slice(j + 1);
        else {
          if (i >= argv.length)
            return { ok: false, stderr: `option requires an argument -- ${c}\n${USAGE}`, code: 255 };
          value = argv[i++] as string;
        }
        if (c === "o") {
          const err = setOption(value);
          if (err) return { ok: false, stderr: `${err}\n`, code: 255 };
        } else if (c === "p") {
          const port = parsePort(value);
          if (port === undefined) return { ok: false, stderr: `Bad port '${value}'\n`, code: 255 };
          inv.port ??= port;
        } else if (c === "l") inv.user ??= value;
        else if (c === "i") inv.identityFiles.push(value);
        else if (c === "O") inv.controlCommand = value;
        break; // the rest of this word was the option's argument
      }
    }
    return undefined;
  };

  let err = getopt();
  if (err) return err;
  if (i < argv.length) {
    const dest = argv[i] as string;
    inv.destination = dest;
    const uri = /^ssh:\/\/(?:([^@/]+)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(dest);
    if (uri) {
      if (uri[1]) inv.user ??= uri[1];
      inv.host = (uri[2] as string).replace(/^\[|\]$/g, "");
      if (uri[3]) inv.port ??= parsePort(uri[3]);
    } else {
      const at = dest.lastIndexOf("@");
      if (at === 0) return { ok: false, stderr: USAGE, code: 255 };
      if (at > 0) inv.user ??= dest.slice(0, at);
      inv.host = at > 0 ? dest.slice(at + 1) : dest;
    }
    i++;
    if (i < argv.length && !terminated) {
      err = getopt();
      if (err) return err;
    }
  }
  if (inv.port === undefined && inv.options.has("port"))
    inv.port = parsePort(inv.options.get("port") as string);
  if (inv.user === undefined && inv.options.has("user")) inv.user = inv.options.get("user");
  const words = argv.slice(i);
  inv.hasCommand = words.length > 0;
  inv.command = words.join(" ");
  if (inv.host === undefined && !inv.flags.has("V")) return { ok: false, stderr: USAGE, code: 255 };
  return { ok: true, inv };
}

/** The address ssh really connects to (`-o HostName=` overrides the destination). */
export const connectHost = (inv: SshInvocation) => inv.options.get("hostname") ?? inv.host ?? "";
