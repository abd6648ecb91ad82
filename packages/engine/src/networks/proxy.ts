// The userland proxy: one listener per published port, in the daemon. It
// holds the host port (so a second container cannot take it) and carries the
// traffic iptables does not DNAT: connections to 127.0.0.1, which never pass
// the nat PREROUTING chain.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { conflict, internal } from '@shoal/api';

export interface ProxyTarget {
  protocol: string;
  hostIp: string;
  hostPort: number;
  targetIp: string;
  targetPort: number;
}

/** How long a UDP client's flow lives without traffic. */
const UDP_IDLE_MS = 90_000;

export interface PortProxy {
  close(): Promise<void>;
}

function bindError(t: ProxyTarget, err: NodeJS.ErrnoException): Error {
  const addr = `${t.hostIp || '0.0.0.0'}:${t.hostPort}`;
  if (err.code === 'EADDRINUSE') return conflict(`Bind for ${addr} failed: port is already allocated; publish another host port or stop what uses it`);
  if (err.code === 'EADDRNOTAVAIL') return conflict(`Bind for ${addr} failed: the host has no address ${t.hostIp}; publish on one of its addresses`);
  return internal(`Bind for ${addr} failed: ${err.message}`);
}

/** Starts listening on the host address. Throws Conflict when the port is taken. */
export function openProxy(t: ProxyTarget): Promise<PortProxy> {
  return t.protocol === 'udp' ? openUdp(t) : openTcp(t);
}

function openTcp(t: ProxyTarget): Promise<PortProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    const upstream = connect({ host: t.targetIp, port: t.targetPort });
    sockets.add(client).add(upstream);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    upstream.once('connect', () => {
      client.pipe(upstream).pipe(client);
      client.resume();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(bindError(t, err)));
    server.listen({ host: t.hostIp || '0.0.0.0', port: t.hostPort, exclusive: true }, () => {
      server.removeAllListeners('error');
      server.on('error', () => undefined);
      resolve({
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

function openUdp(t: ProxyTarget): Promise<PortProxy> {
  const front = createSocket({ type: 'udp4' });
  const flows = new Map<string, { sock: UdpSocket; timer: NodeJS.Timeout }>();
  const drop = (key: string): void => {
    const f = flows.get(key);
    if (!f) return;
    clearTimeout(f.timer);
    f.sock.close();
    flows.delete(key);
  };
  front.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let f = flows.get(key);
    if (!f) {
      const sock = createSocket({ type: 'udp4' });
      sock.on('message', (reply) => {
        front.send(reply, rinfo.port, rinfo.address);
        f?.timer.refresh();
      });
      sock.on('error', () => drop(key));
      f = { sock, timer: setTimeout(() => drop(key), UDP_IDLE_MS) };
      f.timer.unref();
      flows.set(key, f);
    }
    f.timer.refresh();
    f.sock.send(msg, t.targetPort, t.targetIp);
  });
  return new Promise((resolve, reject) => {
    front.once('error', (err: NodeJS.ErrnoException) => {
      front.close();
      reject(bindError(t, err));
    });
    front.bind({ address: t.hostIp || '0.0.0.0', port: t.hostPort, exclusive: true }, () => {
      front.removeAllListeners('error');
      front.on('error', () => undefined);
      resolve({
        close: () =>
          new Promise<void>((r) => {
            for (const k of [...flows.keys()]) drop(k);
            front.close(() => r());
          }),
      });
    });
  });
}
