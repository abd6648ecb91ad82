// The command tree, docker's verbs and flags. Only commander is loaded here;
// each action imports its handler module on demand, so `--help` stays cheap.
import { Command, Option } from 'commander';
import type * as ContainersModule from './commands/containers.js';
import type * as ImagesModule from './commands/images.js';
import type * as RunModule from './commands/run.js';
import type * as SystemModule from './commands/system.js';
import type * as VolumesModule from './commands/volumes.js';
import type * as SwarmModule from './commands/swarm.js';
import type * as NetworksModule from './commands/networks.js';
import type { Context, Handler } from './context.js';
import { defineSwarmObjectCommands, SWARM_OBJECT_GROUPS } from './swarm/commands.js';

type Loader = () => Promise<Handler>;

const collect = (v: string, prev?: string[]): string[] => [...(prev ?? []), v];

/** Called by main with the chosen handler; lets main own error reporting. */
export type Dispatch = (cmd: Command, load: Loader, args: string[], opts: Record<string, unknown>) => Promise<void>;

interface Builder {
  (cmd: Command): Command;
}

function action(cmd: Command, dispatch: Dispatch, load: Loader): Command {
  return cmd.action(async (...a: unknown[]) => {
    const self = a[a.length - 1] as Command;
    const args = (self.processedArgs as unknown[]).flat().filter((x): x is string => typeof x === 'string');
    await dispatch(self, load, args, self.opts());
  });
}

// ---------- flag groups ----------

function resourceFlags(cmd: Command, forUpdate = false): Command {
  cmd
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option('--memory-reservation <bytes>', 'Memory soft limit')
    .option('--cpus <decimal>', 'Number of CPUs')
    .option('-c, --cpu-shares <int>', 'CPU shares (relative weight)')
    .option('--cpu-period <int>', 'Limit CPU CFS (Completely Fair Scheduler) period')
    .option('--cpu-quota <int>', 'Limit CPU CFS (Completely Fair Scheduler) quota')
    .option('--cpuset-cpus <string>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)');
  if (forUpdate) cmd.option('--restart <string>', 'Restart policy to apply when a container exits');
  return cmd;
}

