import test from 'ava';
import {
  familiarReference,
  isImageIdPrefix,
  normalizeReference,
  parseReference,
} from './reference.js';
import { isInvalidArgument } from './errors.js';

const HEX = 'a'.repeat(64);

const normalized: [string, string][] = [
  ['busybox', 'docker.io/library/busybox:latest'],
  ['busybox:1.36', 'docker.io/library/busybox:1.36'],
  ['library/busybox', 'docker.io/library/busybox:latest'],
  ['docker.io/busybox', 'docker.io/library/busybox:latest'],
  ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
  ['user/app:v1', 'docker.io/user/app:v1'],
  ['user/team/app', 'docker.io/user/team/app:latest'],
  ['localhost/app', 'localhost/app:latest'],
  ['localhost:5000/app:dev', 'localhost:5000/app:dev'],
  ['registry.example.com/a/b/c:1.0', 'registry.example.com/a/b/c:1.0'],
  ['Registry.Example.com/app', 'Registry.Example.com/app:latest'],
  ['10.0.0.1:5000/app', '10.0.0.1:5000/app:latest'],
  ['[::1]:5000/app', '[::1]:5000/app:latest'],
  [`busybox@sha256:${HEX}`, `docker.io/library/busybox@sha256:${HEX}`],
  [`busybox:1@sha256:${HEX}`, `docker.io/library/busybox:1@sha256:${HEX}`],
  ['my_app-x/foo__bar.v2', 'docker.io/my_app-x/foo__bar.v2:latest'],
  ['a---b', 'docker.io/library/a---b:latest'],
  ['app:_tag.With-Caps', 'docker.io/library/app:_tag.With-Caps'],
];

for (const [input, want] of normalized) {
  test(`normalizes ${input}`, (t) => {
    t.is(normalizeReference(input), want);
  });
}

test('parseReference splits domain, path, tag and digest', (t) => {
  t.deepEqual(parseReference('localhost:5000/team/app:v2'), {
    domain: 'localhost:5000',
    path: 'team/app',
    tag: 'v2',
  });
  t.deepEqual(parseReference(`busybox@sha256:${HEX}`), {
    domain: 'docker.io',
    path: 'library/busybox',
    digest: `sha256:${HEX}`,
  });
});

const invalid: [string, RegExp][] = [
  ['', /at least one component/],
  ['Busybox', /repository name must be lowercase/],
  ['user/Busybox', /repository name must be lowercase/],
  ['busybox:', /invalid tag format/],
  ['busybox:-bad', /invalid tag format/],
  [`busybox:${'t'.repeat(129)}`, /invalid tag format/],
  ['busybox@sha256:abc', /invalid digest format/],
  ['busybox@', /invalid digest format/],
  [HEX, /cannot specify 64-byte hexadecimal strings/],
  ['-busybox', /^invalid reference format$/],
  ['busybox-', /^invalid reference format$/],
  ['bus..box', /^invalid reference format$/],
  ['user//app', /^invalid reference format$/],
  ['a/b/', /^invalid reference format$/],
  ['host:port/app', /invalid registry host/],
  ['-host.com/app', /invalid registry host/],
  ['busy box', /invalid reference format/],
  [`${'a'.repeat(250)}/b`, /must not be more than 255 characters/],
  [':tag', /at least one component/],
];

for (const [input, want] of invalid) {
  test(`rejects ${JSON.stringify(input.length > 40 ? `${input.slice(0, 20)}…(${input.length})` : input)}`, (t) => {
    const err = t.throws(() => parseReference(input));
    t.true(isInvalidArgument(err));
    t.regex(err.message, want);
  });
}

const familiar: [string, string][] = [
  ['docker.io/library/busybox:latest', 'busybox:latest'],
  ['docker.io/user/app:v1', 'user/app:v1'],
  ['docker.io/library/a/b:1', 'library/a/b:1'],
  ['localhost:5000/app:dev', 'localhost:5000/app:dev'],
  [`docker.io/library/busybox@sha256:${HEX}`, `busybox@sha256:${HEX}`],
  ['busybox', 'busybox:latest'],
];

for (const [input, want] of familiar) {
  test(`familiar form of ${input.slice(0, 40)}`, (t) => {
    t.is(familiarReference(input), want);
  });
}

test('isImageIdPrefix accepts hex and sha256-prefixed hex only', (t) => {
  t.true(isImageIdPrefix('abc123'));
  t.true(isImageIdPrefix(`sha256:${HEX}`));
  t.true(isImageIdPrefix('sha256:ab'));
  t.false(isImageIdPrefix('busybox'));
  t.false(isImageIdPrefix('ABC'));
  t.false(isImageIdPrefix(`${HEX}0`));
  t.false(isImageIdPrefix(''));
});
