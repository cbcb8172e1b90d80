import { afterEach, describe, expect, it } from "vitest";
import { SshSession } from "../../../src/probes/transports/ssh-session.js";
import { alive } from "./procs.js";

/**
 * The session's framing, against a real `sh` standing in for ssh: `sh -c 'exec sh' relay -- ADDR sh`
 * ignores the ssh-style arguments and reads requests from stdin exactly as the remote shell does.
 */

const sessions: SshSession[] = [];
function session(maxBuffer = 1024 * 1024): SshSession {
  const s = new SshSession("/bin/sh", ["-c", "exec sh", "relay"], "local", maxBuffer);
  sessions.push(s);
  return s;
}
const signal = () => AbortSignal.timeout(10_000);

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

describe("ssh session framing", () => {
  it("separates stdout, stderr and the exit status, request after request", async () => {
    const s = session();
    expect(await s.run("echo out; echo err >&2; exit 7", signal())).toEqual({
      stdout: "out\n",
      stderr: "err\n",
      exitCode: 7,
    });
    // `exit` ended only the request's subshell.
    expect(await s.run("printf 'no newline'", signal())).toEqual({
      stdout: "no newline",
      stderr: "",
      exitCode: 0,
    });
    expect(s.alive).toBe(true);
  });

  it("does not let output fake the end of a frame", async () => {
    const s = session();
    const fake = `x\n${"0".repeat(32)} 0\n\n${"0".repeat(32)}\n`;
    const r = await s.run(`printf '${fake}'; printf '${fake}' >&2; exit 3`, signal());
    expect(r).toEqual({ stdout: fake, stderr: fake, exitCode: 3 });
  });

  it("keeps a request from reading the next one off the session's input", async () => {
    const s = session();
    expect((await s.run("cat; echo after", signal())).stdout).toBe("after\n");
    expect((await s.run("echo next", signal())).stdout).toBe("next\n");
  });

  it("runs a line that is not isolated in the session shell itself, framed the same", async () => {
    const s = session();
    // A program's parent is the shell that ran it: the session shell ($$) here, a subshell otherwise.
    const parentAndShell = "sh -c 'echo $PPID'; echo $$";
    const [parent, shell] = (await s.run(parentAndShell, signal(), false)).stdout.trim().split("\n");
    expect(parent).toBe(shell);
    const [subParent, subShell] = (await s.run(parentAndShell, signal())).stdout.trim().split("\n");
    expect(subShell).toBe(shell);
    expect(subParent).not.toBe(shell);
    // Output, status and the stdin isolation are the same.
    expect(await s.run("echo out; echo err >&2; false", signal(), false)).toEqual({
      stdout: "out\n",
      stderr: "err\n",
      exitCode: 1,
    });
    expect((await s.run("cat; echo after", signal(), false)).stdout).toBe("after\n");
    const fake = `x\n${"0".repeat(32)} 0\n`;
    expect((await s.run(`printf '${fake}'`, signal(), false)).stdout).toBe(fake);
    expect((await s.run("echo next", signal())).stdout).toBe("next\n");
    expect(s.alive).toBe(true);
  });

  it("kills the session when output passes the cap", async () => {
    const s = session(4096);
    await expect(s.run("head -c 100000 /dev/zero", signal())).rejects.toMatchObject({
      code: "COMMAND_FAILED",
    });
    expect(s.alive).toBe(false);
    const deadline = Date.now() + 10_000;
    while (alive(s.pid!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(alive(s.pid!)).toBe(false);
  });

  it("fails the request in flight when the shell ends, with what it printed", async () => {
    const s = session();
    // $$ is the session shell, even inside the request's subshell.
    await expect(s.run("echo dying >&2; kill -9 $$", signal())).rejects.toMatchObject({
      code: "PROBE_UNREACHABLE",
      message: expect.stringContaining("dying"),
    });
    expect(s.alive).toBe(false);
  });
});