function containerFlags(cmd: Command): Command {
  resourceFlags(cmd);
  return cmd
    .helpOption('--help', 'Print usage')
    .passThroughOptions()
    .argument('<image>')
    .argument('[command...]')
    .option('--name <string>', 'Assign a name to the container')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('-e, --env <list>', 'Set environment variables', collect)
    .option('--env-file <list>', 'Read in a file of environment variables', collect)
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .option('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('--entrypoint <string>', 'Overwrite the default ENTRYPOINT of the image')
    .option('-h, --hostname <string>', 'Container host name')
    .option('--domainname <string>', 'Container NIS domain name')
    .option('-l, --label <list>', 'Set meta data on a container', collect)
    .option('--label-file <list>', 'Read in a line delimited file of labels', collect)
    .option('--restart <string>', 'Restart policy to apply when a container exits', undefined)
    .option('--rm', 'Automatically remove the container and its associated anonymous volumes when it exits')
    .option('--init', 'Run an init inside the container that forwards signals and reaps processes')
    .option('--stop-signal <string>', 'Signal to stop the container')
    .option('--stop-timeout <int>', 'Timeout (in seconds) to stop a container')
    .option('--ulimit <ulimit>', 'Ulimit options', collect)
    .option('--privileged', 'Give extended privileges to this container')
    .option('--cap-add <list>', 'Add Linux capabilities', collect)
    .option('--cap-drop <list>', 'Drop Linux capabilities', collect)
    .option('--security-opt <list>', 'Security Options', collect)
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--tmpfs <list>', 'Mount a tmpfs directory', collect)
    .option('--network <network>', 'Connect a container to a network')
    .addOption(new Option('--net <network>').hideHelp())
    .option('--network-alias <list>', 'Add network-scoped alias for the container', collect)
    .addOption(new Option('--net-alias <list>').argParser(collect).hideHelp())
    .option('--ip <string>', 'IPv4 address (e.g., 172.30.100.104)')
    .option('--dns <list>', 'Set custom DNS servers', collect)
    .option('--dns-search <list>', 'Set custom DNS search domains', collect)
    .option('--dns-option <list>', 'Set DNS options', collect)
    .addOption(new Option('--dns-opt <list>').argParser(collect).hideHelp())
    .option('--add-host <list>', 'Add a custom host-to-IP mapping (host:ip)', collect)
    .option('--link <list>', 'Add link to another container', collect)
    .option('--expose <list>', 'Expose a port or a range of ports', collect)
    .option('-p, --publish <list>', "Publish a container's port(s) to the host", collect)
    .option('-P, --publish-all', 'Publish all exposed ports to random ports')
    .option('-v, --volume <list>', 'Bind mount a volume', collect)
    .option('--mount <mount>', 'Attach a filesystem mount to the container', collect)
    .option('--volumes-from <list>', 'Mount volumes from the specified container(s)', collect)
    .option('--volume-driver <string>', 'Optional volume driver for the container')
    .option('--log-driver <string>', 'Logging driver for the container')
    .option('--log-opt <list>', 'Log driver options', collect)
    .addOption(new Option('--platform <string>', 'Set platform if server is multi-platform capable').hideHelp())
    .addOption(new Option('--pull <string>', 'Pull image before running ("missing", "never")').hideHelp());
}

const filterFlag = (cmd: Command, short = true): Command =>
  cmd.option(`${short ? '-f, ' : ''}--filter <filter>`, 'Filter output based on conditions provided', collect);

// ---------- command definitions (each used for `shoal X` and `shoal group X`) ----------

export function defineCommands(dispatch: Dispatch): Record<string, Builder> {
  const act = (cmd: Command, load: Loader): Command => action(cmd, dispatch, load);
  const containers = async (name: keyof typeof ContainersModule): Promise<Handler> =>
    (await import('./commands/containers.js'))[name] as Handler;
  const runMod = async (name: keyof typeof RunModule): Promise<Handler> =>
    (await import('./commands/run.js'))[name] as Handler;
  const images = async (name: keyof typeof ImagesModule): Promise<Handler> =>
    (await import('./commands/images.js'))[name] as Handler;
  const system = async (name: keyof typeof SystemModule): Promise<Handler> =>
    (await import('./commands/system.js'))[name] as Handler;
  const volumes = async (name: keyof typeof VolumesModule): Promise<Handler> =>
    (await import('./commands/volumes.js'))[name] as Handler;
  const networks = async (name: keyof typeof NetworksModule): Promise<Handler> =>
    (await import('./commands/networks.js'))[name] as Handler;
  const swarmCmd = async (name: keyof typeof SwarmModule): Promise<Handler> =>
    (await import('./commands/swarm.js'))[name] as Handler;
  const swarmSpecFlags = (c: Command): Command =>
    c
      .option('--dispatcher-heartbeat <duration>', 'Dispatcher heartbeat period (ns|us|ms|s|m|h) (default 5s)')
      .option('--cert-expiry <duration>', 'Validity period for node certificates (ns|us|ms|s|m|h) (default 2160h0m0s)')
      .option('--task-history-limit <int>', 'Task history retention limit (default 5)');

  return {
    ...defineSwarmObjectCommands(act),
    run: (c) =>
      act(
        containerFlags(c.description('Create and run a new container from an image'))
          .option('-d, --detach', 'Run container in background and print container ID')
          .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
          .option('--sig-proxy', 'Proxy received signals to the process (ignored)'),
        () => runMod('run'),
      ),
    create: (c) => act(containerFlags(c.description('Create a new container')), () => runMod('create')),
    start: (c) =>
      act(
        c
          .description('Start one or more stopped containers')
          .argument('<container...>')
          .option('-a, --attach', "Attach STDOUT/STDERR and forward signals")
          .option('-i, --interactive', "Attach container's STDIN")
          .option('--detach-keys <string>', 'Override the key sequence for detaching a container'),
        () => runMod('start'),
      ),
    attach: (c) =>
      act(
        c
          .description('Attach local standard input, output, and error streams to a running container')
          .argument('<container>')
          .option('--no-stdin', 'Do not attach STDIN')
          .option('--sig-proxy', 'Proxy all received signals to the process (ignored)')
          .option('--detach-keys <string>', 'Override the key sequence for detaching a container'),
        () => runMod('attach'),
      ),
    exec: (c) =>
      act(
        c
          .description('Execute a command in a running container')
          .passThroughOptions()
          .argument('<container>')
          .argument('<command...>')
          .option('-d, --detach', 'Detached mode: run command in the background')
          .option('-i, --interactive', 'Keep STDIN open even if not attached')
          .option('-t, --tty', 'Allocate a pseudo-TTY')
          .option('-e, --env <list>', 'Set environment variables', collect)
          .option('--env-file <list>', 'Read in a file of environment variables', collect)
          .option('-u, --user <string>', 'Username or UID (format: "<name|uid>[:<group|gid>]")')
          .option('-w, --workdir <string>', 'Working directory inside the container')
          .option('--privileged', 'Give extended privileges to the command')
          .option('--detach-keys <string>', 'Override the key sequence for detaching a container'),
        () => runMod('exec'),
      ),
    ps: (c) =>
      act(
        filterFlag(
          c
            .description('List containers')
            .option('-a, --all', 'Show all containers (default shows just running)')
            .option('-q, --quiet', 'Only display container IDs')
            .option('-s, --size', 'Display total file sizes')
            .option('-n, --last <int>', 'Show n last created containers (includes all states)')
            .option('-l, --latest', 'Show the latest created container (includes all states)')
            .option('--no-trunc', "Don't truncate output")
            .option('--format <string>', 'Format output using a custom template'),
        ),
        () => containers('ps'),
      ),
    stop: (c) =>
      act(
        c
          .description('Stop one or more running containers')
          .argument('<container...>')
          .option('-t, --timeout <int>', 'Seconds to wait before killing the container')
          .addOption(new Option('--time <int>').hideHelp())
          .option('-s, --signal <string>', 'Signal to send to the container'),
        () => containers('stop'),
      ),
    restart: (c) =>
      act(
        c
          .description('Restart one or more containers')
          .argument('<container...>')
          .option('-t, --timeout <int>', 'Seconds to wait before killing the container')
          .addOption(new Option('--time <int>').hideHelp())
          .option('-s, --signal <string>', 'Signal to send to the container'),
        () => containers('restart'),
      ),
    kill: (c) =>
      act(
        c
          .description('Kill one or more running containers')
          .argument('<container...>')
          .option('-s, --signal <string>', 'Signal to send to the container'),
        () => containers('kill'),
      ),
    rm: (c) =>
      act(
        c
          .description('Remove one or more containers')
          .argument('<container...>')
          .option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
          .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
          .addOption(new Option('-l, --link', 'Remove the specified link').hideHelp()),
        () => containers('rm'),
      ),
    pause: (c) =>
      act(c.description('Pause all processes within one or more containers').argument('<container...>'), () =>
        containers('pause'),
      ),
    unpause: (c) =>
      act(c.description('Unpause all processes within one or more containers').argument('<container...>'), () =>
        containers('unpause'),
      ),
    wait: (c) =>
      act(c.description('Block until one or more containers stop, then print their exit codes').argument('<container...>'), () =>
        containers('wait'),
      ),
    rename: (c) =>
      act(c.description('Rename a container').argument('<container>').argument('<new-name>'), () => containers('rename')),
    update: (c) =>
      act(resourceFlags(c.description('Update configuration of one or more containers'), true).argument('<container...>'), () =>
        containers('update'),
      ),
    logs: (c) =>
      act(
        c
          .description('Fetch the logs of a container')
          .argument('<container>')
          .option('-f, --follow', 'Follow log output')
          .option('-n, --tail <string>', 'Number of lines to show from the end of the logs', 'all')
          .option('--since <string>', 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
          .option('--until <string>', 'Show logs before a timestamp or relative')
          .option('-t, --timestamps', 'Show timestamps')
          .option('--details', 'Show extra details provided to logs'),
        () => containers('logs'),
      ),
    top: (c) =>
      act(
        c
          .description('Display the running processes of a container')
          .passThroughOptions()
          .allowUnknownOption()
          .argument('<container>')
          .argument('[ps-options...]'),
        () => containers('top'),
      ),
    diff: (c) =>
      act(c.description("Inspect changes to files or directories on a container's filesystem").argument('<container>'), () =>
        containers('diff'),
      ),
    commit: (c) =>
      act(
        c
          .description("Create a new image from a container's changes")
          .argument('<container>')
          .argument('[repository[:tag]]')
          .option('-a, --author <string>', 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
          .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect)
          .option('-m, --message <string>', 'Commit message')
          .option('-p, --pause', 'Pause container during commit', true)
          .option('--no-pause', 'Do not pause the container during commit'),
        () => containers('commit'),
      ),
    export: (c) =>
      act(
        c
          .description("Export a container's filesystem as a tar archive")
          .argument('<container>')
          .option('-o, --output <string>', 'Write to a file, instead of STDOUT'),
        () => containers('exportContainer'),
      ),
    cp: (c) =>
      act(
        c
          .description('Copy files/folders between a container and the local filesystem')
          .argument('<src>')
          .argument('<dest>')
          .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
          .option('-L, --follow-link', 'Always follow symbol link in SRC_PATH')
          .option('-q, --quiet', 'Suppress progress output during copy'),
        async () => (await import('./commands/cp.js')).cp,
      ),
    stats: (c) =>
      act(
        c
          .description('Display a live stream of container(s) resource usage statistics')
          .argument('[container...]')
          .option('-a, --all', 'Show all containers (default shows just running)')
          .option('--no-stream', 'Disable streaming stats and only pull the first result')
          .option('--no-trunc', 'Do not truncate output')
          .option('--format <string>', 'Format output using a custom template'),
        () => containers('stats'),
      ),
    inspect: (c) =>
      act(
        c
          .description('Return low-level information on Docker objects')
          .argument('<name...>')
          .option('-f, --format <string>', 'Format output using a custom template')
          .option('-s, --size', 'Display total file sizes if the type is container')
          .option('--type <string>', 'Return JSON for specified type'),
        () => containers('inspect'),
      ),
    containerInspect: (c) =>
      act(
        c
          .description('Display detailed information on one or more containers')
          .argument('<container...>')
          .option('-f, --format <string>', 'Format output using a custom template')
          .option('-s, --size', 'Display total file sizes'),
        () => containers('containerInspect'),
      ),
    containerPrune: (c) =>
      act(
        filterFlag(c.description('Remove all stopped containers').option('-f, --force', 'Do not prompt for confirmation'), false),
        () => containers('prune'),
      ),
    // ----- images -----
    images: (c) =>
      act(
        filterFlag(
          c
            .description('List images')
            .argument('[repository[:tag]]')
            .option('-a, --all', 'Show all images (default hides intermediate images)')
            .option('-q, --quiet', 'Only show image IDs')
            .option('--digests', 'Show digests')
            .option('--no-trunc', "Don't truncate output")
            .option('--format <string>', 'Format output using a custom template'),
        ),
        () => images('images'),
      ),
    imageInspect: (c) =>
      act(
        c
          .description('Display detailed information on one or more images')
          .argument('<image...>')
          .option('-f, --format <string>', 'Format output using a custom template'),
        () => images('imageInspect'),
      ),
    history: (c) =>
      act(
        c
          .description('Show the history of an image')
          .argument('<image>')
          .option('-H, --human', 'Print sizes and dates in human readable format', true)
          .option('--no-human', 'Print sizes and dates in raw form')
          .option('-q, --quiet', 'Only show image IDs')
          .option('--no-trunc', "Don't truncate output")
          .option('--format <string>', 'Format output using a custom template'),
        () => images('history'),
      ),
    tag: (c) =>
      act(c.description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE').argument('<source>').argument('<target>'), () =>
        images('tag'),
      ),
    rmi: (c) =>
      act(
        c
          .description('Remove one or more images')
          .argument('<image...>')
          .option('-f, --force', 'Force removal of the image')
          .option('--no-prune', 'Do not delete untagged parents'),
        () => images('rmi'),
      ),
    imagePrune: (c) =>
      act(
        filterFlag(
          c
            .description('Remove unused images')
            .option('-a, --all', 'Remove all unused images, not just dangling ones')
            .option('-f, --force', 'Do not prompt for confirmation'),
          false,
        ),
        () => images('prune'),
      ),
    import: (c) =>
      act(
        c
          .description('Import the contents from a tarball to create a filesystem image')
          .argument('<file|->')
          .argument('[repository[:tag]]')
          .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect)
          .option('-m, --message <string>', 'Set commit message for imported image')
          .option('--platform <string>', 'Set platform if server is multi-platform capable'),
        async () => (await import('./commands/image-transfer.js')).importImage,
      ),
    load: (c) =>
      act(
        c
          .description('Load an image from a tar archive or STDIN')
          .option('-i, --input <string>', 'Read from tar archive file, instead of STDIN')
          .option('-q, --quiet', 'Suppress the load output'),
        async () => (await import('./commands/image-transfer.js')).load,
      ),
    save: (c) =>
      act(
        c
          .description('Save one or more images to a tar archive (streamed to STDOUT by default)')
          .argument('<image...>')
          .option('-o, --output <string>', 'Write to a file, instead of STDOUT'),
        async () => (await import('./commands/image-transfer.js')).save,
      ),
    // ----- system -----
    version: (c) =>
      act(c.description('Show the Shoal version information').option('-f, --format <string>', 'Format output using a custom template'), () =>
        system('version'),
      ),
    info: (c) =>
      act(c.description('Display system-wide information').option('-f, --format <string>', 'Format output using a custom template'), () =>
        system('info'),
      ),
    events: (c) =>
      act(
        filterFlag(
          c
            .description('Get real time events from the server')
            .option('--since <string>', 'Show all events created since timestamp')
            .option('--until <string>', 'Stream events until this timestamp')
            .option('--format <string>', 'Format output using a custom template'),
        ),
        () => system('events'),
      ),
    df: (c) =>
      act(
        c
          .description('Show docker disk usage')
          .option('-v, --verbose', 'Show detailed information on space usage')
          .option('--format <string>', 'Format output using a custom template'),
        () => system('df'),
      ),
    systemPrune: (c) =>
      act(
        filterFlag(
          c
            .description('Remove unused data')
            .option('-a, --all', 'Remove all unused images not just dangling ones')
            .option('-f, --force', 'Do not prompt for confirmation')
            .option('--volumes', 'Prune anonymous volumes'),
          false,
        ),
        () => system('prune'),
      ),
    // ----- networks -----
    networkCreate: (c) =>
      act(
        c
          .description('Create a network')
          .argument('<network>')
          .option('-d, --driver <string>', 'Driver to manage the Network', 'bridge')
          .option('--subnet <strings>', 'Subnet in CIDR format that represents a network segment', collect)
          .option('--gateway <strings>', 'IPv4 or IPv6 Gateway for the master subnet', collect)
          .option('--ip-range <strings>', 'Allocate container ip from a sub-range', collect)
          .option('--internal', 'Restrict external access to the network')
          .option('--attachable', 'Enable manual container attachment')
          .option('--label <list>', 'Set metadata on a network', collect)
          .option('-o, --opt <map>', 'Set driver specific options', collect)
          .addOption(new Option('--ipv6', 'Enable or disable IPv6 networking').hideHelp())
          .addOption(new Option('--ipam-driver <string>', 'IP Address Management Driver').hideHelp()),
        () => networks('create'),
      ),
    networkLs: (c) =>
      act(
        filterFlag(
          c
            .description('List networks')
            .option('-q, --quiet', 'Only display network IDs')
            .option('--no-trunc', 'Do not truncate the output')
            .option('--format <string>', 'Format output using a custom template'),
        ),
        () => networks('ls'),
      ),
    networkInspect: (c) =>
      act(
        c
          .description('Display detailed information on one or more networks')
          .argument('<network...>')
          .option('-f, --format <string>', 'Format output using a custom template')
          .option('-v, --verbose', 'Verbose output for diagnostics'),
        () => networks('inspect'),
      ),
    networkRm: (c) =>
      act(
        c
          .description('Remove one or more networks')
          .argument('<network...>')
          .option('-f, --force', 'Do not error if the network does not exist'),
        () => networks('rm'),
      ),
    networkPrune: (c) =>
      act(
        filterFlag(c.description('Remove all unused networks').option('-f, --force', 'Do not prompt for confirmation'), false),
        () => networks('prune'),
      ),
    networkConnect: (c) =>
      act(
        c
          .description('Connect a container to a network')
          .argument('<network>')
          .argument('<container>')
          .option('--alias <strings>', 'Add network-scoped alias for the container', collect)
          .option('--ip <string>', 'IPv4 address (e.g., "172.30.100.104")')
          .addOption(new Option('--link <list>', 'Add link to another container').argParser(collect).hideHelp()),
        () => networks('connect'),
      ),
    networkDisconnect: (c) =>
      act(
        c
          .description('Disconnect a container from a network')
          .argument('<network>')
          .argument('<container>')
          .option('-f, --force', 'Force the container to disconnect from a network'),
        () => networks('disconnect'),
      ),
    port: (c) =>
      act(
        c.description('List port mappings or a specific mapping for the container').argument('<container>').argument('[private-port]'),
        () => networks('port'),
      ),
    // ----- swarm -----
    swarmInit: (c) =>
      act(
        swarmSpecFlags(
          c
            .description('Initialize a swarm')
            .option('--advertise-addr <string>', 'Advertised address (format: <ip|interface>[:port])')
            .option('--listen-addr <node-addr>', 'Listen address (format: <ip|interface>[:port]) (default 0.0.0.0:2377)')
            .option('--data-path-port <uint32>', 'Port number to use for data path traffic (1024 - 49151) (default 4789)')
            .option('--default-addr-pool <ipNetSlice>', 'default address pool in CIDR format', collect)
            .option('--force-new-cluster', 'Force create a new cluster from current state'),
        ),
        () => swarmCmd('init'),
      ),
    swarmJoin: (c) =>
      act(
        c
          .description('Join a swarm as a node and/or manager')
          .argument('<host:port>')
          .option('--token <string>', 'Token for entry into the swarm')
          .option('--advertise-addr <string>', 'Advertised address (format: <ip|interface>[:port])')
          .option('--listen-addr <node-addr>', 'Listen address (format: <ip|interface>[:port]) (default 0.0.0.0:2377)')
          .option('--availability <string>', 'Availability of the node ("active", "pause", "drain")', 'active'),
        () => swarmCmd('join'),
      ),
    swarmLeave: (c) =>
      act(c.description('Leave the swarm').option('-f, --force', 'Force this node to leave the swarm, ignoring warnings'), () => swarmCmd('leave')),
    swarmJoinToken: (c) =>
      act(
        c
          .description('Manage join tokens')
          .argument('<worker|manager>')
          .option('-q, --quiet', 'Only display token')
          .option('--rotate', 'Rotate join token'),
        () => swarmCmd('joinToken'),
      ),
    swarmUpdate: (c) => act(swarmSpecFlags(c.description('Update the swarm')), () => swarmCmd('update')),
    // ----- volumes -----
    volumeCreate: (c) =>
      act(
        c
          .description('Create a volume')
          .argument('[volume]')
          .option('--name <string>', 'Specify volume name')
          .option('-d, --driver <string>', 'Specify volume driver name', 'local')
          .option('-o, --opt <map>', 'Set driver specific options', collect)
          .option('--label <list>', 'Set metadata for a volume', collect),
        () => volumes('create'),
      ),
    volumeLs: (c) =>
      act(
        filterFlag(
          c
            .description('List volumes')
            .option('-q, --quiet', 'Only display volume names')
            .option('--format <string>', 'Format output using a custom template'),
        ),
        () => volumes('ls'),
      ),
    volumeInspect: (c) =>
      act(
        c
          .description('Display detailed information on one or more volumes')
          .argument('<volume...>')
          .option('-f, --format <string>', 'Format output using a custom template'),
        () => volumes('inspect'),
      ),
    volumeRm: (c) =>
      act(
        c
          .description('Remove one or more volumes')
          .argument('<volume...>')
          .option('-f, --force', 'Force the removal of one or more volumes'),
        () => volumes('rm'),
      ),
    volumePrune: (c) =>
      act(
        filterFlag(
          c
            .description('Remove unused local volumes')
            .option('-a, --all', 'Remove all unused volumes, not just anonymous ones')
            .option('-f, --force', 'Do not prompt for confirmation'),
          false,
        ),
        () => volumes('prune'),
      ),
  };
}

export interface ProgramOptions {
  dispatch: Dispatch;
  /** Where commander writes help and its own errors. */
  writeOut: (s: string) => void;
  writeErr: (s: string) => void;
  /**
   * The arguments about to be parsed. When given and they name a command, only
   * that command is built: the ~70 commands with their flags cost ~8 ms of
   * every start. Without them (or naming none) the whole tree is built.
   */
  argv?: readonly string[];
}

type Entry = readonly [name: string, key: string, aliases?: readonly string[]];

const same = (names: string[]): Entry[] => names.map((n) => [n, n] as const);

/** Management commands, in help order. */
const GROUPS: Record<string, { description: string; commands: readonly Entry[] }> = {
  container: {
    description: 'Manage containers',
    commands: [
      ...same(['attach', 'commit', 'cp', 'create', 'diff', 'exec', 'export', 'kill', 'logs', 'pause', 'rename', 'restart', 'run', 'start', 'stats', 'stop', 'top', 'unpause', 'update', 'wait']),
      ['inspect', 'containerInspect'],
      ['ls', 'ps', ['ps', 'list']],
      ['port', 'port'],
      ['prune', 'containerPrune'],
      ['rm', 'rm', ['remove']],
    ],
  },
  image: {
    description: 'Manage images',
    commands: [
      ['history', 'history'],
      ['import', 'import'],
      ['inspect', 'imageInspect'],
      ['load', 'load'],
      ['ls', 'images', ['list']],
      ['prune', 'imagePrune'],
      ['rm', 'rmi', ['remove']],
      ['save', 'save'],
      ['tag', 'tag'],
    ],
  },
  network: {
    description: 'Manage networks',
    commands: [
      ['connect', 'networkConnect'],
      ['create', 'networkCreate'],
      ['disconnect', 'networkDisconnect'],
      ['inspect', 'networkInspect'],
      ['ls', 'networkLs', ['list']],
      ['prune', 'networkPrune'],
      ['rm', 'networkRm', ['remove']],
    ],
  },
  system: {
    description: 'Manage Shoal',
    commands: [
      ['df', 'df'],
      ['events', 'events'],
      ['info', 'info'],
      ['prune', 'systemPrune'],
    ],
  },
  node: SWARM_OBJECT_GROUPS.node,
  service: SWARM_OBJECT_GROUPS.service,
  swarm: {
    description: 'Manage Swarm',
    commands: [
      ['init', 'swarmInit'],
      ['join', 'swarmJoin'],
      ['join-token', 'swarmJoinToken'],
      ['leave', 'swarmLeave'],
      ['update', 'swarmUpdate'],
    ],
  },
  volume: {
    description: 'Manage volumes',
    commands: [
      ['create', 'volumeCreate'],
      ['inspect', 'volumeInspect'],
      ['ls', 'volumeLs', ['list']],
      ['prune', 'volumePrune'],
      ['rm', 'volumeRm', ['remove']],
    ],
  },
};

/** Docker's top-level shortcuts, in help order. */
const SHORTCUTS = ['run', 'exec', 'ps', 'create', 'start', 'stop', 'restart', 'kill', 'rm', 'logs', 'inspect', 'wait', 'attach', 'top', 'pause', 'unpause', 'rename', 'update', 'port', 'cp', 'stats', 'diff', 'commit', 'export', 'images', 'rmi', 'tag', 'save', 'load', 'import', 'history', 'events', 'version', 'info'];

const named = (e: Entry, n: string): boolean => e[0] === n || (e[2]?.includes(n) ?? false);

/**
 * The command `argv` names: a shortcut, or a group and (if named) one of its
 * commands. Undefined when the arguments before it are anything but the global
 * flags in their plain forms, or the name is unknown: then everything is built,
 * so commander's own errors and suggestions stay exactly the same.
 */
export function selectCommand(argv: readonly string[]): { name: string; sub?: string } | undefined {
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-H' || a === '--host') i++;
    else if (!(a === '-D' || a === '--debug' || a.startsWith('--host=') || (a.startsWith('-H') && a.length > 2))) break;
  }
  const name = argv[i];
  if (name === undefined) return undefined;
  const group = GROUPS[name];
  if (group === undefined) return SHORTCUTS.includes(name) ? { name } : undefined;
  const sub = argv[i + 1];
  return sub !== undefined && group.commands.some((e) => named(e, sub)) ? { name, sub } : { name };
}

