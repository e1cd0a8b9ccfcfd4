import { RpcErrors, VdsmFault } from './errors';
import { RawJsonNumber, scanJsonText } from './json-text';
import type { PyValue } from './pyrepr';

/**
 * JSON-RPC 2.0 envelopes as yajsonrpc's JsonRpcServer handles them: a body is one request or a
 * batch; malformed requests get an error with id null; a notification (no id) is still answered,
 * except when its method is unknown; a batch with one answer gets that answer unwrapped.
 */

/** A numeric id arrives as RawJsonNumber (its exact text) when parsed by parseMessage. */
export type RpcId = string | number | RawJsonNumber | null;

export interface RpcRequest {
  method: string;
  params: unknown[] | Record<string, unknown>;
  /** undefined: a notification. */
  id: RpcId | undefined;
}

export interface RpcResponse {
  jsonrpc: '2.0';
  id: RpcId;
  result?: unknown;
  error?: { code: number; message: string };
}

export interface ParsedMessage {
  requests: RpcRequest[];
  /** Answers owed before any call runs (parse errors, invalid requests). */
  errors: RpcResponse[];
}

export function errorResponse(id: RpcId, fault: VdsmFault): RpcResponse {
  return { jsonrpc: '2.0', id, error: { code: fault.code, message: fault.message } };
}

/** JsonRpcRequest.fromRawObject; `rawId`: the numeric id's source text. */
function toRequest(raw: unknown, rawId: string | undefined): RpcRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw RpcErrors.internal();
  const obj = raw as Record<string, unknown>;
  if (obj.jsonrpc !== '2.0') throw RpcErrors.invalidRequest(obj as PyValue, 'Wrong protocol version');
  if (obj.method === undefined || obj.method === null) {
    throw RpcErrors.invalidRequest(obj as PyValue, 'missing method header in method');
  }
  const params = obj.params ?? [];
  if (typeof params !== 'object' || params === null)
    throw RpcErrors.invalidRequest(obj as PyValue, 'wrong params type');
  // JSON-RPC 2.0 ids are strings, numbers or null. VDSM takes anything and then fails to answer
  // a deep one; an invalid request is answered instead.
  if (obj.id !== undefined && obj.id !== null && typeof obj.id !== 'string' && typeof obj.id !== 'number')
    throw RpcErrors.invalidRequest(obj as PyValue, 'invalid request id');
  const id =
    typeof obj.id === 'number' && rawId !== undefined
      ? new RawJsonNumber(rawId)
      : obj.id === undefined
        ? undefined
        : (obj.id as RpcId);
  return {
    method: typeof obj.method === 'string' ? obj.method : JSON.stringify(obj.method),
    params: params as RpcRequest['params'],
    id,
  };
}

export function parseMessage(body: string): ParsedMessage {
  let decoded: unknown;
  try {
    decoded = JSON.parse(body);
  } catch {
    return { requests: [], errors: [errorResponse(null, RpcErrors.parse())] };
  }
  const text = scanJsonText(body);
  if (text.tooDeep) return { requests: [], errors: [errorResponse(null, RpcErrors.parse())] };
  if (Array.isArray(decoded) && decoded.length === 0) {
    return {
      requests: [],
      errors: [errorResponse(null, RpcErrors.invalidRequest([], 'request batch is empty'))],
    };
  }
  const requests: RpcRequest[] = [];
  const errors: RpcResponse[] = [];
  for (const [index, raw] of (Array.isArray(decoded) ? decoded : [decoded]).entries()) {
    try {
      requests.push(toRequest(raw, text.numericIds.get(index)));
    } catch (err) {
      errors.push(errorResponse(null, err instanceof VdsmFault ? err : RpcErrors.internal()));
    }
  }
  return { requests, errors };
}

/** One answer goes alone, several as an array (even for a batch of one: VDSM unwraps it). */
export function encodeResponses(responses: readonly RpcResponse[]): string | undefined {
  if (responses.length === 0) return undefined;
  return responses.length === 1
    ? encodeResponse(responses[0]!)
    : `[${responses.map(encodeResponse).join(',')}]`;
}

function encodeResponse(response: RpcResponse): string {
  if (!(response.id instanceof RawJsonNumber)) return JSON.stringify(response);
  // JSON.stringify cannot write a number's own text: it goes where a placeholder id stands.
  const text = JSON.stringify({ ...response, id: 0 });
  const head = '{"jsonrpc":"2.0","id":0';
  return text.startsWith(head)
    ? `{"jsonrpc":"2.0","id":${response.id.text}${text.slice(head.length)}`
    : JSON.stringify(response);
}

/** Named params as the Bridge builds them from a positional list. */
export function namedParams(params: RpcRequest['params'], names: readonly string[]): Record<string, unknown> {
  if (!Array.isArray(params)) return params;
  const named: Record<string, unknown> = {};
  params.forEach((value, i) => {
    const name = names[i];
    if (name !== undefined) named[name] = value;
  });
  return named;
}
