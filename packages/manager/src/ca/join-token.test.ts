import test from 'ava';
import { errorCode } from '@shoal/api';
import {
  DIGEST_CHARS,
  SECRET_CHARS,
  generateJoinToken,
  generateJoinTokens,
  parseJoinToken,
  roleForToken,
  rotateJoinToken,
  tokensEqual,
} from './join-token.js';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const TOKEN_RE = /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/;

test('a join token has the swarmkit shape: SWMTKN-1-<50 base36>-<25 base36>', (t) => {
  const token = generateJoinToken(DIGEST);
  t.regex(token, TOKEN_RE);
  t.is(DIGEST_CHARS, 50);
  t.is(SECRET_CHARS, 25);
});

test('the digest part round-trips to the CA digest, also with leading zeros', (t) => {
  t.is(parseJoinToken(generateJoinToken(DIGEST)).caDigest, DIGEST);
  const small = `sha256:${'0'.repeat(60)}00ff`;
  const token = generateJoinToken(small);
  t.regex(token, TOKEN_RE);
  t.is(parseJoinToken(token).caDigest, small);
  const max = `sha256:${'f'.repeat(64)}`;
  t.is(parseJoinToken(generateJoinToken(max)).caDigest, max);
});

test('worker and manager tokens share the digest but have different secrets', (t) => {
  const tokens = generateJoinTokens(DIGEST);
  const w = parseJoinToken(tokens.worker);
  const m = parseJoinToken(tokens.manager);
  t.is(w.caDigest, m.caDigest);
  t.not(w.secret, m.secret);
  t.is(roleForToken(tokens.worker, tokens), 'WORKER');
  t.is(roleForToken(tokens.manager, tokens), 'MANAGER');
  t.is(roleForToken(` ${tokens.manager}\n`, tokens), 'MANAGER', 'surrounding whitespace from a paste is ignored');
});

test('rotating a role\'s token makes the old one fail and keeps the other', (t) => {
  const before = generateJoinTokens(DIGEST);
  const after = rotateJoinToken(before, 'WORKER', DIGEST);
  t.not(after.worker, before.worker);
  t.is(after.manager, before.manager);
  t.is(roleForToken(before.worker, after), undefined);
  t.is(roleForToken(after.worker, after), 'WORKER');
  const again = rotateJoinToken(after, 'MANAGER', DIGEST);
  t.is(roleForToken(after.manager, again), undefined);
  t.is(roleForToken(again.manager, again), 'MANAGER');
  t.is(again.worker, after.worker);
});

test('a malformed join token is refused with a clear InvalidArgument error', (t) => {
  const good = generateJoinToken(DIGEST);
  const [, , digest = '', secret = ''] = good.split('-');
  const cases: Array<[string, RegExp]> = [
    ['', /not a swarm join token/],
    ['hello', /not a swarm join token/],
    [`XWMTKN-1-${digest}-${secret}`, /not a swarm join token/],
    [`SWMTKN-2-${digest}-${secret}`, /unsupported token version '2'/],
    [`SWMTKN-1-${digest.slice(1)}-${secret}`, /CA digest part must be 50/],
    [`SWMTKN-1-${digest}-${secret}x`, /secret part must be 25/],
    [`SWMTKN-1-${digest.toUpperCase()}-${secret}`, /CA digest part/],
    [`SWMTKN-1-${'z'.repeat(50)}-${secret}`, /out of range/],
    [`SWMTKN-1-${digest}-${secret}-extra`, /not a swarm join token/],
  ];
  for (const [token, message] of cases) {
    const err = t.throws(() => parseJoinToken(token), undefined, token);
    t.is(errorCode(err), 'InvalidArgument');
    t.regex(err?.message ?? '', /^invalid join token: /);
    t.regex(err?.message ?? '', message, token);
  }
});

test('a malformed CA digest cannot make a token', (t) => {
  t.throws(() => generateJoinToken('sha256:abc'), { message: /invalid CA digest/ });
  t.throws(() => generateJoinToken('md5:' + 'a'.repeat(64)), { message: /invalid CA digest/ });
});

test('tokensEqual compares whole tokens', (t) => {
  const a = generateJoinToken(DIGEST);
  t.true(tokensEqual(a, a));
  t.false(tokensEqual(a, a.slice(0, -1)));
  t.false(tokensEqual(a, generateJoinToken(DIGEST)));
  t.is(roleForToken(a, null), undefined);
  t.is(roleForToken('', { worker: '', manager: '' }), undefined, 'empty stored tokens never match');
});
