/**
 * A restricted unpickler: Python's pickle virtual machine (protocols 0–5 as documented in CPython's
 * `Lib/pickletools.py`) for the opcodes a PyTorch state dict uses, and nothing that can run code.
 *
 * - Globals (`GLOBAL`, `STACK_GLOBAL`) are resolved by the caller's allow-list (`resolveGlobal`) to
 *   stand-ins the caller defines; any other global is refused **when the opcode is read**, before a
 *   `REDUCE` could call it (FormatError naming `module.name`).
 * - `REDUCE` only calls caller stand-ins (`PyCallable`); `BUILD` only sets the state of a dict (PyTorch's
 *   `OrderedDict._metadata`); persistent ids (`BINPERSID`) go to the caller's `persistentLoad`.
 * - Opcodes that build instances of classes (`INST`, `OBJ`, `NEWOBJ`, `NEWOBJ_EX`, `EXT1/2/4`),
 *   out-of-band buffers, sets and the text opcodes of protocol 0 are refused by name.
 *
 * Bounds: every length is checked against the bytes left before anything is read or decoded, so an
 * operation never reads outside `bytes` and allocates at most O(its own length); the stack and memo hold
 * references (a `BINGET` never copies), so the whole machine holds O(pickle length) values.
 */
import { FormatError } from '../../errors.js';

/** A Python value as the unpickler builds it. */
export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyTuple | PyList | PyDict | PyObject;
/** Dict keys this reader accepts (hashable scalars). */
export type PyKey = null | boolean | number | bigint | string;

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}
export class PyList {
  constructor(readonly items: PyValue[] = []) {}
}
/** A dict (insertion-ordered, as Python's); `state` is what a `BUILD` set on it (OrderedDict attributes). */
export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  state: PyValue | undefined = undefined;
}
/** An opaque stand-in of the caller (a storage type, a tensor record). */
export class PyObject {
  constructor(
    readonly label: string,
    readonly payload: unknown,
  ) {}
}
/** A stand-in the caller lets `REDUCE` call. */
export class PyCallable extends PyObject {
  constructor(
    label: string,
    readonly call: (args: readonly PyValue[]) => PyValue,
  ) {
    super(label, null);
  }
}

export interface UnpickleOptions {
  /** The stand-in for `module.name`, or undefined to refuse it. */
  readonly resolveGlobal: (module: string, name: string) => PyValue | undefined;
  /** What a persistent id (`BINPERSID`) refers to; throws FormatError for ids it does not accept. */
  readonly persistentLoad?: (pid: PyValue) => PyValue;
  /** Prefix of error messages, e.g. `pytorch_model.bin: data.pkl`. */
  readonly where?: string;
  /** The list of globals that are allowed, for the refusal message. */
  readonly allowedHint?: string;
}

/** Value of the pickle and the offset just after its STOP. */
export interface UnpickleResult {
  readonly value: PyValue;
  readonly end: number;
}

/** Longest integer accepted from LONG1/LONG4, in bytes (torch's magic number has 10). */
const MAX_LONG_BYTES = 64;

const REFUSED: Readonly<Record<number, string>> = {
  105: 'INST',
  111: 'OBJ',
  129: 'NEWOBJ',
  146: 'NEWOBJ_EX',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  80: 'PERSID',
  73: 'INT',
  76: 'LONG',
  70: 'FLOAT',
  83: 'STRING',
  86: 'UNICODE',
  112: 'PUT',
  103: 'GET',
  143: 'EMPTY_SET',
  144: 'ADDITEMS',
  145: 'FROZENSET',
  150: 'BYTEARRAY8',
  151: 'NEXT_BUFFER',
  152: 'READONLY_BUFFER',
  142: 'BINBYTES8',
};

/** One short description of a value for messages (never walks into containers). */
export function describePy(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number' || typeof v === 'bigint') return `int ${v}`;
  if (typeof v === 'string') return `str ${JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)}`;
  if (v instanceof Uint8Array) return `bytes of length ${v.length}`;
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof PyList) return `a list of ${v.items.length}`;
  if (v instanceof PyDict) return `a dict of ${v.map.size}`;
  return v.label;
}

