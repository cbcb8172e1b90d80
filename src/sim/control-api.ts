import type { ServerResponse } from "node:http";
import { parseFaultSpec } from "./faults.js";
import { type Fleet, SimError, type SimHost, unitUp } from "./fleet.js";
import type { Nixops4Behavior, Nixops4Sim } from "./nixops4.js";
import { systemdTimestamp } from "./render/systemctl.js";

/**
 * The JSON control API under /sim/: fault injection, inspection, nixops4 behaviour. Loopback
 * only, no auth: it is a test fixture, never part of a NixGuard deployment.
 */

export interface HostSummary {
  name: string;
  deployment: string;
  address: string;
  services: string[];
  target: string;
  currentSystem: string;
  desiredSystem: string;
  /** Units not healthy right now (flaps included, as a probe would see them). */
  downUnits: string[];
  faults: number;
}

export function hostSummary(fleet: Fleet, h: SimHost): HostSummary {
  return {
    name: h.def.name,
    deployment: h.def.deployment,
    address: h.def.address,
    services: h.def.services,
    target: h.def.target,
    currentSystem: h.currentSystem,
    desiredSystem: fleet.desiredSystem(h),
    downUnits: [...h.units.keys()].filter((id) => !unitUp(fleet.unit(h, id))),
    faults: fleet.activeFaults().filter((f) => f.spec.host === h.def.name).length,
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const parse = (body: Buffer): unknown => (body.length === 0 ? {} : JSON.parse(body.toString("utf8")));

export function handleControl(
  fleet: Fleet,
  nixops4: Nixops4Sim,
  method: string,
  path: string,
  body: Buffer,
  res: ServerResponse,
): void {
  const [status, reply] = route(fleet, nixops4, method, path, body);
  json(res, status, reply);
}

type Reply = [status: number, body: unknown];

function route(fleet: Fleet, nixops4: Nixops4Sim, method: string, path: string, body: Buffer): Reply {
  try {
    const parts = path.split("/").filter(Boolean).slice(1); // drop "sim"
    const [a, b, c] = parts;
    if (method === "GET" && a === "health") return [200, { ok: true, hosts: fleet.size }];
    if (method === "GET" && a === "hosts" && !b)
      return [200, fleet.hosts().map((h) => hostSummary(fleet, h))];
    if (a === "hosts" && b) {
      const h = fleet.host(decodeURIComponent(b));
      if (!h) return [404, { error: `no host ${b}` }];
      if (method === "GET" && !c)
        return [
          200,
          {
            ...hostSummary(fleet, h),
            units: [...h.units.keys()].map((id) => {
              const u = fleet.unit(h, id) as NonNullable<ReturnType<Fleet["unit"]>>;
              return { ...u, activeEnterTimestamp: systemdTimestamp(u.activeEnterAt) };
            }),
            disk: { sizeBytes: h.diskSizeBytes, usedBytes: h.diskUsedBytes },
            load: h.load,
          },
        ];
      if (method === "POST" && c === "restart") {
        const units = (parse(body) as { units?: unknown }).units;
        if (!Array.isArray(units) || !units.every((u) => typeof u === "string"))
          return [400, { error: "units must be an array of strings" }];
        return [200, fleet.restart(h.def.name, units)];
      }
      if (method === "POST" && c === "generation")
        return [200, { desiredSystem: fleet.bumpGeneration(h.def.name) }];
    }
    if (a === "faults") {
      if (method === "GET" && !b) return [200, fleet.activeFaults()];
      if (method === "POST" && !b) {
        const spec = parseFaultSpec(parse(body));
        if (typeof spec === "string") return [400, { error: spec }];
        return [201, fleet.inject(spec)];
      }
      if (method === "DELETE" && b) return [fleet.heal(b) ? 200 : 404, { healed: b }];
    }
    if (method === "POST" && a === "heal") {
      fleet.healAll();
      return [200, { healed: true }];
    }
    if (method === "POST" && a === "deploy") {
      const { target, newGeneration } = parse(body) as { target?: unknown; newGeneration?: unknown };
      const hosts = typeof target === "string" ? fleet.resolveTarget(target) : undefined;
      if (!hosts) return [404, { error: `unknown target ${String(target)}` }];
      for (const h of hosts) fleet.applyDeploy(h, newGeneration === true);
      return [200, { hosts: hosts.map((h) => h.def.name) }];
    }
    if (a === "nixops4") {
      if (method === "GET" && !b) return [200, nixops4.behavior];
      if (method === "PUT" && !b) {
        const raw = parse(body) as Partial<Nixops4Behavior>;
        if (raw.mode !== undefined && !["ok", "fail", "panic", "hang"].includes(raw.mode))
          return [400, { error: "mode must be ok, fail, panic or hang" }];
        if (raw.cli !== undefined && raw.cli !== "older" && raw.cli !== "newer")
          return [400, { error: "cli must be older or newer" }];
        if (raw.delayMs !== undefined && !(Number.isFinite(raw.delayMs) && raw.delayMs >= 0))
          return [400, { error: "delayMs must be a number >= 0" }];
        return [200, nixops4.setBehavior(raw)];
      }
      if (method === "GET" && b === "runs") return [200, nixops4.list()];
    }
    return [404, { error: `no route ${method} ${path}` }];
  } catch (e) {
    if (e instanceof SimError) return [e.code === "SIM_NOT_FOUND" ? 404 : 400, { error: e.message }];
    if (e instanceof SyntaxError) return [400, { error: `invalid JSON: ${e.message}` }];
    return [500, { error: (e as Error).message }];
  }
}
