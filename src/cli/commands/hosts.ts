import { type Command, Option } from "commander";
import type { DeploymentSummary } from "../../api/control-plane-port.js";
import { HOST_STATES, type HostHealth } from "../../controller/types.js";
import { formatDeployments, formatHosts } from "../format.js";
import { type CommandKit, type Common, clientCommand } from "../options.js";

/** `hosts` and `deployments`: what the fleet is and how it is. */
export function registerFleet(program: Command, kit: CommandKit): void {
  clientCommand(program, "hosts", "hosts and their health")
    .addOption(new Option("--state <state>", "only hosts in this state").choices(HOST_STATES))
    .option("--deployment <name>", "only hosts of this deployment")
    .action(async (opts: Common & { state?: string; deployment?: string }) => {
      const q = new URLSearchParams();
      if (opts.state) q.set("state", opts.state);
      if (opts.deployment) q.set("deployment", opts.deployment);
      const hosts = await kit.client(opts).get<HostHealth[]>(`/api/v1/hosts${q.size ? `?${q}` : ""}`);
      kit.print(opts, hosts, (wide) => formatHosts(hosts, kit.io.now(), wide));
    });

  clientCommand(
    program,
    "deployments",
    "deployments: host counts by state, pause, quarantine, last deploy",
  ).action(async (opts: Common) => {
    const list = await kit.client(opts).get<DeploymentSummary[]>("/api/v1/deployments");
    kit.print(opts, list, (wide) => formatDeployments(list, kit.io.now(), wide));
  });
}
