import { randomInt } from 'node:crypto';
import { invalidArgument } from '@shoal/api';

// A small docker-like generator: "<adjective>_<scientist>".
const LEFT = [
  'admiring', 'bold', 'brave', 'busy', 'calm', 'clever', 'cool', 'dazzling', 'eager', 'elastic', 'epic', 'festive',
  'focused', 'friendly', 'gallant', 'gifted', 'happy', 'hopeful', 'jolly', 'keen', 'kind', 'laughing', 'loving',
  'lucid', 'magical', 'modest', 'nervous', 'nifty', 'optimistic', 'peaceful', 'practical', 'quirky', 'relaxed',
  'serene', 'sharp', 'stoic', 'sweet', 'tender', 'trusting', 'upbeat', 'vibrant', 'wizardly', 'youthful', 'zealous',
];
const RIGHT = [
  'agnesi', 'albattani', 'archimedes', 'babbage', 'bardeen', 'bohr', 'curie', 'darwin', 'dijkstra', 'einstein',
  'euclid', 'euler', 'fermat', 'feynman', 'galileo', 'gauss', 'goldberg', 'hamilton', 'hopper', 'hypatia', 'kepler',
  'knuth', 'lamport', 'liskov', 'lovelace', 'mayer', 'mccarthy', 'newton', 'noether', 'pascal', 'ritchie', 'shannon',
  'thompson', 'torvalds', 'turing', 'wozniak', 'yalow',
];

export function randomName(): string {
  return `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
}

const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Returns the name without a leading slash. Throws InvalidArgument for a name docker would refuse. */
export function validateName(name: string): string {
  if (!VALID_NAME.test(name)) {
    throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.startsWith('/') ? name.slice(1) : name;
}
