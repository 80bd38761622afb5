// The gRPC service definition of a collector service's Export with identity (Buffer) serializers, so
// that grpc-js does no protobuf work: requests arrive as the encoded bytes, responses leave as given.
// Shared by the gateway's receiver and the project's own OTLP test backend and bench server.
import type * as grpc from '@grpc/grpc-js';
import { SIGNAL_WIRE, type Signal } from '../signals.js';

const identity = (b: Buffer): Buffer => b;

export function otlpExportService(signal: Signal): grpc.ServiceDefinition {
  return {
    Export: {
      path: SIGNAL_WIRE[signal].grpcPath,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
      originalName: 'export',
    },
  };
}
