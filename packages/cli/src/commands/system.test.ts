import test from 'ava';
import { swarmLines } from './system.js';

test('info shows an inactive swarm in one line', (t) => {
  t.deepEqual(swarmLines(undefined), [' Swarm: inactive']);
  t.deepEqual(swarmLines({ LocalNodeState: 'inactive', NodeID: '' }), [' Swarm: inactive']);
});

test("info shows a manager's part in an active swarm like docker", (t) => {
  t.deepEqual(
    swarmLines({
      LocalNodeState: 'active',
      NodeID: 'n1',
      ControlAvailable: true,
      Cluster: { ID: 'c1' },
      Managers: 1,
      Nodes: 3,
      NodeAddr: '10.0.0.1',
      RemoteManagers: [{ NodeID: 'n1', Addr: '10.0.0.1:2377' }],
    }),
    [' Swarm: active', '  NodeID: n1', '  Is Manager: true', '  ClusterID: c1', '  Managers: 1', '  Nodes: 3', '  Node Address: 10.0.0.1', '  Manager Addresses:', '   10.0.0.1:2377'],
  );
});

test("a worker's block has no cluster counts", (t) => {
  t.deepEqual(swarmLines({ LocalNodeState: 'active', NodeID: 'w1', ControlAvailable: false, NodeAddr: '10.0.0.2', RemoteManagers: [] }), [
    ' Swarm: active',
    '  NodeID: w1',
    '  Is Manager: false',
    '  Node Address: 10.0.0.2',
  ]);
});
