import { generationNumber, storePath, unitName } from "../../config/grammar.js";
import { NixGuardError, ProbeError } from "../../errors.js";

/**
 * The remote lines that read a host's system generations and switch it to one, the way
 * nixops4-nixos switches a machine (../shared/fediversity.md): the system profile is set to the
 * generation (`nix-env -p /nix/var/nix/profiles/system --set PATH`; where nix-env is absent, the
 * same links nix-env would make: a new `system-<N+1>-link` and `system` pointing at it), then
 * `PATH/bin/switch-to-configuration switch` runs in a transient unit (`systemd-run --wait`), so
 * it finishes even if the ssh session dies. Plain POSIX sh; every value is checked against its
 * grammar here, at the last moment, and single-quoted (the grammars exclude quotes).
 */
export const PROFILE_DIR = "/nix/var/nix/profiles";
export const SYSTEM_PROFILE = `${PROFILE_DIR}/system`;
const DONE = "::nixguard:generations-done::";

/** Exit status of the switch line when the generation is not (or no longer) on the host. */
export const SWITCH_GONE_EXIT = 3;
/** Exit status of the switch line when the profile could not be set. */
export const SWITCH_PROFILE_EXIT = 4;

export interface SystemGeneration {
  number: number;
  path: string;
}

export interface GenerationListing {
  /** Profile generations whose system is still in the store, by number. */
  generations: SystemGeneration[];
  /** The generation the system profile points at. */
  profile?: number;
  /** Target of /run/current-system. */
  current?: string;
}

/**
 * One line per generation link whose target still exists (`gen N PATH`), then `profile N` and
 * `current PATH` when readable, then the done marker (truncated output is detected).
 */
export function buildListGenerationsCommand(): string {
  return listGenerationsLines().join("; ");
}

/** The listing's statements (the simulator answers the first, the filesystem walk, itself). */
export function listGenerationsLines(): string[] {
  return [
    `for l in ${PROFILE_DIR}/system-*-link; do [ -L "$l" ] && [ -d "$l" ] || continue; n=\${l#${PROFILE_DIR}/system-}; echo "gen \${n%-link} $(readlink "$l")"; done`,
    `p=$(readlink ${SYSTEM_PROFILE}) && echo "profile $p"`,
    `c=$(readlink /run/current-system) && echo "current $c"`,
    `echo '${DONE}'`,
  ];
}

const parseError = (message: string) => new ProbeError("PROBE_PARSE", message);

export function parseGenerations(stdout: string): GenerationListing {
  const lines = stdout.split("\n").filter((l) => l !== "");
  if (lines.at(-1) !== DONE) throw parseError("generation listing is truncated (no done marker)");
  lines.pop();
  const out: GenerationListing = { generations: [] };
  for (const line of lines) {
    const gen = /^gen (\d{1,10}) (\S+)$/.exec(line);
    const profile = /^profile (?:\S*\/)?system-(\d{1,10})-link$/.exec(line);
    const current = /^current (\S+)$/.exec(line);
    if (gen) {
      const path = gen[2] as string;
      // Links whose number or target is not what NixOS makes are not generations NixGuard switches to.
      if (generationNumber(Number(gen[1])) || storePath(path)) continue;
      out.generations.push({ number: Number(gen[1]), path });
    } else if (profile) out.profile = Number(profile[1]);
    else if (current && !storePath(current[1] as string)) out.current = current[1] as string;
    else if (!/^(profile|current) /.test(line))
      throw parseError(`unexpected line in generation listing: ${JSON.stringify(line.slice(0, 120))}`);
  }
  out.generations.sort((a, b) => a.number - b.number);
  return out;
}

function checked(problem: string | undefined, what: string, value: string): void {
  if (problem)
    throw new NixGuardError("UNSAFE_VALUE", `refusing ${what} ${JSON.stringify(value)}: ${problem}`);
}

/** Set the system profile to `path` and switch to it in the transient unit `unit`. */
export function buildSwitchCommand(path: string, unit: string): string {
  return switchLines(path, unit).join("; ");
}

/** The switch's statements: is it on the host, set the profile, switch in a transient unit. */
export function switchLines(path: string, unit: string): string[] {
  checked(storePath(path), "store path", path);
  checked(unitName(unit), "unit name", unit);
  const p = `'${path}'`;
  const newLink = [
    "n=0",
    `for l in ${PROFILE_DIR}/system-*-link; do k=\${l#${PROFILE_DIR}/system-}; k=\${k%-link}; case $k in ''|*[!0-9]*) ;; *) [ "$k" -gt "$n" ] && n=$k;; esac; done`,
    "n=$((n+1))",
    // The new `system` link is renamed over the old one: never a moment without a profile.
    `ln -s ${p} "${PROFILE_DIR}/system-$n-link" && ln -sfn "system-$n-link" ${PROFILE_DIR}/.system.tmp && mv -T ${PROFILE_DIR}/.system.tmp ${SYSTEM_PROFILE}`,
  ].join("; ");
  return [
    `[ -x ${p}/bin/switch-to-configuration ] || { echo "nixguard: ${path} is not on this host" >&2; exit ${SWITCH_GONE_EXIT}; }`,
    `if command -v nix-env >/dev/null 2>&1; then nix-env -p ${SYSTEM_PROFILE} --set ${p}; else ${newLink}; fi || exit ${SWITCH_PROFILE_EXIT}`,
    `systemd-run --unit='${unit}' --wait --collect --quiet --service-type=exec -- ${p}/bin/switch-to-configuration switch`,
  ];
}
