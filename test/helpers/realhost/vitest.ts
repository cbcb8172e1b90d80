import { afterAll, describe, it } from "vitest";
import { realhostRequired, realhostStatus } from "./available.js";
import { type BootOptions, RealHost } from "./host.js";
import { ROOTFS_BUILD_TIMEOUT_MS } from "./rootfs.js";

/**
 * `describe` for real-host tests: runs them where real hosts can boot; elsewhere skips them and says
 * why — except under NIXGUARD_REALHOST=required (CI), where a bed that cannot run fails.
 */
export function describeRealhost(name: string, fn: () => void): void {
  const { ok, reason } = realhostStatus();
  if (ok) describe(name, fn);
  else if (realhostRequired()) {
    describe(name, () => {
      it("can boot real systemd hosts (NIXGUARD_REALHOST=required)", () => {
        throw new Error(`real-host test bed unavailable: ${reason}`);
      });
    });
  } else describe.skip(`${name} [skipped: ${reason}]`, fn);
}

/**
 * Hosts booted through this bed are destroyed after the file's tests (afterAll), whatever happened;
 * call it once at the top of a describeRealhost block.
 */
export function realhostBed(): { boot(opts?: BootOptions): Promise<RealHost> } {
  const hosts: RealHost[] = [];
  afterAll(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.destroy()));
  }, 60_000);
  return {
    boot: async (opts) => {
      const h = await RealHost.boot(opts);
      hosts.push(h);
      return h;
    },
  };
}

/** Hook/test timeout for the first boot of a run: it may have to build the root filesystem. */
export const FIRST_BOOT_TIMEOUT_MS = ROOTFS_BUILD_TIMEOUT_MS + 120_000;
