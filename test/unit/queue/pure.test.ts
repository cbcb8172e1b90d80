import { describe, expect, it } from "vitest";
import { CommandError, ProbeError } from "../../../src/errors.js";
import { boundedEnv } from "../../../src/exec/env.js";
import { TailBuffer } from "../../../src/exec/tail.js";
import { applyArgv, listArgv } from "../../../src/nixops4/argv.js";
import { classifyApply, errorChain } from "../../../src/nixops4/outcome.js";
import { ProgressTracker, parseSpanLine } from "../../../src/nixops4/progress.js";
import { LEFT_OUT, OutputRedactor } from "../../../src/nixops4/redact.js";
import { restartErrorOutcome } from "../../../src/queue/handle-restart.js";
import { jobIdFor, keyOfJobId } from "../../../src/queue/job-id.js";
import { formatRecord, parseRecord } from "../../../src/queue/log-record.js";
import { LineSplitter } from "../../../src/queue/progress.js";

describe("job ids", () => {
  it("derive from the key, have no ':', and give the key back", () => {
    expect(jobIdFor("redeploy__fediversity", 17)).toBe("redeploy__fediversity..17");
    expect(keyOfJobId("redeploy__fediversity__mastodon..3")).toBe("redeploy__fediversity__mastodon");
    // A name may end in '.', the run number never contains one: the last ".." splits.
    expect(keyOfJobId(jobIdFor("restart__dep.__web.", 2))).toBe("restart__dep.__web.");
    expect(keyOfJobId("42")).toBeUndefined();
    expect(keyOfJobId("redeploy__x..y")).toBeUndefined();
  });
});

describe("nixops4 argv", () => {
  const g = (extraArgs: string[], file?: string) => ({ extraArgs, ...(file ? { file } : {}) });
  it("is apply --no-interactive [extraArgs] -- TARGET", () => {
    expect(applyArgv("fediversity.mastodon", g(["--show-trace", "-v"]))).toEqual([
      "apply",
      "--no-interactive",
      "--show-trace",
      "-v",
      "--",
      "fediversity.mastodon",
    ]);
  });
  it("applies several composite paths, or the whole root when there are none (newer CLI)", () => {
    expect(applyArgv("web db", g([]))).toEqual(["apply", "--no-interactive", "--", "web", "db"]);
    expect(applyArgv("", g([]))).toEqual(["apply", "--no-interactive"]);
  });
  it("passes nixops4.file as --file and refuses --override-input with it", () => {
    expect(applyArgv("", g([], "deploy/root.nix"))).toEqual([
      "apply",
      "--no-interactive",
      "--file",
      "deploy/root.nix",
    ]);
    expect(() => applyArgv("", g(["--override-input", "nixpkgs", "github:NixOS/nixpkgs"], "x.nix"))).toThrow(
      expect.objectContaining({ code: "UNSAFE_VALUE" }),
    );
    expect(() => applyArgv("", g([], "../x.nix"))).toThrow(expect.objectContaining({ code: "UNSAFE_VALUE" }));
  });
  it("lists deployments (older CLI) or members of a path (newer)", () => {
    expect(listArgv("deployments", g([]))).toEqual(["deployments", "list", "--no-interactive"]);
    expect(listArgv("members", g([]))).toEqual(["members", "list", "--no-interactive"]);
    expect(listArgv("members", g([]), "a.b")).toEqual(["members", "list", "--no-interactive", "--", "a.b"]);
  });
  it.each(["-rf", "a;b", "$(reboot)", "x\ny", "..x"])("refuses target %j", (t) => {
    expect(() => applyArgv(t, g([]))).toThrow(expect.objectContaining({ code: "UNSAFE_VALUE" }));
  });
  it.each([["--option", "foo"], ["-vv"], ["-v", "--verbose"], ["--no-interactive"], ["--file", "x.nix"]])(
    "refuses extra args %j (outside the allowlist, or twice: nixops4 exits 2)",
    (...args) => {
      expect(() => applyArgv("x", g(args))).toThrow(expect.objectContaining({ code: "UNSAFE_VALUE" }));
    },
  );
});

