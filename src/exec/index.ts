export { boundedEnv, resolveCommand } from "./env.js";
export { type RunningProcess, type RunOptions, type RunResult, runGuarded } from "./run.js";
export { TailBuffer } from "./tail.js";