/** Builds the `shoal` command tree (or only the part `options.argv` needs). */
export function buildProgram(options: ProgramOptions): Command {
  const program = new Command('shoal')
    .description('A self-sufficient runtime for containers (and, later, swarms of them)')
    .usage('[OPTIONS] COMMAND')
    .enablePositionalOptions()
    .option('-H, --host <string>', 'Daemon socket to connect to (default unix:///run/shoal/shoald.sock, or $SHOAL_HOST)')
    .option('-D, --debug', 'Enable debug mode')
    .option('-v, --version', 'Print version information and quit');
  const defs = defineCommands(options.dispatch);
  const add = (parent: Command, [name, key, aliases = []]: Entry): void => {
    const c = defs[key]!(parent.command(name));
    for (const a of aliases) c.alias(a);
  };
  const only = options.argv === undefined ? undefined : selectCommand(options.argv);

  for (const [name, group] of Object.entries(GROUPS)) {
    if (only !== undefined && only.name !== name) continue;
    const g = program.command(name).description(group.description);
    for (const e of group.commands) if (only?.sub === undefined || named(e, only.sub)) add(g, e);
  }
  for (const n of SHORTCUTS) if (only === undefined || only.name === n) add(program, [n, n]);

  const configure = (c: Command): void => {
    c.exitOverride();
    c.configureOutput({ writeOut: options.writeOut, writeErr: options.writeErr, outputError: () => undefined });
    c.showSuggestionAfterError(true);
    for (const sub of c.commands) configure(sub);
  };
  configure(program);
  return program;
}

export type { Context };
