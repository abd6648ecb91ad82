import test from 'ava';
import { parseLocalOptions } from './local-options.js';

test('no options is a plain directory', (t) => {
  t.is(parseLocalOptions({}), undefined);
});

test('tmpfs and bind options become mount plans', (t) => {
  t.deepEqual(parseLocalOptions({ type: 'tmpfs', device: 'tmpfs', o: 'size=64m,uid=1000' }), { type: 'tmpfs', device: 'tmpfs', options: 'size=64m,uid=1000', bind: false });
  t.deepEqual(parseLocalOptions({ type: 'none', device: '/srv/x', o: 'bind' }), { type: 'none', device: '/srv/x', options: 'bind', bind: true });
  t.deepEqual(parseLocalOptions({ type: 'nfs', device: ':/export', o: 'addr=10.0.0.1,rw' })?.type, 'nfs');
});

test('bad options are refused with what to give instead', (t) => {
  const msg = (o: Record<string, string>): string => t.throws(() => parseLocalOptions(o)).message;
  t.regex(msg({ foo: 'bar' }), /invalid option "foo" for the local volume driver/);
  t.regex(msg({ device: 'tmpfs' }), /missing required option "type"/);
  t.regex(msg({ type: 'tmpfs' }), /missing required option "device"/);
  t.regex(msg({ type: 'none', device: '/x' }), /must be a bind/);
  t.regex(msg({ type: 'none', device: 'rel', o: 'bind' }), /absolute host path/);
  t.regex(msg({ type: 'tmpfs', device: 'tmpfs', o: 'size=lots' }), /invalid tmpfs size "lots"/);
  t.regex(msg({ type: 'tmpfs', device: 'tmpfs', o: 'uid=bob' }), /invalid tmpfs uid "bob"/);
  t.regex(msg({ size: '10G' }), /no quota support/);
});
