/**
 * Unit files for the situations real systemd is recorded and tested in (the golden fixtures under
 * test/fixtures/golden/systemctl/real/ were recorded with exactly these). Units without an
 * [Install] section are not started at boot: a test starts them when its clock should begin.
 */
const unit = (description: string, service: string, install = false) =>
  `[Unit]\nDescription=${description}\n\n[Service]\n${service}\n${install ? "\n[Install]\nWantedBy=multi-user.target\n" : ""}`;

export const UNITS = {
  /** Runs for ever: active (running). */
  active: unit("long-running service", "ExecStart=/bin/sleep infinity", true),
  /** Exits 3 at once and is not restarted: failed, Result=exit-code, ExecMainStatus=3. */
  failed: unit("service that exits 3", "ExecStart=/bin/sh -c 'exit 3'"),
  /**
   * The most common way a NixOS service breaks: Restart=always with RestartSec longer than the
   * crash interval never reaches the start limit; it alternates activating (auto-restart) and
   * active (running) while NRestarts climbs.
   */
  crashLoop: unit(
    "service that crashes after 2 s, restarted after 3 s",
    "ExecStart=/bin/sh -c 'sleep 2; exit 3'\nRestart=always\nRestartSec=3",
  ),
  /**
   * A fast crash loop: the start limit (5 starts in 10 s by default) stops it — failed, but with
   * Result=exit-code (systemd keeps the first failure's result), not start-limit-hit.
   */
  startLimit: unit(
    "service that exits 3 at once, restarted after 100 ms",
    "ExecStart=/bin/sh -c 'exit 3'\nRestart=always\nRestartSec=100ms",
  ),
  /** Oneshot that succeeds: inactive (dead), Result=success. */
  oneshotSuccess: unit("oneshot that succeeds", "Type=oneshot\nExecStart=/bin/true"),
  /** Oneshot with RemainAfterExit: active (exited). */
  oneshotRemain: unit("oneshot that stays active", "Type=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true"),
  /** Oneshot that fails: failed, Result=exit-code. */
  oneshotFailure: unit("oneshot that fails", "Type=oneshot\nExecStart=/bin/sh -c 'exit 1'"),
  /** The service a timer starts (a oneshot, as nixpkgs' timers' services are). */
  timerService: unit("service started by a timer", "Type=oneshot\nExecStart=/bin/true"),
  /** A timer: active (waiting) between elapses. */
  timer:
    "[Unit]\nDescription=timer every hour\n\n[Timer]\nOnActiveSec=1h\nOnUnitActiveSec=1h\n\n[Install]\nWantedBy=timers.target\n",
  /** Template; instances are wanted explicitly (worker@1.service), as NixOS's mastodon-streaming-N. */
  template: unit("templated worker %i", "ExecStart=/bin/sleep infinity"),
  /** ExecCondition exits 1: the start is skipped, the unit stays inactive and is not failed. */
  conditionSkip: unit(
    "service whose ExecCondition says no",
    "ExecCondition=/bin/false\nExecStart=/bin/sleep infinity",
  ),
  /** Its stop never ends: `systemctl restart` hangs for ever (deactivating, stop job running). */
  hungStop: unit(
    "service whose stop hangs",
    "ExecStart=/bin/sleep infinity\nExecStop=/bin/sleep infinity\nTimeoutStopSec=infinity",
    true,
  ),
  /** Takes a minute to start (ExecStartPre): activating (start-pre) without crashing. */
  slowStart: unit(
    "service that takes a minute to start",
    "ExecStartPre=/bin/sleep 60\nExecStart=/bin/sleep infinity",
  ),
} as const;

/** A service started at boot (WantedBy=multi-user.target): `exec` its ExecStart, `extra` more [Service] lines. */
export const service = (exec: string, extra = "") =>
  `[Unit]\nDescription=test unit\n[Service]\nExecStart=${exec}\n${extra}[Install]\nWantedBy=multi-user.target\n`;
