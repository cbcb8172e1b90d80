/**
 * Real-host test bed: real systemd hosts (Debian, systemd as PID 1, real sshd) booted in
 * systemd-nspawn containers, one network namespace each, with a NixOS-style generation layout —
 * for tests that need what only real systemd does (crash loops with NRestarts climbing, start
 * limits, hung stops, reboots, switches). Needs root; see available.ts for when tests skip or fail.
 *
 * Booting (each boot takes a few seconds; keep a test file to a handful):
 *
 *   import { describeRealhost, FIRST_BOOT_TIMEOUT_MS, realhostBed } from "../../helpers/realhost/index.js";
 *
 *   describeRealhost("crash loop on a real host", () => {
 *     const bed = realhostBed();                 // destroys its hosts in afterAll
 *     let web: RealHost;
 *     beforeAll(async () => {
 *       web = await bed.boot({
 *         name: "web1",                          // hostname, part of the store paths
 *         system: {                              // generation 1, active at boot
 *           units: { "app.service": "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n" },
 *           wants: { "multi-user.target": ["worker@1.service"] }, // template instances
 *         },
 *       });
 *     }, FIRST_BOOT_TIMEOUT_MS);                 // the first boot may build the root filesystem
 *   });
 *
 *   Units with [Install] WantedBy= are started at boot. A unit's file lands in
 *   /etc/systemd/system (a link into the system's store path), as on NixOS.
 *
 * Reaching it:
 *   web.transport()            NixGuard's own SshTransport (real known_hosts, StrictHostKeyChecking)
 *   web.spec()                 the SshSpec for a NixGuard config/host (address, port 22, key files)
 *   web.address                container address (10.213.250–254.x); web.identityFile, web.knownHostsFile
 *   await web.run("systemctl is-active app")   shell line over ssh; rejects unless exit 0
 *   await web.exec(cmd, timeoutMs, signal)     { stdout, stderr, exitCode } (255: ssh failed; null:
 *                              killed at timeoutMs or by signal — the remote session dies with it)
 *   await web.currentSystem()  readlink /run/current-system
 *
 * Generations (NixOS layout: /nix/store/<hash>-nixos-system-<name>-<version>,
 * /nix/var/nix/profiles/system-<N>-link, system, /run/current-system, /run/booted-system):
 *   const g2 = web.addGeneration({ units: {...} }) written into the host's store, not active yet
 *   web.generations            every system written, g.toplevel is its store path
 *   await web.switchTo(g2)     `<toplevel>/bin/apply switch` over ssh (what nixops4-nixos runs;
 *                              (g2, "switch", timeoutMs, signal) cuts the session mid-switch):
 *                              new profile generation, then switch-to-configuration in the transient
 *                              unit nixos-rebuild-switch-to-configuration (systemd-run --wait):
 *                              stops dropped units, restarts changed running ones, starts new and
 *                              failed wanted ones; exit 4 when units are left failed.
 *
 * nixops4 stand-in (NixGuard runs it as nixops4.command, in the flake directory):
 *   const flake = makeStandinFlake([{ host: web, resource: ["fediversity", "web1"] }]);
 *   config: nixops4.command = flake.command, the deployment's flake = flake.dir, target "fediversity"
 *   flake.deploy(web, g2)      what the next apply switches web to (default: its newest generation)
 *   flake.setCli("old")        older CLI: progress on stdout, `apply [DEPLOYMENT]`
 *   flake.calls()              one start/end record per run (argv, exit)
 *   flake.cleanup()
 *
 * Lifecycle:
 *   await web.reboot()         `systemctl reboot` inside; resolves when up again (web.boots counts)
 *   await web.stop() / start() power off (unreachable) / boot again from the profile's system
 *   await web.destroy()        container, namespace, veth, directory gone (also done by the bed's
 *                              afterAll, at process exit, and by the next run's sweep if killed)
 *
 * Unit files for the usual situations (crash loop, start limit, hung stop, oneshots, timer, …):
 * units.ts. Golden `systemctl show` outputs recorded with them on such hosts:
 * test/fixtures/golden/systemctl/real/ (README there: what real systemd 252 showed).
 */
export { realhostRequired, realhostStatus } from "./available.js";
export type { Generation, SystemSpec } from "./generation.js";
export { type BootOptions, bootHost, RealHost } from "./host.js";
export { ensureRootfs, ROOTFS } from "./rootfs.js";
export { sweep } from "./slots.js";
export type { ExecResult } from "./ssh-exec.js";
export {
  makeStandinFlake,
  NIXOPS4_STANDIN,
  type StandinCall,
  type StandinFlake,
  type StandinMachine,
} from "./standin.js";
export { UNITS } from "./units.js";
export { describeRealhost, FIRST_BOOT_TIMEOUT_MS, realhostBed } from "./vitest.js";
