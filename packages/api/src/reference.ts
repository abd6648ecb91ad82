import { invalidArgument } from './errors.js';

/**
 * A parsed image reference in its normalized form: `domain` is always set
 * (`docker.io` by default) and `path` carries `library/` for official
 * docker.io images. `tag` is `latest` when neither a tag nor a digest was given.
 */
export interface Reference {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const NAME_MAX = 255;

// The grammar of github.com/distribution/reference, written as anchored pieces
// so each failure can say which part was wrong.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_RE = /^sha256:[a-f0-9]{64}$/;
const ANCHORED_ID_RE = /^[a-f0-9]{64}$/;

function bad(why?: string): never {
  throw invalidArgument(why ? `invalid reference format: ${why}` : 'invalid reference format');
}

/** Docker's rule: the first component is a registry only if it looks like a host. */
function splitDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  let domain: string;
  let rest: string;
  if (
    i === -1 ||
    (!/[.:]/.test(name.slice(0, i)) && name.slice(0, i) !== 'localhost' && name.slice(0, i).toLowerCase() === name.slice(0, i))
  ) {
    domain = DEFAULT_DOMAIN;
    rest = name;
  } else {
    domain = name.slice(0, i);
    rest = name.slice(i + 1);
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !rest.includes('/')) rest = OFFICIAL_PREFIX + rest;
  return [domain, rest];
}

/**
 * Parses `[registry[:port]/]path[:tag][@sha256:<hex>]` into its normalized form.
 *
 * @throws InvalidArgument naming the bad part ("invalid reference format: repository name must be lowercase").
 */
export function parseReference(s: string): Reference {
  if (s.length === 0) bad('repository name must have at least one component');
  if (ANCHORED_ID_RE.test(s)) {
    throw invalidArgument(
      `invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`,
    );
  }
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) bad('invalid digest format');
    if (digest.startsWith('sha256:') && !SHA256_RE.test(digest)) bad('invalid digest format');
  }
  let tag: string | undefined;
  // A colon after the last slash starts the tag; earlier ones are a port.
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) bad('invalid tag format');
  }
  if (rest.length === 0) bad('repository name must have at least one component');
  const [domain, path] = splitDomain(rest);
  if (!DOMAIN_RE.test(domain)) bad(`invalid registry host "${domain}"`);
  if (path.length === 0) bad('repository name must have at least one component');
  if (path !== path.toLowerCase()) bad('repository name must be lowercase');
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT_RE.test(component)) bad();
  }
  if (domain.length + 1 + path.length > NAME_MAX) {
    bad(`repository name must not be more than ${NAME_MAX} characters`);
  }
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = DEFAULT_TAG;
  return ref;
}

/** `docker.io/library/busybox` for a reference (no tag or digest). */
export function referenceName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full string form of a parsed reference. */
export function formatReference(ref: Reference): string {
  let s = referenceName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/**
 * `busybox` → `docker.io/library/busybox:latest`.
 *
 * @throws InvalidArgument when `s` is not a valid reference.
 */
export function normalizeReference(s: string): string {
  return formatReference(parseReference(s));
}

/** The familiar name docker prints: `docker.io/library/busybox` → `busybox`. */
export function familiarName(name: string): string {
  let rest = name;
  if (rest.startsWith(`${DEFAULT_DOMAIN}/`)) {
    rest = rest.slice(DEFAULT_DOMAIN.length + 1);
    if (rest.startsWith(OFFICIAL_PREFIX) && !rest.slice(OFFICIAL_PREFIX.length).includes('/')) {
      rest = rest.slice(OFFICIAL_PREFIX.length);
    }
  }
  return rest;
}

/**
 * `docker.io/library/busybox:latest` → `busybox:latest`, as docker prints
 * references. Strings that do not parse come back unchanged.
 */
export function familiarReference(full: string): string {
  let ref: Reference;
  try {
    ref = parseReference(full);
  } catch {
    return full;
  }
  let s = familiarName(referenceName(ref));
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/**
 * True when `s` could be a (possibly abbreviated) image ID: hex digits,
 * optionally prefixed with `sha256:`.
 */
export function isImageIdPrefix(s: string): boolean {
  return /^(?:sha256:)?[a-f0-9]{1,64}$/.test(s);
}