describe("classifyApply", () => {
  const base = { exitCode: undefined, signal: undefined, timedOut: false, aborted: false, stderrTail: "" };
  it("maps exit codes and termination", () => {
    expect(classifyApply({ ...base, exitCode: 0 }, 1000).outcome).toBe("success");
    expect(
      classifyApply({ ...base, exitCode: 1, stderrTail: "INFO x\nnixops4 error: boom\n" }, 1000),
    ).toEqual({ outcome: "failed", message: "nixops4 error: boom" });
    expect(classifyApply({ ...base, exitCode: 101, stderrTail: "panicked at x" }, 1000).outcome).toBe(
      "panic",
    );
    expect(classifyApply({ ...base, timedOut: true, signal: "SIGKILL" }, 1_800_000)).toEqual({
      outcome: "timeout",
      message: "nixops4 apply timed out after 1800 s and was terminated",
    });
    expect(classifyApply({ ...base, aborted: true, exitCode: 143 }, 1000).outcome).toBe("cancelled");
    expect(classifyApply({ ...base, exitCode: 127 }, 1000).outcome).toBe("not-found");
    expect(classifyApply({ ...base, signal: "SIGSEGV" }, 1000).message).toMatch(/SIGSEGV/);
  });
  it("exit 1 keeps the whole Caused by: chain as the reason", () => {
    const stderr =
      "nixops4 error: Failed to create stateless resource mastodon\n\nCaused by:\n" +
      "    0: Local resource process failed with exit code: 1\n    1: ssh: connect to host 10.0.0.11 port 22: Connection timed out\n";
    expect(classifyApply({ ...base, exitCode: 1, stderrTail: stderr }, 1000).message).toBe(
      "nixops4 error: Failed to create stateless resource mastodon; caused by: Local resource process failed with exit code: 1; ssh: connect to host 10.0.0.11 port 22: Connection timed out",
    );
    expect(errorChain("nixops4 error: A\n\nCaused by:\n    B\n")).toBe("nixops4 error: A; caused by: B");
  });
  it("exit 2 is a usage error naming the argv and clap's complaint", () => {
    const stderr =
      "error: the argument '--verbose' cannot be used multiple times\n\nUsage: nixops4 apply [OPTIONS] [PATH]...\n";
    const c = classifyApply({ ...base, exitCode: 2, stderrTail: stderr }, 1000, [
      "nixops4",
      "apply",
      "-v",
      "-v",
    ]);
    expect(c.outcome).toBe("usage-error");
    expect(c.message).toBe(
      "nixops4 refused its command line (usage error, exit 2): nixops4 apply -v -v: error: the argument '--verbose' cannot be used multiple times",
    );
  });
});

