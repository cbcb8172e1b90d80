import { describe, expect, it } from "vitest";
import { KeyedSerial } from "../../../src/controller/serial.js";

const tick = () => new Promise((r) => setTimeout(r, 5));

/** A task that logs its start and end around a timer turn, and returns its name. */
const logged = (log: string[], name: string) => async () => {
  log.push(`${name} start`);
  await tick();
  log.push(`${name} end`);
  return name;
};

describe("KeyedSerial", () => {
  it("runs tasks of one key one at a time, in arrival order", async () => {
    const s = new KeyedSerial();
    const log: string[] = [];
    const task = (name: string) => logged(log, name);
    const results = await Promise.all([s.run("d", task("1")), s.run("d", task("2")), s.run("d", task("3"))]);
    expect(results).toEqual(["1", "2", "3"]);
    expect(log).toEqual(["1 start", "1 end", "2 start", "2 end", "3 start", "3 end"]);
  });

  it("runs tasks of different keys at once", async () => {
    const s = new KeyedSerial();
    const log: string[] = [];
    const task = (name: string) => logged(log, name);
    await Promise.all([s.run("a", task("a")), s.run("b", task("b"))]);
    expect(log.slice(0, 2).sort()).toEqual(["a start", "b start"]);
  });

  it("a failed task gives its caller the error and does not stop the next", async () => {
    const s = new KeyedSerial();
    const failed = s.run("d", async () => {
      await tick();
      throw new Error("boom");
    });
    const next = s.run("d", async () => "next");
    await expect(failed).rejects.toThrow("boom");
    await expect(next).resolves.toBe("next");
  });

  it("forgets a key once its last task is done", async () => {
    const s = new KeyedSerial();
    await Promise.all([s.run("a", tick), s.run("b", tick), s.run("a", tick)]);
    await tick();
    expect(s.size).toBe(0);
  });
});
