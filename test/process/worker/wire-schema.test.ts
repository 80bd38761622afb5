// The walker's schema table must say what the .proto files say: every field of every OTLP message,
// with its number, its name, its wire shape and, for messages, the same child type.
import t from 'tap';
import type protobuf from 'protobufjs';
import { otlpRoot } from '../../../src/process/wire/otlp-schema.js';
import { FIELD_SLOTS, Kind, MSG, describeWireSchema, fieldChild, fieldKind, type KindValue } from '../../../src/process/worker/wire-schema.js';

const camel = (s: string): string => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function findType(name: string): protobuf.Type {
  const matches: protobuf.Type[] = [];
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const nested of ns.nestedArray) {
      if ('fieldsById' in nested && (nested.fullName === `.${name}` || nested.fullName.endsWith(`.${name}`))) matches.push(nested as protobuf.Type);
      if ('nestedArray' in nested) visit(nested as protobuf.NamespaceBase);
    }
  };
  visit(otlpRoot().lookup('opentelemetry.proto') as protobuf.Namespace);
  if (matches.length !== 1) throw new Error(`${name}: ${matches.length} protobuf types match`);
  return matches[0]!;
}

function expectedKinds(field: protobuf.Field): KindValue[] {
  const type = field.resolvedType;
  if (type && 'fieldsById' in type) return [Kind.MESSAGE];
  if (type) return field.repeated ? [Kind.PACKED_VARINT] : [Kind.VARINT]; // enum
  switch (field.type) {
    case 'string':
      return [Kind.STRING];
    case 'bytes':
      return [Kind.BYTES, Kind.TRACE_ID, Kind.SPAN_ID];
    case 'double':
    case 'fixed64':
    case 'sfixed64':
      return field.repeated ? [Kind.PACKED_I64] : [Kind.I64];
    case 'fixed32':
      return [Kind.I32];
    default:
      return field.repeated ? [Kind.PACKED_VARINT] : [Kind.VARINT];
  }
}

t.test('every message and field matches the .proto files', async (t) => {
  const schema = describeWireSchema();
  const seen = new Set<string>();
  for (const m of schema) {
    const type = findType(m.name);
    seen.add(type.fullName);
    t.same(
      m.fields.map((f) => f.number).sort((a, b) => a - b),
      type.fieldsArray.map((f) => f.id).sort((a, b) => a - b),
      `${m.name}: the same field numbers`,
    );
    for (const f of m.fields) {
      const pf = type.fieldsById[f.number];
      if (!pf) continue; // reported by the comparison above
      t.equal(camel(f.name), pf.name, `${m.name}.${f.name}: name`);
      t.equal(f.repeated, pf.repeated, `${m.name}.${f.name}: repeated`);
      t.ok(expectedKinds(pf).includes(f.kind), `${m.name}.${f.name}: kind ${f.kind} fits ${pf.type}`);
      if (f.kind === Kind.MESSAGE) t.equal(findType(f.child!).fullName, (pf.resolvedType as protobuf.Type).fullName, `${m.name}.${f.name}: child type`);
      if (f.kind === Kind.TRACE_ID || f.kind === Kind.SPAN_ID) t.match(f.name, /^(trace_id|span_id|parent_span_id)$/, `${m.name}.${f.name}: an id field`);
    }
  }
  // Every message reachable from the three requests is described.
  const reachable = new Set<string>();
  const visit = (type: protobuf.Type): void => {
    if (reachable.has(type.fullName)) return;
    reachable.add(type.fullName);
    for (const f of type.fieldsArray) if (f.resolvedType && 'fieldsById' in f.resolvedType) visit(f.resolvedType as protobuf.Type);
  };
  for (const r of ['ExportTraceServiceRequest', 'ExportMetricsServiceRequest', 'ExportLogsServiceRequest']) visit(findType(r));
  t.same([...reachable].sort(), [...seen].sort(), 'the table covers exactly the reachable messages');
});

t.test('the compiled lookup tables say what the definitions say', async (t) => {
  for (const m of describeWireSchema()) {
    const id = MSG[m.name]!;
    const known = new Map(m.fields.map((f) => [f.number, f]));
    for (let n = 0; n < FIELD_SLOTS + 2; n++) {
      const f = known.get(n);
      t.equal(fieldKind(id, n), f?.kind ?? Kind.UNKNOWN, `${m.name} field ${n}: kind`);
      t.equal(fieldChild(id, n), f?.child ? MSG[f.child] : -1, `${m.name} field ${n}: child`);
    }
  }
});
