// A relay from a unix socket into a network namespace: started with
// `nsenter --net=<ns> node relay.js <socket> <host> <port>`, it accepts on the
// socket (visible to the test, which shares our mount namespace) and connects
// each client to host:port from inside the namespace. Tests use it to talk to
// a published port of a daemon "host" without touching the real host's
// interfaces. Prints "ready" once listening.
import { createConnection, createServer } from 'node:net';

const [socket, host, port] = process.argv.slice(2);
if (!socket || !host || !port) {
  process.stderr.write('usage: relay.js SOCKET HOST PORT\n');
  process.exit(2);
}
const server = createServer((client) => {
  const upstream = createConnection({ host, port: Number(port) });
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.listen(socket, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
