import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests start real processes (redis-server, sshd, prometheus); two cores only.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    // A failing test that ran daemons prints their last telling log lines (test/setup/daemon-logs.ts).
    setupFiles: ["test/setup/daemon-logs.ts"],
  },
});
