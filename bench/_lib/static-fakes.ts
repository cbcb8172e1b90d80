import { execFileSync } from "node:child_process";
import { linkSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SHOW_PROPERTIES } from "../../src/probes/systemd/command.js";
import { FAKE_BIN } from "../../test/helpers/sshd.js";

/**
 * Cheap remote commands for bench/ssh-transport.ts: static-fake.c compiled once (statically when
 * the C library allows) and linked as systemctl, readlink and df, each printing what the test
 * fakes (test/fixtures/systemctl/bin, shell scripts that fork a `cat` per unit) print for the
 * same probe. A real `systemctl show` is neither: this one sets the remote work near the floor of
 * one exec so the transport's own cost can be read; the shell fakes' cost is reported apart.
 */
export const STATIC_COMMANDS = ["systemctl", "readlink", "df"] as const;

const SOURCE = fileURLToPath(new URL("static-fake.c", import.meta.url));

/** Builds the fakes into `binDir` (created); throws when no C compiler is found. */
export function buildStaticFakes(binDir: string): void {
  mkdirSync(binDir, { recursive: true });
  const first = join(binDir, STATIC_COMMANDS[0]);
  try {
    execFileSync("cc", ["-O2", "-static", "-o", first, SOURCE], { stdio: "pipe" });
  } catch {
    execFileSync("cc", ["-O2", "-o", first, SOURCE], { stdio: "pipe" });
  }
  for (const name of STATIC_COMMANDS.slice(1)) linkSync(first, join(binDir, name));
}

/** Writes FIXTURE/static/NAME: the shell fakes' answers to the probe of `units` (and df's real one). */
export function writeStaticOutputs(fixtureDir: string, units: readonly string[]): void {
  const dir = join(fixtureDir, "static");
  mkdirSync(dir, { recursive: true });
  const env = { PATH: `${FAKE_BIN}:/usr/bin:/bin`, NIXGUARD_FIXTURE: fixtureDir };
  const run = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch (e) {
      return String((e as { stdout?: unknown }).stdout ?? "");
    }
  };
  writeFileSync(
    join(dir, "systemctl"),
    run("systemctl", ["show", "--timestamp=unix", `--property=${SHOW_PROPERTIES.join(",")}`, ...units]),
  );
  writeFileSync(join(dir, "readlink"), run("readlink", ["/run/current-system"]));
  writeFileSync(join(dir, "df"), run("df", ["-P", "-B1", "/", "/nix"]));
}
