// The `node` and `service` command groups: docker's verbs and flags. Like
// program.ts, only commander is loaded here; handlers load on demand.
import { Option, type Command } from 'commander';
import type * as NodesModule from '../commands/nodes.js';
import type * as ServicesModule from '../commands/services.js';
import type { Handler } from '../context.js';

type Loader = () => Promise<Handler>;
type Act = (cmd: Command, load: Loader) => Command;

const collect = (v: string, prev?: string[]): string[] => [...(prev ?? []), v];

const filterFlag = (cmd: Command): Command => cmd.option('-f, --filter <filter>', 'Filter output based on conditions provided', collect);

/** Flags `service create` and `service update` share (docker's names and help). */
function serviceFlags(cmd: Command): Command {
  return cmd
    .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
    .option('-q, --quiet', 'Suppress progress output')
    .option('--max-concurrent <uint>', 'Number of job tasks to run concurrently (default equal to --replicas)')
    .option('--replicas <uint>', 'Number of tasks')
    .option('--replicas-max-per-node <uint>', 'Maximum number of tasks per node (default 0 = unlimited)')
    .option('--reserve-cpu <decimal>', 'Reserve CPUs')
    .option('--reserve-memory <bytes>', 'Reserve Memory')
    .option('--limit-cpu <decimal>', 'Limit CPUs')
    .option('--limit-memory <bytes>', 'Limit Memory')
    .option('--limit-pids <int>', 'Limit maximum number of processes (default 0 = unlimited)')
    .option('--restart-condition <string>', 'Restart when condition is met ("none", "on-failure", "any") (default "any")')
    .option('--restart-delay <duration>', 'Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)')
    .option('--restart-max-attempts <uint>', 'Maximum number of restarts before giving up')
    .option('--restart-window <duration>', 'Window used to evaluate the restart policy (ns|us|ms|s|m|h)')
    .option('--hostname <string>', 'Container hostname')
    .option('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .option('--entrypoint <command>', 'Overwrite the default ENTRYPOINT of the image')
    .option('--stop-signal <string>', 'Signal to stop the container')
    .option('--stop-grace-period <duration>', 'Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--init', 'Use an init inside each service container to forward signals and reap processes');
}

/** The builders, keyed like program.ts's command definitions. */
export function defineSwarmObjectCommands(act: Act): Record<string, (c: Command) => Command> {
  const nodes = async (name: keyof typeof NodesModule): Promise<Handler> => (await import('../commands/nodes.js'))[name] as Handler;
  const services = async (name: keyof typeof ServicesModule): Promise<Handler> =>
    (await import('../commands/services.js'))[name];
  return {
    // ----- nodes -----
    nodeLs: (c) =>
      act(
        filterFlag(
          c
            .description('List nodes in the swarm')
            .option('-q, --quiet', 'Only display IDs')
            .option('--format <string>', 'Format output using a custom template'),
        ),
        () => nodes('ls'),
      ),
    nodeInspect: (c) =>
      act(
        c
          .description('Display detailed information on one or more nodes')
          .argument('<self|node...>')
          .option('-f, --format <string>', 'Format output using a custom template')
          .option('--pretty', 'Print the information in a human friendly format'),
        () => nodes('inspect'),
      ),
    nodePs: (c) =>
      act(
        filterFlag(
          c
            .description('List tasks running on one or more nodes, defaults to current node')
            .argument('[node...]')
            .option('-q, --quiet', 'Only display task IDs')
            .option('--no-trunc', 'Do not truncate output')
            .option('--format <string>', 'Pretty-print tasks using a Go template'),
        ),
        () => nodes('ps'),
      ),
    nodeUpdate: (c) =>
      act(
        c
          .description('Update a node')
          .argument('<node>')
          .option('--availability <string>', 'Availability of the node ("active", "pause", "drain")')
          .option('--label-add <list>', 'Add or update a node label (key=value)', collect)
          .option('--label-rm <list>', 'Remove a node label if exists', collect)
          .option('--role <string>', 'Role of the node ("worker", "manager")'),
        () => nodes('update'),
      ),
    nodePromote: (c) => act(c.description('Promote one or more nodes to manager in the swarm').argument('<node...>'), () => nodes('promote')),
    nodeDemote: (c) => act(c.description('Demote one or more nodes from manager in the swarm').argument('<node...>'), () => nodes('demote')),
    nodeRm: (c) =>
      act(
        c
          .description('Remove one or more nodes from the swarm')
          .argument('<node...>')
          .option('-f, --force', 'Force remove a node from the swarm'),
        () => nodes('rm'),
      ),
    // ----- services -----
    serviceCreate: (c) =>
      act(
        serviceFlags(
          c
            .description('Create a new service')
            .passThroughOptions()
            .argument('<image>')
            .argument('[command...]')
            .option('--name <string>', 'Service name')
            .option('--mode <string>', 'Service mode ("replicated", "global", "replicated-job", "global-job")', 'replicated')
            .option('--constraint <list>', 'Placement constraints', collect)
            .option('--placement-pref <pref>', 'Add a placement preference', collect)
            .option('-e, --env <list>', 'Set environment variables', collect)
            .option('--env-file <list>', 'Read in a file of environment variables', collect)
            .option('-l, --label <list>', 'Service labels', collect)
            .option('--container-label <list>', 'Container labels', collect)
            .option('--mount <mount>', 'Attach a filesystem mount to the service', collect)
            .option('-p, --publish <port>', 'Publish a port as a node port', collect)
            .option('--network <network>', 'Network attachments', collect),
        ),
        () => services('create'),
      ),
    serviceLs: (c) =>
      act(
        filterFlag(
          c
            .description('List services')
            .option('-q, --quiet', 'Only display IDs')
            .option('--format <string>', 'Format output using a custom template')
            .addOption(new Option('--no-trunc', 'Do not truncate output').hideHelp()),
        ),
        () => services('ls'),
      ),
    servicePs: (c) =>
      act(
        filterFlag(
          c
            .description('List the tasks of one or more services')
            .argument('<service...>')
            .option('-q, --quiet', 'Only display task IDs')
            .option('--no-trunc', 'Do not truncate output')
            .option('--format <string>', 'Pretty-print tasks using a Go template'),
        ),
        () => services('ps'),
      ),
    serviceInspect: (c) =>
      act(
        c
          .description('Display detailed information on one or more services')
          .argument('<service...>')
          .option('-f, --format <string>', 'Format output using a custom template')
          .option('--pretty', 'Print the information in a human friendly format'),
        () => services('inspect'),
      ),
    serviceScale: (c) =>
      act(
        c
          .description('Scale one or multiple replicated services')
          .argument('<service=replicas...>')
          .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge'),
        () => services('scale'),
      ),
    serviceUpdate: (c) =>
      act(
        serviceFlags(
          c
            .description('Update a service')
            .argument('<service>')
            .option('--image <string>', 'Service image tag')
            .option('--args <command>', 'Service command args')
            .option('--force', 'Force update even if no changes require it')
            .option('--rollback', 'Rollback to previous specification')
            .option('--constraint-add <list>', 'Add or update a placement constraint', collect)
            .option('--constraint-rm <list>', 'Remove a constraint', collect)
            .option('--placement-pref-add <pref>', 'Add a placement preference', collect)
            .option('--placement-pref-rm <pref>', 'Remove a placement preference', collect)
            .option('--env-add <list>', 'Add or update an environment variable', collect)
            .option('--env-rm <list>', 'Remove an environment variable', collect)
            .option('--label-add <list>', 'Add or update a service label', collect)
            .option('--label-rm <list>', 'Remove a label by its key', collect)
            .option('--container-label-add <list>', 'Add or update a container label', collect)
            .option('--container-label-rm <list>', 'Remove a container label by its key', collect)
            .option('--mount-add <mount>', 'Add or update a mount on a service', collect)
            .option('--mount-rm <list>', 'Remove a mount by its target path', collect)
            .option('--publish-add <port>', 'Add or update a published port', collect)
            .option('--publish-rm <port>', 'Remove a published port by its target port', collect)
            .option('--network-add <network>', 'Add a network', collect)
            .option('--network-rm <list>', 'Remove a network', collect),
        ),
        () => services('update'),
      ),
    serviceRm: (c) => act(c.description('Remove one or more services').argument('<service...>'), () => services('rm')),
  };
}

type Entry = readonly [name: string, key: string, aliases?: readonly string[]];

/** The two management groups, in program.ts's GROUPS shape. */
export const SWARM_OBJECT_GROUPS: Record<'node' | 'service', { description: string; commands: readonly Entry[] }> = {
  node: {
    description: 'Manage Swarm nodes',
    commands: [
      ['demote', 'nodeDemote'],
      ['inspect', 'nodeInspect'],
      ['ls', 'nodeLs', ['list']],
      ['promote', 'nodePromote'],
      ['ps', 'nodePs'],
      ['rm', 'nodeRm', ['remove']],
      ['update', 'nodeUpdate'],
    ],
  },
  service: {
    description: 'Manage Swarm services',
    commands: [
      ['create', 'serviceCreate'],
      ['inspect', 'serviceInspect'],
      ['ls', 'serviceLs', ['list']],
      ['ps', 'servicePs'],
      ['rm', 'serviceRm', ['remove']],
      ['scale', 'serviceScale'],
      ['update', 'serviceUpdate'],
    ],
  },
};
