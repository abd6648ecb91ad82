// Found by the chaos suite (5 members, kill -9 of the leader, seed 1): a write
// in flight when the leader died failed with grpc-js's "Connection dropped",
// which the client took for "never sent" and retried on the new leader, so
// one append was applied twice.
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import { fromGrpcError } from '../kv/kv-errors.js';

const grpcError = (code: grpc.status, details: string): grpc.ServiceError =>
  Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });

test('a call whose connection dropped mid-flight has an unknown outcome', (t) => {
  t.true(fromGrpcError(grpcError(grpc.status.UNAVAILABLE, 'Connection dropped')).indeterminate);
  t.true(fromGrpcError(grpcError(grpc.status.UNAVAILABLE, 'read ECONNRESET')).indeterminate);
  t.true(fromGrpcError(grpcError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded')).indeterminate);
});

test('a call that never reached a server certainly did not happen', (t) => {
  t.false(fromGrpcError(grpcError(grpc.status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1')).indeterminate);
  t.false(fromGrpcError(grpcError(grpc.status.UNAVAILABLE, 'Stream refused by server')).indeterminate);
});
