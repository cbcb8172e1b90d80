/**
 * The guard: a tiny Node program that sits between NixGuard and a long child (nixops4,
 * redis-server). It is the leader of a fresh process group and session, runs the real command
 * inside that group, and holds one end of a socket pair whose other end only NixGuard holds.
 * When NixGuard dies — even by SIGKILL, which no handler sees — the kernel closes NixGuard's
 * end, the guard reads EOF and ends the whole group with the same stop sequence NixGuard would
 * use: SIGINT first when the child is one that only stops cleanly on SIGINT (nixops4), then
 * SIGTERM, then SIGKILL, each after its grace. Linux's PR_SET_PDEATHSIG would do this natively
 * but Node cannot call prctl.
 *
 * It is shipped as TypeScript text and run with `node -e`, so it works the same from src/ under
 * tsx and from dist/ after tsc, with no asset file to locate at runtime.
 *
 * argv: -- <interrupt grace ms, 0 = no SIGINT> <kill grace ms> <command> [args...]. Exit: the
 * child's exit code; when the child died by a signal, the guard re-raises that signal on itself
 * so the parent sees the same. 127 when the command cannot be found, 126 when it cannot be
 * executed.
 */
export const GUARD_SOURCE = String.raw`"use strict";
const { spawn } = require("node:child_process");
const net = require("node:net");
const [interruptArg, graceArg, command, ...args] = process.argv.slice(1);
const interruptMs = Number(interruptArg) || 0;
const graceMs = Number(graceArg) || 5000;
let parentGone = false;
let child;
const noop = () => {};
// Signals sent to the group by NixGuard are meant for the child; the guard stays to report.
for (const s of ["SIGTERM", "SIGINT", "SIGHUP", "SIGPIPE"]) process.on(s, noop);
const killGroup = (signal) => { try { process.kill(-process.pid, signal); } catch {} };
const onParentGone = () => {
  if (parentGone) return;
  parentGone = true;
  const term = () => {
    killGroup("SIGTERM");
    setTimeout(() => killGroup("SIGKILL"), graceMs);
  };
  if (interruptMs > 0) {
    killGroup("SIGINT");
    setTimeout(term, interruptMs);
  } else term();
};
const link = new net.Socket({ fd: 3, readable: true, writable: false });
link.on("data", noop);
link.on("end", onParentGone);
link.on("close", onParentGone);
link.on("error", onParentGone);
child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });
child.on("error", (e) => {
  process.stderr.write("nixguard-guard: cannot run " + command + ": " + e.code + "\n");
  process.exit(e.code === "ENOENT" ? 127 : 126);
});
child.on("exit", (code, signal) => {
  // Nobody is left to read a status: take every straggler of the group down now.
  if (parentGone) killGroup("SIGKILL");
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    setTimeout(() => process.exit(128), 1000);
  } else {
    process.exit(code === null ? 1 : code);
  }
});
`;
