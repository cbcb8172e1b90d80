import { unitName } from "../../config/grammar.js";
import { NixGuardError } from "../../errors.js";

/**
 * The remote command lines NixGuard sends over ssh (and runs locally through `sh -c`).
 *
 * Contract with every remote (real NixOS host, the fleet simulator's fake ssh): the line is plain
 * POSIX sh that calls only `systemctl`, `readlink`, `df`, `cat /proc/loadavg`, `nproc` and `echo`,
 * with no sudo and no bash-isms. Every unit name is re-validated with the config grammar here, at
 * the last moment before it becomes shell text, and single-quoted (the grammar already excludes
 * quotes, so quoting cannot be broken out of).
 *
 * Output format of `buildProbeCommand`: a sequence of sections, each
 *
 *     ::nixguard:begin NAME::
 *     ...the program's stdout, verbatim...
 *     ::nixguard:end NAME STATUS::
 *
 * where NAME is one of `systemd`, `current-system`, `df`, `loadavg`, `nproc` (in that order;
 * `systemd` is absent when no units are asked for) and STATUS is the program's exit status (`$?`).
 * The last line is `::nixguard:done::`, so truncated output is detected. A program's stderr is
 * not captured per section (it goes to ssh's stderr).
 */
export const SECTION_PREFIX = "::nixguard:";
export const DONE_MARKER = "::nixguard:done::";

/**
 * Properties asked of systemd; `--timestamp=unix` makes the timestamps `@SECONDS`. Beyond the
 * states: NRestarts and how the main process last ended (ExecMainCode/ExecMainStatus) tell a
 * crash loop that never turns `failed`; ConditionResult/ConditionTimestamp a unit skipped by its
 * conditions; a timer's Unit the service whose last run it is judged by.
 */
export const SHOW_PROPERTIES = [
  "Id",
  "LoadState",
  "ActiveState",
  "SubState",
  "Result",
  "NRestarts",
  "Type",
  "ActiveEnterTimestamp",
  "ExecMainCode",
  "ExecMainStatus",
  "ConditionResult",
  "ConditionTimestamp",
  "Unit",
] as const;

export const SECTIONS = ["systemd", "current-system", "df", "loadavg", "nproc"] as const;
export type SectionName = (typeof SECTIONS)[number];

/** Filesystems whose use is reported: a full /nix/store is a classic cause of failed deploys. */
export const PROBED_FILESYSTEMS = ["/", "/nix"] as const;

export function quoteUnits(units: readonly string[]): string[] {
  return units.map((u) => {
    const problem = unitName(u);
    if (problem)
      throw new NixGuardError("UNSAFE_VALUE", `refusing unit name ${JSON.stringify(u)}: ${problem}`);
    return `'${u}'`;
  });
}

function section(name: SectionName, command: string): string {
  return `echo '${SECTION_PREFIX}begin ${name}::'; ${command}; echo "${SECTION_PREFIX}end ${name} $?::"`;
}

/** One line fetching everything NixGuard needs about one host (one ssh round trip). */
export function buildProbeCommand(units: readonly string[]): string {
  const parts: string[] = [];
  const quoted = quoteUnits(units);
  if (quoted.length > 0) {
    parts.push(
      section(
        "systemd",
        `systemctl show --timestamp=unix --property=${SHOW_PROPERTIES.join(",")} ${quoted.join(" ")}`,
      ),
    );
  }
  parts.push(section("current-system", "readlink /run/current-system"));
  parts.push(section("df", `df -P -B1 ${PROBED_FILESYSTEMS.join(" ")}`));
  parts.push(section("loadavg", "cat /proc/loadavg"));
  parts.push(section("nproc", "nproc"));
  parts.push(`echo '${DONE_MARKER}'`);
  return parts.join("; ");
}

/** `systemctl restart` of the given units, as one line. */
export function buildRestartCommand(units: readonly string[]): string {
  if (units.length === 0) throw new NixGuardError("UNSAFE_VALUE", "restart needs at least one unit");
  return `systemctl restart ${quoteUnits(units).join(" ")}`;
}
