// Child process for the SIGKILL tests: runs the fake nixops4 (hanging) under the exec guard in
// the flake dir given as argv[2], prints "started <pgid>" and waits to be killed.
import { boundedEnv } from "../../../src/exec/env.js";
import { runGuarded } from "../../../src/exec/run.js";
import { FAKE_NIXOPS4 } from "../../helpers/fake-nixops4.js";

const flake = process.argv[2] ?? process.cwd();
const p = runGuarded({
  command: FAKE_NIXOPS4,
  args: ["apply", "--no-interactive", "demo"],
  cwd: flake,
  env: boundedEnv(),
  killGraceMs: 1000,
});
process.stdout.write(`started ${p.pgid}\n`);
await p.result;
