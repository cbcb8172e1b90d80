export { ApiClient, ApiError, clientExitCode, resolveClient } from "./client.js";
export { registerClientCommands } from "./commands.js";
export type { ClientIo } from "./io.js";
