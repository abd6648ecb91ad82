// Container networks on one host, each daemon in a namespace of its own:
// names and aliases on user networks, isolation, --internal, published ports
// (TCP, UDP, random, -P) from the host, live connect/disconnect, daemon
// restart, bad input, and nothing left behind.
import test from 'ava';
import { withDaemon, type Daemon } from './harness.js';

const WEB = ['sh', '-c', 'mkdir -p /www && echo hello-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www'];

/** An HTTP GET from the daemon's host with node (TCP through the proxy or DNAT); "" on failure. */
async function getFromHost(d: Daemon, host: string, port: number): Promise<string> {
  const js = `const s=require('net').connect(${port},'${host}');let b='';s.setTimeout(3000,()=>process.exit(2));s.on('data',d=>b+=d);s.on('end',()=>{process.stdout.write(b.split('\\r\\n\\r\\n')[1]||'');});s.on('error',()=>process.exit(1));s.write('GET / HTTP/1.0\\r\\n\\r\\n');`;
  const r = await d.onHost([process.execPath, '-e', js]);
  return r.code === 0 ? r.stdout.trim() : '';
}

/** An HTTP GET from inside a new container on `network` (busybox nc); "" on failure. */
async function getFromContainer(d: Daemon, network: string, target: string): Promise<string> {
  const r = await d.cli(['run', '--rm', '--network', network, 'busybox', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${target} 80`]);
  return r.stdout.split('\r\n\r\n')[1]?.trim() ?? '';
}

test('containers on a user network reach each other by name and by alias; hosts and resolv.conf are managed', async (t) => {
  t.timeout(120_000);
  const d = await withDaemon(t);
  await d.ok(['network', 'create', 'app']);
  await d.ok(['run', '-d', '--name', 'web', '--hostname', 'web1', '--network', 'app', '--network-alias', 'www', 'busybox', ...WEB]);
  t.is(await getFromContainer(d, 'app', 'web'), 'hello-web1');
  t.is(await getFromContainer(d, 'app', 'www'), 'hello-web1');
  const ip = (await d.ok(['inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', 'web'])).trim();
  t.regex(ip, /^172\.18\.0\.\d+$/);
  const files = await d.ok(['run', '--rm', '--network', 'app', '--add-host', 'db.local:10.1.2.3', 'busybox', 'cat', '/etc/hosts', '/etc/resolv.conf']);
  t.regex(files, /10\.1\.2\.3\tdb\.local/);
  t.regex(files, /nameserver 172\.18\.0\.1/);
  const ps = await d.ok(['ps', '--format', '{{.Names}} {{.Networks}}']);
  t.is(ps.trim(), 'web app');
});

test('two user networks are isolated; an --internal network has no way out', async (t) => {
  t.timeout(120_000);
  const d = await withDaemon(t);
  await d.ok(['network', 'create', 'a']);
  await d.ok(['network', 'create', 'b']);
  await d.ok(['network', 'create', '--internal', 'sealed']);
  await d.ok(['run', '-d', '--name', 'web', '--network', 'a', 'busybox', ...WEB]);
  const ip = (await d.ok(['inspect', '-f', '{{.NetworkSettings.Networks.a.IPAddress}}', 'web'])).trim();
  t.is(await getFromContainer(d, 'a', ip), `hello-${(await d.ok(['inspect', '-f', '{{.Config.Hostname}}', 'web'])).trim()}`);
  t.is(await getFromContainer(d, 'b', ip), '', 'a container on another network must not reach it');
  t.is(await getFromContainer(d, 'bridge', ip), '', 'nor one on the default bridge');
  const sealed = await d.cli(['run', '--rm', '--network', 'sealed', 'busybox', 'sh', '-c', `ip route; ping -c1 -W2 ${ip} >/dev/null 2>&1 && echo REACHED`]);
  t.notRegex(sealed.stdout, /default/);
  t.notRegex(sealed.stdout, /REACHED/);
});

test('-p, random -p, -P and UDP publishing work from the host via 127.0.0.1 and its own address', async (t) => {
  t.timeout(120_000);
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'pub', '-p', '8080:80', '-p', '80', '--expose', '81', '-P', 'busybox', ...WEB]);
  const hostname = (await d.ok(['inspect', '-f', '{{.Config.Hostname}}', 'pub'])).trim();
  t.is(await getFromHost(d, '127.0.0.1', 8080), `hello-${hostname}`);
  t.is(await getFromHost(d, '172.17.0.1', 8080), `hello-${hostname}`, 'the host address goes through DNAT');
  const ports = await d.ok(['port', 'pub']);
  t.regex(ports, /^80\/tcp -> 0\.0\.0\.0:8080$/m);
  const random = [...ports.matchAll(/^80\/tcp -> 0\.0\.0\.0:(\d+)$/gm)].map((m) => Number(m[1])).filter((p) => p !== 8080);
  t.is(random.length, 1);
  t.true(random[0]! >= 32768 && random[0]! <= 60999);
  t.is(await getFromHost(d, '127.0.0.1', random[0]!), `hello-${hostname}`);
  t.regex(ports, /^81\/tcp -> 0\.0\.0\.0:\d+$/m, '-P publishes --expose ports');
  t.regex(await d.ok(['port', 'pub', '80']), /0\.0\.0\.0:8080/);
  const inspect = JSON.parse(await d.ok(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'pub'])) as Record<string, unknown>;
  t.truthy(inspect['80/tcp']);
  t.regex(await d.ok(['ps', '--format', '{{.Ports}}']), /0\.0\.0\.0:8080->80\/tcp/);

  // A second container cannot take the same host port, and the first keeps it.
  const taken = await d.cli(['run', '-d', '--name', 'again', '-p', '8080:80', 'busybox', 'sleep', '100']);
  t.not(taken.code, 0);
  t.regex(taken.stderr, /Bind for 0\.0\.0\.0:8080 failed: port is already allocated/);
  t.is(await getFromHost(d, '127.0.0.1', 8080), `hello-${hostname}`);

  // busybox has no UDP server: the host's node, bound in read-only, echoes datagrams.
  const echo = "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('echo:'+m,r.port,r.address));s.bind(5353)";
  const nodeBinds = ['-v', '/usr:/usr:ro', '-v', '/lib:/lib:ro', '-v', '/lib64:/lib64:ro'];
  await d.ok(['run', '-d', '--name', 'udp', '-p', '5353:5353/udp', ...nodeBinds, 'busybox', process.execPath, '-e', echo]);
  const ask = (host: string): string =>
    `const s=require('dgram').createSocket('udp4');let n=0;const go=()=>{if(n++>20)process.exit(1);s.send('ping',5353,'${host}')};s.on('message',m=>{process.stdout.write(String(m));process.exit(0)});setInterval(go,200);go();`;
  t.is((await d.onHost([process.execPath, '-e', ask('127.0.0.1')])).stdout, 'echo:ping', 'UDP through the proxy');
  t.is((await d.onHost([process.execPath, '-e', ask('172.17.0.1')])).stdout, 'echo:ping', 'UDP through DNAT');

  // Stopping frees the port: the listener and the DNAT rule go.
  await d.ok(['rm', '-f', 'pub']);
  t.is(await getFromHost(d, '127.0.0.1', 8080), '');
  const rules = (await d.onHost(['iptables-save', '-t', 'nat'])).stdout;
  t.notRegex(rules, /--dport 8080/);
});

test('network connect and disconnect change a running container live', async (t) => {
  t.timeout(120_000);
  const d = await withDaemon(t);
  await d.ok(['network', 'create', 'front']);
  await d.ok(['network', 'create', '--subnet', '10.77.0.0/24', 'back']);
  await d.ok(['run', '-d', '--name', 'db', '--network', 'back', 'busybox', ...WEB]);
  await d.ok(['run', '-d', '--name', 'app', '--network', 'front', 'busybox', 'sleep', '1000']);
  const reach = async (): Promise<boolean> => (await d.cli(['exec', 'app', 'sh', '-c', 'ping -c1 -W2 db'])).code === 0;
  t.false(await reach());
  await d.ok(['network', 'connect', '--alias', 'api', '--ip', '10.77.0.50', 'back', 'app']);
  t.regex(await d.ok(['exec', 'app', 'ip', 'addr', 'show', 'eth1']), /10\.77\.0\.50\/24/);
  t.true(await reach());
  t.is((await d.ok(['exec', 'db', 'sh', '-c', 'ping -c1 -W2 api >/dev/null && echo ok'])).trim(), 'ok');
  const inspect = JSON.parse(await d.ok(['network', 'inspect', 'back'])) as { Containers: Record<string, { Name: string }> }[];
  t.deepEqual(Object.values(inspect[0]!.Containers).map((c) => c.Name).sort(), ['app', 'db']);
  await d.ok(['network', 'disconnect', 'back', 'app']);
  t.not((await d.cli(['exec', 'app', 'ip', 'addr', 'show', 'eth1'])).code, 0);
  t.false(await reach());
});

test('after a daemon restart running containers keep names, addresses and published ports', async (t) => {
  t.timeout(120_000);
  const d = await withDaemon(t);
  await d.ok(['network', 'create', 'app']);
  await d.ok(['run', '-d', '--name', 'web', '--network', 'app', '-p', '8080:80', 'busybox', ...WEB]);
  await d.ok(['run', '-d', '--name', 'client', '--network', 'app', 'busybox', 'sleep', '1000']);
  const ipBefore = (await d.ok(['inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', 'web'])).trim();
  await d.stop();
  await d.start();
  const hostname = (await d.ok(['inspect', '-f', '{{.Config.Hostname}}', 'web'])).trim();
  t.is((await d.ok(['inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', 'web'])).trim(), ipBefore);
  t.is(await getFromHost(d, '127.0.0.1', 8080), `hello-${hostname}`);
  t.is((await d.ok(['exec', 'client', 'sh', '-c', 'ping -c1 -W2 web >/dev/null && echo ok'])).trim(), 'ok');
  // The address stays reserved across a stop/start, and a new container does not take it.
  await d.ok(['stop', '-t', '1', 'web']);
  await d.ok(['run', '-d', '--name', 'other', '--network', 'app', 'busybox', 'sleep', '1000']);
  t.not((await d.ok(['inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', 'other'])).trim(), ipBefore);
  await d.ok(['start', 'web']);
  t.is((await d.ok(['inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', 'web'])).trim(), ipBefore);
});

test('bad input gets a clear error and changes nothing; removal leaves nothing behind', async (t) => {
  t.timeout(120_000);
  const d = await withDaemon(t);
  const linksBefore = (await d.onHost(['ip', '-o', 'link'])).stdout.split('\n').length;
  await d.ok(['network', 'create', '--subnet', '10.50.0.0/16', 'one']);
  const overlap = await d.cli(['network', 'create', '--subnet', '10.50.1.0/24', 'two']);
  t.not(overlap.code, 0);
  t.regex(overlap.stderr, /Pool overlaps with other one on this address space/);
  const dup = await d.cli(['network', 'create', 'one']);
  t.regex(dup.stderr, /network with name one already exists/);
  const unknown = await d.cli(['run', '--rm', '--network', 'nope', 'busybox', 'true']);
  t.not(unknown.code, 0);
  t.regex(unknown.stderr, /network nope not found/);
  const range = await d.cli(['run', '--rm', '-p', '70000:80', 'busybox', 'true']);
  t.not(range.code, 0);
  const outside = await d.cli(['run', '--rm', '--network', 'one', '--ip', '10.99.0.5', 'busybox', 'true']);
  t.regex(outside.stderr, /no configured subnet contains the requested address/);
  await d.ok(['run', '-d', '--name', 'c1', '--network', 'one', '-p', '9000:80', 'busybox', 'sleep', '1000']);
  const busy = await d.cli(['network', 'rm', 'one']);
  t.not(busy.code, 0);
  t.regex(busy.stderr, /has active endpoints/);
  t.regex(await d.ok(['network', 'ls', '--format', '{{.Name}}']), /^one$/m);
  const predefined = await d.cli(['network', 'rm', 'bridge']);
  t.regex(predefined.stderr, /pre-defined network and cannot be removed/);

  await d.ok(['rm', '-f', 'c1']);
  await d.ok(['network', 'rm', 'one']);
  t.is((await d.ok(['network', 'ls', '-q'])).trim().split('\n').length, 3);
  const links = (await d.onHost(['ip', '-o', 'link'])).stdout;
  t.notRegex(links, /veth|br-/);
  t.is(links.split('\n').length, linksBefore);
  t.notRegex((await d.onHost(['iptables-save'])).stdout, /10\.50\.|dport 9000/);
  t.is((await d.onHost(['sh', '-c', `ls ${d.execRoot}/netns | wc -l`])).stdout.trim(), '0');
});
