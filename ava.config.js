// Everything but the Raft chaos tests, which run on their own afterwards
// (ava.chaos.config.js): they measure liveness (ops/s before a fault, time to
// the first write after healing) and must not share the CPUs with the
// engine's end-to-end tests.
export default {
  files: ['packages/*/dist/**/*.test.js', 'test/dist/**/*.test.js', '!packages/raft/dist/chaos/**'],
  timeout: '3m',
  concurrency: 2,
  workerThreads: false,
  verbose: true,
};
