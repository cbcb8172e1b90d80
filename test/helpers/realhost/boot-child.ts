/**
 * A process that boots one real host, prints what it made as one JSON line and then waits to be
 * killed: the cleanup tests kill it (SIGTERM, SIGKILL) and check what is left. Run with tsx.
 */
import { bootHost } from "./host.js";

const host = await bootHost({ name: "orphan" });
const { nspawn, init } = host.pids();
process.stdout.write(
  `${JSON.stringify({ netns: host.netns, link: host.rootLink, dir: host.dir, machine: host.machine, nspawn, init })}\n`,
);
setInterval(() => {}, 1 << 30);