/**
 * Runs the pickle that starts at `start` up to its STOP.
 * @throws FormatError for a truncated or malformed pickle, a refused opcode or global, or what the
 *   caller's stand-ins throw.
 */
export function unpickle(bytes: Uint8Array, start: number, options: UnpickleOptions): UnpickleResult {
  const where = options.where ?? 'pickle';
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength;
  let pos = start;
  let opAt = start;
  const fail = (msg: string): never => {
    throw new FormatError(`${where}: ${msg} (at byte ${opAt})`);
  };
  const need = (k: number, what: string): number => {
    if (k < 0 || pos + k > end) fail(`${what} needs ${k} bytes but only ${end - pos} are left (truncated file?)`);
    const at = pos;
    pos += k;
    return at;
  };
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const text = (k: number, what: string): string => {
    const at = need(k, what);
    try {
      return utf8.decode(bytes.subarray(at, at + k));
    } catch {
      return fail(`${what} is not valid UTF-8`);
    }
  };
  const line = (what: string): string => {
    const at = pos;
    while (pos < end && bytes[pos] !== 0x0a) pos++;
    if (pos >= end) fail(`${what} has no terminating newline (truncated file?)`);
    const s = new TextDecoder('latin1').decode(bytes.subarray(at, pos));
    pos++;
    return s;
  };

  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  const pop = (what: string): PyValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) fail(`${what} on an empty stack`);
    return stack.pop()!;
  };
  const popMark = (what: string): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) fail(`${what} without a MARK`);
    return stack.splice(m!);
  };
  const top = (what: string): PyValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) fail(`${what} on an empty stack`);
    return stack[stack.length - 1]!;
  };
  const key = (k: PyValue): PyKey => {
    if (k === null || typeof k === 'boolean' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'string') return k;
    return fail(`dict key ${describePy(k)} is not supported (state dicts have str keys)`);
  };
  const setItems = (target: PyValue, items: readonly PyValue[]): void => {
    if (!(target instanceof PyDict)) fail(`SETITEM(S) on ${describePy(target)}, not a dict`);
    if (items.length % 2 !== 0) fail('SETITEMS with an odd number of stack items');
    for (let i = 0; i < items.length; i += 2) (target as PyDict).map.set(key(items[i]!), items[i + 1]!);
  };
  const appendItems = (target: PyValue, items: readonly PyValue[]): void => {
    if (!(target instanceof PyList)) fail(`APPEND(S) on ${describePy(target)}, not a list`);
    for (const x of items) (target as PyList).items.push(x);
  };
  const global = (module: string, name: string): PyValue => {
    const v = options.resolveGlobal(module, name);
    if (v === undefined) {
      fail(
        `global ${module}.${name} is not allowed: a state dict needs only ${options.allowedHint ?? 'allow-listed globals'}; ` +
          'this file could run code when loaded by Python, so it is refused (nothing was executed)',
      );
    }
    return v!;
  };
  const int = (v: bigint): number | bigint =>
    v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  const long = (k: number): number | bigint => {
    if (k > MAX_LONG_BYTES) fail(`integer of ${k} bytes is too long (at most ${MAX_LONG_BYTES})`);
    const at = need(k, 'LONG');
    let v = 0n;
    for (let i = k - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]!);
    if (k > 0 && bytes[at + k - 1]! & 0x80) v -= 1n << BigInt(8 * k);
    return int(v);
  };

  for (;;) {
    opAt = pos;
    if (pos >= end) fail('the pickle ends without STOP (truncated file?)');
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: // PROTO
        if (bytes[need(1, 'PROTO')]! > 5) fail(`pickle protocol ${bytes[pos - 1]} is not supported (at most 5)`);
        break;
      case 0x95: // FRAME: a length hint only
        need(8, 'FRAME');
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length !== 0) fail(`STOP with ${stack.length} values on the stack (expected 1)`);
        return { value: stack[0]!, end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length > 0 && stack.length === marks[marks.length - 1]) marks.pop();
        else pop('POP');
        break;
      case 0x31: // POP_MARK
        popMark('POP_MARK');
        break;
      case 0x32: // DUP
        stack.push(top('DUP'));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(dv.getInt32(need(4, 'BININT'), true));
        break;
      case 0x4b: // BININT1
        stack.push(bytes[need(1, 'BININT1')]!);
        break;
      case 0x4d: // BININT2
        stack.push(dv.getUint16(need(2, 'BININT2'), true));
        break;
      case 0x8a: // LONG1
        stack.push(long(bytes[need(1, 'LONG1')]!));
        break;
      case 0x8b: // LONG4
        stack.push(long(dv.getInt32(need(4, 'LONG4'), true)));
        break;
      case 0x47: // BINFLOAT (big-endian)
        stack.push(dv.getFloat64(need(8, 'BINFLOAT'), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(dv.getUint32(need(4, 'BINUNICODE'), true), 'BINUNICODE string'));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(bytes[need(1, 'SHORT_BINUNICODE')]!, 'SHORT_BINUNICODE string'));
        break;
      case 0x8d: {
        // BINUNICODE8
        const k = dv.getBigUint64(need(8, 'BINUNICODE8'), true);
        stack.push(text(k > BigInt(end) ? end + 1 : Number(k), 'BINUNICODE8 string'));
        break;
      }
      case 0x55: // SHORT_BINSTRING (Python 2 str: bytes, read as latin-1 text)
      case 0x54: {
        // BINSTRING
        const k = op === 0x55 ? bytes[need(1, 'SHORT_BINSTRING')]! : dv.getInt32(need(4, 'BINSTRING'), true);
        const at = need(k, 'BINSTRING');
        stack.push(new TextDecoder('latin1').decode(bytes.subarray(at, at + k)));
        break;
      }
      case 0x43: // SHORT_BINBYTES
      case 0x42: {
        // BINBYTES
        const k = op === 0x43 ? bytes[need(1, 'SHORT_BINBYTES')]! : dv.getUint32(need(4, 'BINBYTES'), true);
        const at = need(k, 'BINBYTES');
        stack.push(bytes.subarray(at, at + k));
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark('TUPLE')));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const k = op - 0x84;
        const items: PyValue[] = [];
        for (let i = 0; i < k; i++) items.unshift(pop(`TUPLE${k}`));
        stack.push(new PyTuple(items));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push(new PyList());
        break;
      case 0x6c: // LIST
        stack.push(new PyList(popMark('LIST')));
        break;
      case 0x61: {
        // APPEND
        const x = pop('APPEND');
        appendItems(top('APPEND'), [x]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark('APPENDS');
        appendItems(top('APPENDS'), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark('DICT'));
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop('SETITEM');
        const k = pop('SETITEM');
        setItems(top('SETITEM'), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark('SETITEMS');
        setItems(top('SETITEMS'), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(bytes[need(1, 'BINPUT')]!, top('BINPUT'));
        break;
      case 0x72: // LONG_BINPUT
        memo.set(dv.getUint32(need(4, 'LONG_BINPUT'), true), top('LONG_BINPUT'));
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top('MEMOIZE'));
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x68 ? bytes[need(1, 'BINGET')]! : dv.getUint32(need(4, 'LONG_BINGET'), true);
        if (!memo.has(i)) fail(`memo entry ${i} is read before it is written`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line('GLOBAL module');
        const name = line('GLOBAL name');
        stack.push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop('STACK_GLOBAL');
        const module = pop('STACK_GLOBAL');
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop('REDUCE');
        const fn = pop('REDUCE');
        if (!(fn instanceof PyCallable)) return fail(`REDUCE calls ${describePy(fn)}, which is not callable here`);
        if (!(args instanceof PyTuple)) return fail(`REDUCE of ${fn.label} with ${describePy(args)} instead of an argument tuple`);
        stack.push(fn.call(args.items));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop('BUILD');
        const target = top('BUILD');
        if (!(target instanceof PyDict)) return fail(`BUILD (set the state of an object) on ${describePy(target)} is not supported`);
        target.state = state;
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop('BINPERSID');
        if (!options.persistentLoad) return fail('a persistent id, but this pickle may not reference external data');
        stack.push(options.persistentLoad(pid));
        break;
      }
      default: {
        const name = REFUSED[op];
        if (name) fail(`opcode ${name} is not allowed in a state dict (it builds objects or is not written by torch.save)`);
        fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }
}
