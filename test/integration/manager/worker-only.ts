/** A worker-only NixGuard (`--roles worker`) in its own process, for the outcome test. */
import { loadConfigFile } from "../../../src/config/load.js";
import { silentLogger } from "../../../src/log.js";
import { Manager } from "../../../src/manager.js";

const file = process.argv[2]!;
const manager = new Manager({
  loaded: loadConfigFile(file),
  logger: silentLogger(),
  roles: { controller: false, worker: true, api: false },
  processMetrics: false,
});
await manager.start();
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  void manager.stop().then(() => process.exit(0));
});