describe("progress", () => {
  const span = (path: string, rest: string) =>
    `2026-11-23T10:00:00.123456Z  INFO Applying composite:Applying resource{resource=ComponentPath(${path})}${rest}`;
  it("reads a resource's start and finish from its own span, by dot path, with or without colour", () => {
    expect(parseSpanLine(span('["a", "b"]', ": nixops4::work: new"))).toEqual({ kind: "start", path: "a.b" });
    expect(
      parseSpanLine(span('["a", "b"]', ": nixops4::work: close time.busy=1.2ms time.idle=7.5s")),
    ).toEqual({
      kind: "finish",
      path: "a.b",
    });
    expect(
      parseSpanLine(
        '\u001b[2m2026-11-23T10:00:00Z\u001b[0m \u001b[32m INFO\u001b[0m \u001b[1mApplying resource\u001b[0m{resource=ComponentPath(["web"])}: nixops4::work: new',
      ),
    ).toEqual({ kind: "start", path: "web" });
    // A nested span's close is not the resource's; nor are events inside the span.
    expect(
      parseSpanLine(
        span('["a"]', ':creating resource{name="a"}: nixops4::work: close time.busy=1ms time.idle=2ms'),
      ),
    ).toBeUndefined();
    expect(
      parseSpanLine(span('["a"]', ": nixops4::work: Skipping update for resource a: inputs unchanged")),
    ).toBeUndefined();
    expect(parseSpanLine("2026-11-23T10:00:00Z  INFO Applying resource: fediversity.garage")).toBeUndefined();
  });
  it("counts planned, started and finished resources across both streams' lines", () => {
    const t = new ProgressTracker();
    for (const l of [
      "The following resources (and nested composites, if any) will be applied:",
      "  - a",
      "  - b",
      span('["a"]', ": nixops4::work: new"),
      span('["b"]', ": nixops4::work: new"),
      span('["a"]', ": nixops4::work: close time.busy=1ms time.idle=2ms"),
    ])
      t.push(l);
    expect(t.snapshot()).toEqual({
      planned: 2,
      started: 2,
      finished: 1,
      running: ["b"],
      message: "finished a",
    });
  });
  it("leaves resource input and output values out, keeping their names", () => {
    const r = new OutputRedactor();
    const out = [
      "The following resources were created:",
      "  - resource a",
      "    - input args: [",
      '                "secret"',
      "            ]",
      '    - output token: "secret"',
      "2026-11-23T10:00:00Z  INFO Applying composite: nixops4::work: close time.busy=1ms time.idle=2ms",
      "Resource inputs for a: {secret}",
    ].map((l) => r.filter(l));
    expect(out).toEqual([
      "The following resources were created:",
      "  - resource a",
      `    - input args: ${LEFT_OUT}`,
      undefined,
      undefined,
      `    - output token: ${LEFT_OUT}`,
      "2026-11-23T10:00:00Z  INFO Applying composite: nixops4::work: close time.busy=1ms time.idle=2ms",
      `Resource inputs for a: ${LEFT_OUT}`,
    ]);
  });
  it("job log records keep stream and time, and cannot be forged by a newline", () => {
    expect(formatRecord(5, "stdout", "a\n9 n forged")).toBe("5 o a 9 n forged\n");
    expect(parseRecord("5 e x y", 0)).toEqual({ time: 5, stream: "stderr", text: "x y" });
    expect(parseRecord("5 n [nixguard] x", 0)).toEqual({ time: 5, stream: "nixguard", text: "[nixguard] x" });
    expect(parseRecord("partial line", 7)).toEqual({ time: 7, stream: "stderr", text: "partial line" });
  });
  it("splits chunks into lines across boundaries and multibyte characters, bounding long lines", () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l), 10);
    const bytes = Buffer.from("ab\ncdé\n0123456789ABCDEF\ntail");
    for (const b of bytes) s.push(Buffer.from([b]));
    s.end();
    expect(lines).toEqual(["ab", "cdé", "01234 … [6 characters left out] … BCDEF", "tail"]);
  });
  it("keeps the start and the end of a line that never ends, however it arrives", () => {
    // A flood with no newline, then the next message on the same line (nixops4 fault 9).
    for (const size of [1, 7, 4096]) {
      const lines: string[] = [];
      const s = new LineSplitter((l) => lines.push(l), 10);
      const text = `${"x".repeat(10_000)}Applying\nnext`;
      for (let i = 0; i < text.length; i += size) s.push(text.slice(i, i + size));
      s.end();
      expect(lines).toEqual(["xxxxx … [9998 characters left out] … lying", "next"]);
    }
  });
});

describe("TailBuffer", () => {
  it("keeps exactly the last bytes", () => {
    const t = new TailBuffer(5);
    for (const c of ["abc", "defg", "h"]) t.push(Buffer.from(c));
    expect(t.toString()).toBe("defgh");
    t.push(Buffer.from("0123456789"));
    expect(t.toString()).toBe("56789");
    expect(t.total).toBe(18);
  });
});

describe("boundedEnv", () => {
  it("passes PATH, HOME, NIX_*, SSH_AUTH_SOCK, LANG only", () => {
    expect(
      boundedEnv({
        PATH: "/bin",
        HOME: "/root",
        NIX_PATH: "x",
        SSH_AUTH_SOCK: "/s",
        LANG: "C.UTF-8",
        NIXGUARD_TOKEN: "secret",
        NODE_OPTIONS: "--require evil",
        CREDENTIALS_DIRECTORY: "/run/credentials",
      }),
    ).toEqual({ PATH: "/bin", HOME: "/root", NIX_PATH: "x", SSH_AUTH_SOCK: "/s", LANG: "C.UTF-8" });
  });
});

describe("restartErrorOutcome", () => {
  it("branches on codes", () => {
    expect(restartErrorOutcome(new ProbeError("PROBE_UNREACHABLE", "x"))).toBe("unreachable");
    expect(restartErrorOutcome(new CommandError("COMMAND_NOT_FOUND", "x", { argv: [] }))).toBe("not-found");
    expect(restartErrorOutcome(new CommandError("COMMAND_TIMEOUT", "x", { argv: [] }))).toBe("timeout");
    expect(restartErrorOutcome(new Error("other"))).toBe("failed");
  });
});
