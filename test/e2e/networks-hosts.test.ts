// Issue 3 end to end, across "hosts": a daemon in one namespace of a small lab
// LAN, clients in another; legacy links on the default bridge; and bad input
// that must be refused with a clear error and change nothing.
import test from 'ava';
import { inNetns, Lab, withDaemon } from './harness.js';

const HTTPD = ['sh', '-c', 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www'];

test('a published port answers from a second host, from the host itself on 127.0.0.1 and on its own address', async (t) => {
  const lab = await Lab.create(t);
  const a = await lab.addHost(t);
  const b = await lab.addHost(t);
  const d = await withDaemon(t, { netns: a.netns });
  await d.ok(['run', '-d', '--name', 'web', '--hostname', 'web1', '-p', '8080:80', 'busybox', ...HTTPD]);
  // busybox 1.35's wget hangs with -T: the test's timeout bounds each try instead.
  const fetch = async (ns: string, url: string): Promise<string> => {
    for (let i = 0; ; i++) {
      const r = await inNetns(ns, ['busybox', 'wget', '-q', '-O', '-', url], { timeoutMs: 5000 });
      if (r.code === 0 || i >= 20) return r.stdout + r.stderr;
      await new Promise((res) => setTimeout(res, 250));
    }
  };
  t.is(await fetch(b.netns, `http://${a.ip}:8080/`), 'hello from web1\n');
  t.is(await fetch(a.netns, 'http://127.0.0.1:8080/'), 'hello from web1\n');
  t.is(await fetch(a.netns, `http://${a.ip}:8080/`), 'hello from web1\n');
  // Nothing listens on the second host: the answer really came from host a.
  t.not((await inNetns(b.netns, ['busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], { timeoutMs: 5000 })).code, 0);

  // UDP through a published port, from the second host. busybox has no UDP
  // server, so the host's node, bound in read-only, echoes datagrams.
  const echo = "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('echo:'+m,r.port,r.address));s.bind(9999)";
  const nodeBinds = ['-v', '/usr:/usr:ro', '-v', '/lib:/lib:ro', '-v', '/lib64:/lib64:ro'];
  await d.ok(['run', '-d', '--name', 'udp', '-p', '9999:9999/udp', ...nodeBinds, 'busybox', process.execPath, '-e', echo]);
  const ask = `const s=require('dgram').createSocket('udp4');let n=0;const go=()=>{if(n++>25)process.exit(1);s.send('over udp',9999,'${a.ip}')};s.on('message',m=>{process.stdout.write(String(m));process.exit(0)});setInterval(go,200);go();`;
  t.is((await inNetns(b.netns, [process.execPath, '-e', ask])).stdout, 'echo:over udp');

  // Once the container is gone, so is the port.
  await d.ok(['rm', '-f', 'web']);
  t.not((await inNetns(b.netns, ['busybox', 'wget', '-q', '-O', '-', `http://${a.ip}:8080/`], { timeoutMs: 5000 })).code, 0);
  t.not((await inNetns(a.netns, ['busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], { timeoutMs: 5000 })).code, 0);
});

test('--link puts the target in /etc/hosts and its ports and environment in ALIAS_ variables', async (t) => {
  const d = await withDaemon(t);
  await d.ok(['run', '-d', '--name', 'db', '--expose', '5432', '-e', 'POSTGRES_DB=shop', 'busybox', 'sleep', '1000']);
  const ip = (await d.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'db'])).trim();
  t.regex(ip, /^172\.17\.\d+\.\d+$/);
  const out = await d.ok(['run', '--rm', '--name', 'app', '--link', 'db:mydb', 'busybox', 'sh', '-c', 'cat /etc/hosts; env | sort; ping -c 1 -W 3 mydb >/dev/null && echo PING-OK']);
  t.regex(out, new RegExp(`^${ip.replace(/\./g, '\\.')}\\s+mydb\\b.*\\bdb\\b`, 'm'));
  t.regex(out, /^MYDB_NAME=\/app\/mydb$/m);
  t.regex(out, new RegExp(`^MYDB_PORT=tcp://${ip}:5432$`, 'm'));
  t.regex(out, new RegExp(`^MYDB_PORT_5432_TCP=tcp://${ip}:5432$`, 'm'));
  t.regex(out, new RegExp(`^MYDB_PORT_5432_TCP_ADDR=${ip}$`, 'm'));
  t.regex(out, /^MYDB_PORT_5432_TCP_PORT=5432$/m);
  t.regex(out, /^MYDB_PORT_5432_TCP_PROTO=tcp$/m);
  t.regex(out, /^MYDB_ENV_POSTGRES_DB=shop$/m);
  t.regex(out, /^PING-OK$/m);
  // A link to a container that does not exist is refused.
  const bad = await d.cli(['run', '--rm', '--link', 'nosuch:x', 'busybox', 'true']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /nosuch/);
});

test('bad network and storage input is refused with a clear error and changes nothing', async (t) => {
  const d = await withDaemon(t);
  const state = async (): Promise<string> =>
    [await d.ok(['ps', '-a', '--format', '{{.Names}} {{.State}}']), await d.ok(['network', 'ls', '--format', '{{.Name}}']), await d.ok(['volume', 'ls', '-q'])].join('|');

  await d.ok(['network', 'create', '--subnet', '10.77.0.0/16', 'first']);
  await d.ok(['run', '-d', '--name', 'holder', '--network', 'first', '-p', '8081:80', 'busybox', ...HTTPD]);
  const before = await state();

  // An overlapping subnet.
  const overlap = await d.cli(['network', 'create', '--subnet', '10.77.5.0/24', 'second']);
  t.not(overlap.code, 0);
  t.regex(overlap.stderr, /overlap/i);
  // A port that another container already publishes: the new container never runs.
  const taken = await d.cli(['run', '-d', '--name', 'taker', '-p', '8081:80', 'busybox', 'sleep', '1000']);
  t.is(taken.code, 125, taken.stderr);
  t.regex(taken.stderr, /8081.*(already allocated|in use)/i);
  t.notRegex(await d.ok(['ps', '--format', '{{.Names}}']), /taker/);
  await d.cli(['rm', '-f', 'taker']);
  // A port out of range.
  const range = await d.cli(['run', '-d', '-p', '70000:80', 'busybox', 'true']);
  t.is(range.code, 125);
  t.regex(range.stderr, /70000/);
  // An unknown network.
  const unknown = await d.cli(['run', '-d', '--name', 'lost', '--network', 'nosuchnet', 'busybox', 'true']);
  t.is(unknown.code, 125);
  t.regex(unknown.stderr, /network nosuchnet not found/);
  // Removing a network a container is attached to.
  const busy = await d.cli(['network', 'rm', 'first']);
  t.not(busy.code, 0);
  t.regex(busy.stderr, /active endpoints/);
  // A bind source that does not exist.
  const bind = await d.cli(['run', '-d', '--name', 'binder', '--mount', 'type=bind,source=/no/such/dir,target=/x', 'busybox', 'true']);
  t.is(bind.code, 125);
  t.regex(bind.stderr, /bind source path does not exist: \/no\/such\/dir/);

  t.is(await state(), before);
  // The holder still serves.
  const r = await d.onHost(['busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8081/'], { timeoutMs: 5000 });
  t.regex(r.stdout, /hello from/);
});
