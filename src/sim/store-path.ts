import { createHash } from "node:crypto";

// Nix's base32 alphabet (no e, o, u, t): store path hashes look exactly like real ones.
const NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz";

function nixHash(seed: string): string {
  const digest = createHash("sha256").update(seed).digest();
  let out = "";
  for (let i = 0; i < 32; i++) out += NIX_BASE32[(digest[i] ?? 0) & 31];
  return out;
}

/**
 * `/nix/store/<32 base32>-nixos-system-<host>-<version>`, what `readlink /run/current-system`
 * prints on NixOS. Deterministic in (host, generation, variant) so a redeploy of an unchanged
 * flake yields the same toplevel, as it does for real.
 */
export function systemStorePath(host: string, generation: number, variant = ""): string {
  const hash = nixHash(`${host}\0${generation}\0${variant}`);
  const rev = nixHash(`rev\0${generation}\0${variant}`).slice(0, 7);
  const day = String(1 + (generation % 28)).padStart(2, "0");
  return `/nix/store/${hash}-nixos-system-${host}-25.05.202506${day}.${rev}`;
}
