export { ApiClient, ApiError, clientExitCode, resolveClient } from "./client.js";
export { type ClientIo, registerClientCommands } from "./commands.js";
