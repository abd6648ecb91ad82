// Lint: typed rules everywhere, plus the package boundaries of
// ../shared/ARCHITECTURE.md ("what may import what"), so a forbidden import
// fails `npm test`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const WORKSPACE = ['api', 'raft', 'engine', 'manager', 'agent', 'daemon', 'cli'];
/** packages/manager/src folders that are components (swarmkit's manager/<component>). */
const MANAGER_COMPONENTS = ['orchestrator', 'allocator', 'scheduler', 'dispatcher', 'controlapi', 'metrics', 'roles'];

/** Import patterns that reach workspace packages other than `allowed`. */
function forbidWorkspace(self, allowed) {
  const banned = WORKSPACE.filter((p) => p !== self && !allowed.includes(p));
  return banned.flatMap((p) => [
    { group: [`@shoal/${p}`, `@shoal/${p}/*`], message: `packages/${self} may not import packages/${p} (see ARCHITECTURE.md).` },
    { group: [`**/packages/${p}/**`, `../../${p}/**`, `../../../${p}/**`], message: `packages/${self} may not reach into packages/${p} (see ARCHITECTURE.md).` },
  ]);
}

const boundary = (self, allowed, extra = []) => ({
  files: [`packages/${self}/src/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', { patterns: [...forbidWorkspace(self, allowed), ...extra] }],
  },
});

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'packages/api/src/gen/**', 'build/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  boundary('api', [], [
    { group: ['prom-client', 'pino', 'commander'], message: 'packages/api is a leaf: protobufjs and @grpc/grpc-js only.' },
  ]),
  boundary('raft', []),
  boundary('engine', ['api']),
  boundary('manager', ['api', 'raft'], [
    { group: ['protobufjs', '@grpc/proto-loader'], message: 'packages/manager encodes through @shoal/api (loadProtoRoot), not protobufjs directly.' },
  ]),
  boundary('agent', ['api', 'engine']),
  boundary('daemon', ['api', 'raft', 'engine', 'manager', 'agent']),
  boundary('cli', ['api'], [
    { group: ['pino', 'prom-client'], message: 'packages/cli talks to daemons only through the API.' },
  ]),
  // Inside the manager, the components cooperate only through the store: none
  // imports another. Shared libraries (store, constraint, ca's certificate
  // helpers, raft glue) are open to all; swarm/ composes them.
  ...MANAGER_COMPONENTS.map((c) => ({
    files: [`packages/manager/src/${c}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbidWorkspace('manager', ['api', 'raft']),
            { group: ['protobufjs', '@grpc/proto-loader'], message: 'packages/manager encodes through @shoal/api (loadProtoRoot), not protobufjs directly.' },
            ...MANAGER_COMPONENTS.filter((o) => o !== c).map((o) => ({
              group: [`../${o}/*`, `../${o}`],
              message: `manager components cooperate through the store: ${c} may not import ${o} (see ARCHITECTURE.md).`,
            })),
          ],
        },
      ],
    },
  })),
  // The agent reaches the engine only through its executor seam.
  {
    files: ['packages/agent/src/**/*.ts'],
    ignores: ['packages/agent/src/engine-executor/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...forbidWorkspace('agent', ['api']), { group: ['@shoal/engine', '@shoal/engine/*'], message: 'Only packages/agent/src/engine-executor may import the engine.' }] }],
    },
  },
  // The raft core touches no clock, timer, random source, disk or socket.
  {
    files: ['packages/raft/src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'net', 'dgram', 'crypto', 'timers', '@grpc/*', 'protobufjs'], message: 'The raft core is pure: no I/O, clocks or randomness.' }, ...forbidWorkspace('raft', [])] }],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'performance', 'fetch'],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now' }, { object: 'Math', property: 'random' }],
    },
  },
);
