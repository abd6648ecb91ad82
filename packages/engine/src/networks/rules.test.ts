import test from 'ava';
import { buildRules } from './rules.js';

const lines = (s: string) => s.split('\n');

test('a user network masquerades outbound traffic and is isolated from other bridges', (t) => {
  const r = lines(buildRules([{ bridge: 'br-a', subnet: '172.18.0.0/16', gateway: '172.18.0.1', internal: false }], []));
  t.true(r.includes('-A SHOAL-POSTROUTING -s 172.18.0.0/16 ! -o br-a -j MASQUERADE'));
  t.true(r.includes('-A SHOAL-ISOLATION-STAGE-1 -i br-a ! -o br-a -j SHOAL-ISOLATION-STAGE-2'));
  t.true(r.includes('-A SHOAL-ISOLATION-STAGE-2 -o br-a -j DROP'));
  // Unpublished traffic into the bridge is dropped after the per-port accepts.
  t.true(r.indexOf('-A SHOAL-FORWARD -o br-a -j SHOAL') < r.indexOf('-A SHOAL-FORWARD -o br-a -j DROP'));
  t.true(r.indexOf('-A SHOAL-FORWARD -i br-a -o br-a -j ACCEPT') < r.indexOf('-A SHOAL-FORWARD -o br-a -j DROP'));
});

test('an internal network has no NAT and no way in or out', (t) => {
  const s = buildRules([{ bridge: 'br-i', subnet: '10.9.0.0/24', gateway: '10.9.0.1', internal: true }], []);
  t.notRegex(s, /MASQUERADE/);
  t.regex(s, /-A SHOAL-ISOLATION-STAGE-1 ! -s 10.9.0.0\/24 -o br-i -j DROP/);
  t.regex(s, /-A SHOAL-ISOLATION-STAGE-1 ! -d 10.9.0.0\/24 -i br-i -j DROP/);
});

test('a published port gets DNAT, a forward accept and hairpin masquerade', (t) => {
  const s = buildRules(
    [{ bridge: 'shoal0', subnet: '172.17.0.0/16', gateway: '172.17.0.1', internal: false }],
    [{ bridge: 'shoal0', containerIp: '172.17.0.2', containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 8080 }, { bridge: 'shoal0', containerIp: '172.17.0.2', containerPort: 53, protocol: 'udp', hostIp: '10.0.0.5', hostPort: 5353 }],
  );
  t.regex(s, /-A SHOAL ! -i shoal0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80/);
  t.regex(s, /-A SHOAL -d 10.0.0.5\/32 ! -i shoal0 -p udp -m udp --dport 5353 -j DNAT --to-destination 172.17.0.2:53/);
  t.regex(s, /-A SHOAL -d 172.17.0.2\/32 ! -i shoal0 -o shoal0 -p tcp -m tcp --dport 80 -j ACCEPT/);
  t.regex(s, /-A SHOAL-POSTROUTING -s 172.17.0.2\/32 -d 172.17.0.2\/32 -p tcp -m tcp --dport 80 -j MASQUERADE/);
});

test('the restore input declares every chain so each sync replaces their content', (t) => {
  const s = buildRules([], []);
  for (const c of ['SHOAL-FORWARD', 'SHOAL', 'SHOAL-ISOLATION-STAGE-1', 'SHOAL-ISOLATION-STAGE-2', 'SHOAL-POSTROUTING', 'SHOAL-RAW']) t.regex(s, new RegExp(`^:${c} - \\[0:0\\]$`, 'm'));
  t.is(s.match(/^COMMIT$/gm)?.length, 3);
});

test('container-to-container traffic on a bridge skips conntrack; traffic to the bridge itself does not', (t) => {
  const r = lines(buildRules([{ bridge: 'br-a', subnet: '172.18.0.0/16', gateway: '172.18.0.1', internal: false }], []));
  const ret = r.indexOf('-A SHOAL-RAW -i br-a -d 172.18.0.1/32 -j RETURN');
  const notrack = r.indexOf('-A SHOAL-RAW -i br-a -s 172.18.0.0/16 -d 172.18.0.0/16 -j NOTRACK');
  t.true(ret >= 0 && notrack > ret);
  t.true(r.indexOf('*raw') < ret);
});
