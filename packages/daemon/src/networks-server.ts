import type { NetworksHandlers, Logger } from '@shoal/api';
import type { Engine } from '@shoal/engine';
import { unary } from './grpc-util.js';

/** The gRPC face of the engine's networks. Validation and errors come from the engine. */
export function networksServer(engine: Engine, log: Logger): NetworksHandlers {
  const n = engine.networks;
  return {
    Create: unary(log, 'Create', async (req) =>
      n.createNetwork({
        name: req.name,
        driver: req.driver,
        subnets: req.subnets,
        gateways: req.gateways,
        ipRanges: req.ip_ranges,
        internal: req.internal,
        attachable: req.attachable,
        labels: req.labels,
        options: req.options,
      }),
    ),
    List: unary(log, 'List', async (req) => ({
      networks: n.list(req.filters).map((x) => ({
        id: x.id,
        name: x.name,
        driver: x.driver,
        scope: x.scope,
        created: x.created,
        internal: x.internal,
        ipv6: false,
        labels: x.labels,
      })),
    })),
    Inspect: unary(log, 'Inspect', async (req) => ({ json: req.refs.map((r) => JSON.stringify(n.inspectNetwork(n.get(r)))) })),
    Remove: unary(log, 'Remove', async (req) => {
      await n.removeNetwork(req.ref);
      return {};
    }),
    Prune: unary(log, 'Prune', async (req) => ({ deleted: await n.prune(req.filters) })),
    Connect: unary(log, 'Connect', async (req) => {
      await n.connect(req.network, req.container, { aliases: req.aliases, ip: req.ipv4_address });
      return {};
    }),
    Disconnect: unary(log, 'Disconnect', async (req) => {
      await n.disconnect(req.network, req.container, req.force);
      return {};
    }),
    Port: unary(log, 'Port', async (req) => ({
      ports: n.ports(engine.containers.get(req.container)).map((p) => ({
        container_port: p.containerPort,
        protocol: p.protocol,
        host_ip: p.hostIp || '0.0.0.0',
        host_port: p.hostPort,
      })),
    })),
  };
}
