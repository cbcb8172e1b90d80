import type { UnitState } from "../../src/probes/types.js";

/** A unit as `systemctl show` reports it: loaded, `activeState`, sub-state running or dead. */
export const unitState = (id: string, activeState: string, extra: Partial<UnitState> = {}): UnitState => ({
  id,
  loadState: "loaded",
  activeState,
  subState: activeState === "active" ? "running" : "dead",
  result: "success",
  nRestarts: 0,
  type: "simple",
  ...extra,
});
