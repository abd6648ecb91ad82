// Names for services created without --name, in docker's adjective_surname
// style. The manager may not import the engine's generator, and a short list
// is enough: the caller retries on a clash.
import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'admiring', 'bold', 'brave', 'calm', 'clever', 'dazzling', 'eager', 'elegant', 'festive', 'focused',
  'gallant', 'gracious', 'happy', 'hopeful', 'jolly', 'keen', 'kind', 'lucid', 'modest', 'nifty',
  'optimistic', 'peaceful', 'quirky', 'relaxed', 'serene', 'sharp', 'stoic', 'tender', 'vibrant', 'zealous',
];
const NAMES = [
  'babbage', 'bohr', 'curie', 'darwin', 'dijkstra', 'einstein', 'euler', 'fermat', 'franklin', 'galileo',
  'gauss', 'hopper', 'hypatia', 'kepler', 'knuth', 'lamport', 'lovelace', 'mayer', 'newton', 'noether',
  'pascal', 'ritchie', 'shannon', 'tesla', 'thompson', 'torvalds', 'turing', 'wilson', 'wozniak', 'yalow',
];

/** A random "adjective_surname" name; `attempt` > 0 appends a digit, as docker does on retries. */
export function randomServiceName(attempt = 0): string {
  const name = `${ADJECTIVES[randomInt(ADJECTIVES.length)] ?? 'bold'}_${NAMES[randomInt(NAMES.length)] ?? 'turing'}`;
  return attempt > 0 ? `${name}${randomInt(10)}` : name;
}
