// A subset of Go's text/template, enough for the `--format` strings people
// pass to docker: fields, pipelines, if/else/range/with, variables and
// docker's template functions (json, join, split, upper, lower, title, pad,
// truncate) plus Go's builtins (printf, index, len, eq, and, or, not...).
// No npm package implements Go templates faithfully on Node 20, hence this.

/** A parse or execution error; its message is shown to the user as is. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

type Token =
  | { t: 'field'; names: string[] } // .A.B (empty names = dot)
  | { t: 'var'; name: string; names: string[] } // $x.A
  | { t: 'ident'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'pipe' }
  | { t: 'lparen' }
  | { t: 'rparen'; names: string[] } // ).A.B
  | { t: 'declare' } // :=
  | { t: 'assign' } // =
  | { t: 'comma' };

type Operand =
  | { k: 'field'; names: string[]; args: Arg[] }
  | { k: 'var'; name: string; names: string[]; args: Arg[] }
  | { k: 'lit'; v: unknown }
  | { k: 'sub'; pipe: Pipeline; names: string[] };
type Arg = Operand | { k: 'fn'; name: string };
interface Command {
  fn?: string;
  args: Arg[];
}
interface Pipeline {
  decl: string[];
  assign: boolean;
  cmds: Command[];
}
type Node =
  | { k: 'text'; v: string }
  | { k: 'action'; pipe: Pipeline }
  | { k: 'if' | 'with'; pipe: Pipeline; body: Node[]; alt: Node[] }
  | { k: 'range'; pipe: Pipeline; body: Node[]; alt: Node[] };

// ---------- lexing ----------

function lexAction(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const fieldChain = (): string[] => {
    const names: string[] = [];
    while (src[i] === '.' && /[A-Za-z_]/.test(src[i + 1] ?? '')) {
      i++;
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
      names.push(m![0]);
      i += m![0].length;
    }
    return names;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '.') {
      if (/[A-Za-z_]/.test(src[i + 1] ?? '')) out.push({ t: 'field', names: fieldChain() });
      else if (/[0-9]/.test(src[i + 1] ?? '')) {
        const m = /^\.[0-9]+/.exec(src.slice(i))!;
        out.push({ t: 'num', v: Number(m[0]) });
        i += m[0].length;
      } else {
        i++;
        out.push({ t: 'field', names: [] });
      }
    } else if (c === '$') {
      const m = /^\$[A-Za-z0-9_]*/.exec(src.slice(i))!;
      i += m[0].length;
      out.push({ t: 'var', name: m[0], names: fieldChain() });
    } else if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new TemplateError('template: unterminated quoted string');
      try {
        out.push({ t: 'str', v: JSON.parse(src.slice(i, j + 1)) as string });
      } catch {
        throw new TemplateError(`template: bad quoted string ${src.slice(i, j + 1)}`);
      }
      i = j + 1;
    } else if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError('template: unterminated raw quoted string');
      out.push({ t: 'str', v: src.slice(i + 1, j) });
      i = j + 1;
    } else if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(src.slice(i));
      if (!m) throw new TemplateError(`template: unexpected "${c}" in command`);
      out.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (c === '|') {
      out.push({ t: 'pipe' });
      i++;
    } else if (c === '(') {
      out.push({ t: 'lparen' });
      i++;
    } else if (c === ')') {
      i++;
      out.push({ t: 'rparen', names: fieldChain() });
    } else if (c === ',') {
      out.push({ t: 'comma' });
      i++;
    } else if (src.startsWith(':=', i)) {
      out.push({ t: 'declare' });
      i += 2;
    } else if (c === '=') {
      out.push({ t: 'assign' });
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      out.push({ t: 'ident', v: m[0] });
      i += m[0].length;
    } else {
      throw new TemplateError(`template: unexpected "${c}" in command`);
    }
  }
  return out;
}

interface RawPiece {
  text?: string;
  action?: string;
}

function split(src: string): RawPiece[] {
  const pieces: RawPiece[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      pieces.push({ text: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let start = open + 2;
    if (src.startsWith('- ', start) || src.startsWith('-\t', start) || src.startsWith('-\n', start)) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    pieces.push({ text });
    const close = src.indexOf('}}', start);
    if (close < 0) throw new TemplateError('template: unclosed action');
    let end = close;
    let trimAfter = false;
    if (/\s-$/.test(src.slice(start, close))) {
      end = close - 1;
      trimAfter = true;
    }
    const action = src.slice(start, end).trim();
    pieces.push({ action });
    i = close + 2;
    if (trimAfter) while (i < src.length && /\s/.test(src[i]!)) i++;
  }
  return pieces.filter((p) => p.action !== undefined || (p.text ?? '') !== '');
}

// ---------- parsing ----------

class Parser {
  private pos = 0;
  constructor(private readonly pieces: RawPiece[]) {}

  parse(): Node[] {
    const { nodes, end } = this.list();
    if (end !== undefined) throw new TemplateError(`template: unexpected {{${end}}}`);
    return nodes;
  }

  /** Parses nodes until {{end}} / {{else...}}; returns which one stopped it. */
  private list(): { nodes: Node[]; end?: string } {
    const nodes: Node[] = [];
    while (this.pos < this.pieces.length) {
      const p = this.pieces[this.pos++]!;
      if (p.text !== undefined) {
        nodes.push({ k: 'text', v: p.text });
        continue;
      }
      const a = p.action!;
      if (a.startsWith('/*')) continue;
      const word = /^[a-z]+/.exec(a)?.[0] ?? '';
      if (word === 'end' && a === 'end') return { nodes, end: 'end' };
      if (word === 'else') return { nodes, end: a };
      if (word === 'if' || word === 'with' || word === 'range') {
        nodes.push(this.block(word, a.slice(word.length)));
        continue;
      }
      nodes.push({ k: 'action', pipe: parsePipeline(lexAction(a)) });
    }
    return { nodes };
  }

  private block(kind: 'if' | 'with' | 'range', rest: string): Node {
    const pipe = parsePipeline(lexAction(rest));
    const body = this.list();
    if (body.end === undefined) throw new TemplateError(`template: unexpected EOF in ${kind}`);
    let alt: Node[] = [];
    if (body.end !== 'end') {
      const elseRest = body.end.slice('else'.length).trim();
      if (elseRest === '') {
        const tail = this.list();
        if (tail.end !== 'end') throw new TemplateError(`template: expected end; found ${tail.end ?? 'EOF'}`);
        alt = tail.nodes;
      } else {
        // `else if X` / `else with X` chain: one nested block sharing our {{end}}.
        const w = /^(if|with)\b/.exec(elseRest);
        if (!w) throw new TemplateError(`template: unexpected {{${body.end}}}`);
        alt = [this.block(w[1] as 'if' | 'with', elseRest.slice(w[1]!.length))];
      }
    }
    return { k: kind, pipe, body: body.nodes, alt };
  }
}

function parsePipeline(tokens: Token[]): Pipeline {
  let pos = 0;
  const pipe: Pipeline = { decl: [], assign: false, cmds: [] };
  // Declarations: $x := ... or $k, $v := ...
  const declEnd = tokens.findIndex((t) => t.t === 'declare' || t.t === 'assign');
  if (declEnd > 0 && tokens.slice(0, declEnd).every((t) => t.t === 'var' || t.t === 'comma')) {
    pipe.decl = tokens.slice(0, declEnd).flatMap((t) => (t.t === 'var' ? [t.name] : []));
    pipe.assign = tokens[declEnd]!.t === 'assign';
    pos = declEnd + 1;
  }
  const parseCommand = (stopAtParen: boolean): Command => {
    const cmd: Command = { args: [] };
    while (pos < tokens.length) {
      const t = tokens[pos]!;
      if (t.t === 'pipe' || (t.t === 'rparen' && stopAtParen)) break;
      pos++;
      switch (t.t) {
        case 'field':
          cmd.args.push({ k: 'field', names: t.names, args: [] });
          break;
        case 'var':
          cmd.args.push({ k: 'var', name: t.name, names: t.names, args: [] });
          break;
        case 'str':
        case 'num':
          cmd.args.push({ k: 'lit', v: t.v });
          break;
        case 'ident':
          if (t.v === 'true' || t.v === 'false') cmd.args.push({ k: 'lit', v: t.v === 'true' });
          else if (t.v === 'nil') cmd.args.push({ k: 'lit', v: null });
          else if (cmd.args.length === 0 && cmd.fn === undefined) cmd.fn = t.v;
          else cmd.args.push({ k: 'fn', name: t.v });
          break;
        case 'lparen': {
          const sub = parseSub();
          cmd.args.push(sub);
          break;
        }
        default:
          throw new TemplateError(`template: unexpected token in command`);
      }
    }
    if (cmd.fn === undefined && cmd.args.length === 0) throw new TemplateError('template: missing value for command');
    return cmd;
  };
  const parseSub = (): Operand => {
    const inner: Pipeline = { decl: [], assign: false, cmds: [] };
    for (;;) {
      inner.cmds.push(parseCommand(true));
      const t = tokens[pos];
      if (t?.t === 'pipe') {
        pos++;
        continue;
      }
      if (t?.t === 'rparen') {
        pos++;
        return { k: 'sub', pipe: inner, names: t.names };
      }
      throw new TemplateError('template: unclosed left paren');
    }
  };
  for (;;) {
    pipe.cmds.push(parseCommand(false));
    if (pos >= tokens.length) break;
    if (tokens[pos]!.t === 'pipe') pos++;
    else throw new TemplateError('template: unexpected token in pipeline');
  }
  return pipe;
}

// ---------- values ----------

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/** Go's notion of truth: zero values and empty collections are false. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (isObject(v)) return Object.keys(v).length > 0 || Object.getPrototypeOf(v) !== Object.prototype;
  return true;
}

/** Formats a value as Go's fmt %v would. */
export function goString(v: unknown, top = true): string {
  if (v === undefined) return top ? '<no value>' : '<nil>';
  if (v === null) return top ? '<no value>' : '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => goString(x, false)).join(' ')}]`;
  if (isObject(v)) {
    const keys = Object.keys(v).sort();
    return `map[${keys.map((k) => `${k}:${goString(v[k], false)}`).join(' ')}]`;
  }
  return typeof v === 'function' ? '<func>' : typeof v === 'symbol' ? v.toString() : '<value>';
}

function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Go's fmt.Sprintf for the verbs people use in templates. */
export function sprintf(format: string, ...args: unknown[]): string {
  let n = 0;
  return format.replace(/%([-+ 0#]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g, (whole, flags: string, width?: string, prec?: string, verb?: string) => {
    if (verb === '%') return '%';
    if (n >= args.length) return `%!${verb}(MISSING)`;
    const a = args[n++];
    let s: string;
    switch (verb) {
      case 'v':
      case 's':
        s = goString(a, false);
        if (prec !== undefined && verb === 's') s = s.slice(0, Number(prec));
        break;
      case 'q':
        s = goQuote(goString(a, false));
        break;
      case 'd':
        s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${typeof a}=${goString(a, false)})`;
        break;
      case 'f':
        s = typeof a === 'number' ? a.toFixed(prec === undefined ? 6 : Number(prec)) : `%!f(${typeof a}=${goString(a, false)})`;
        break;
      case 'x':
        s = typeof a === 'number' ? Math.trunc(a).toString(16) : Buffer.from(goString(a, false)).toString('hex');
        break;
      case 't':
        s = String(Boolean(a));
        break;
      default:
        return whole;
    }
    if (width !== undefined && s.length < Number(width)) {
      const padding = (flags.includes('0') && !flags.includes('-') ? '0' : ' ').repeat(Number(width) - s.length);
      s = flags.includes('-') ? s + ' '.repeat(padding.length) : padding + s;
    }
    return s;
  });
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError('template: incompatible types for comparison');
}

type Fn = (...args: unknown[]) => unknown;

const FUNCS: Record<string, Fn> = {
  // docker's additions (cli/templates)
  json: (v) => (v === undefined ? 'null' : JSON.stringify(v)),
  split: (s, sep) => goString(s).split(goString(sep)),
  join: (a, sep) => (Array.isArray(a) ? a.map((x) => goString(x, false)).join(goString(sep)) : goString(a)),
  title: (s) => goString(s).replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, p: string, c: string) => p + c.toUpperCase()),
  lower: (s) => goString(s).toLowerCase(),
  upper: (s) => goString(s).toUpperCase(),
  pad: (s, l, r) => ' '.repeat(Number(l)) + goString(s) + ' '.repeat(Number(r)),
  truncate: (s, n) => {
    const str = goString(s);
    return str.length > Number(n) ? str.slice(0, Number(n)) : str;
  },
  // Go builtins
  print: (...a) => a.map((x) => goString(x, false)).join(''),
  println: (...a) => `${a.map((x) => goString(x, false)).join(' ')}\n`,
  printf: (f, ...a) => sprintf(goString(f), ...a),
  len: (v) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (isObject(v)) return Object.keys(v).length;
    throw new TemplateError(`template: error calling len: len of type ${typeof v}`);
  },
  index: (v, ...keys) => {
    let cur = v;
    for (const k of keys) {
      if (cur === undefined || cur === null) return undefined;
      if (Array.isArray(cur)) {
        if (typeof k !== 'number' || k < 0 || k >= cur.length) {
          throw new TemplateError(`template: error calling index: index out of range: ${goString(k)}`);
        }
        cur = cur[k];
      } else if (isObject(cur)) cur = cur[goString(k)];
      else throw new TemplateError(`template: error calling index: can't index item of type ${typeof cur}`);
    }
    return cur;
  },
  not: (v) => !truthy(v),
  and: (...a) => a.find((x) => !truthy(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truthy(x)) ?? a[a.length - 1],
  eq: (a, ...bs) => bs.some((b) => a === b || (a == null && b == null)),
  ne: (a, b) => a !== b,
  lt: (a, b) => compare(a, b) < 0,
  le: (a, b) => compare(a, b) <= 0,
  gt: (a, b) => compare(a, b) > 0,
  ge: (a, b) => compare(a, b) >= 0,
};

// ---------- execution ----------

class Scope {
  private readonly vars = new Map<string, unknown>();
  constructor(private readonly parent?: Scope) {}
  get(name: string): unknown {
    if (this.vars.has(name)) return this.vars.get(name);
    if (this.parent) return this.parent.get(name);
    throw new TemplateError(`template: undefined variable: ${name}`);
  }
  set(name: string, v: unknown): void {
    this.vars.set(name, v);
  }
  assign(name: string, v: unknown): void {
    if (this.vars.has(name) || !this.parent) this.vars.set(name, v);
    else this.parent.assign(name, v);
  }
}

function field(recv: unknown, name: string, args: unknown[], last: boolean): unknown {
  if (recv === undefined || recv === null) return undefined;
  if (!isObject(recv)) throw new TemplateError(`template: can't evaluate field ${name} in type ${typeof recv}`);
  const v = recv[name];
  if (typeof v === 'function') return (v as Fn).apply(recv, last ? args : []);
  if (last && args.length > 0) throw new TemplateError(`template: ${name} has arguments but cannot be invoked as function`);
  return v;
}

function chain(recv: unknown, names: string[], args: unknown[]): unknown {
  let cur = recv;
  names.forEach((n, i) => {
    cur = field(cur, n, args, i === names.length - 1);
  });
  return cur;
}

class Exec {
  constructor(private readonly out: string[]) {}

  evalArg(a: Arg, dot: unknown, scope: Scope): unknown {
    switch (a.k) {
      case 'lit':
        return a.v;
      case 'field':
        return chain(dot, a.names, []);
      case 'var':
        return chain(scope.get(a.name), a.names, []);
      case 'sub':
        return chain(this.pipeline(a.pipe, dot, scope), a.names, []);
      case 'fn':
        return this.call(a.name, [], dot, scope);
    }
  }

  call(name: string, args: unknown[], _dot: unknown, _scope: Scope): unknown {
    const fn = FUNCS[name];
    if (!fn) throw new TemplateError(`template: function "${name}" not defined`);
    return fn(...args);
  }

  command(cmd: Command, dot: unknown, scope: Scope, piped: unknown[]): unknown {
    if (cmd.fn !== undefined) {
      const args = cmd.args.map((a) => this.evalArg(a, dot, scope));
      return this.call(cmd.fn, [...args, ...piped], dot, scope);
    }
    const [head, ...rest] = cmd.args;
    if (head === undefined) return undefined;
    if ((head.k === 'field' || head.k === 'var') && head.names.length > 0 && (rest.length > 0 || piped.length > 0)) {
      // A method call: .Label "k"
      const args = [...rest.map((a) => this.evalArg(a, dot, scope)), ...piped];
      const base = head.k === 'var' ? scope.get(head.name) : dot;
      return chain(base, head.names, args);
    }
    if (rest.length > 0 || piped.length > 0) throw new TemplateError(`template: can't give argument to non-function`);
    return this.evalArg(head, dot, scope);
  }

  pipeline(pipe: Pipeline, dot: unknown, scope: Scope): unknown {
    let value: unknown;
    pipe.cmds.forEach((cmd, i) => {
      value = this.command(cmd, dot, scope, i === 0 ? [] : [value]);
    });
    if (pipe.decl.length === 1) {
      if (pipe.assign) scope.assign(pipe.decl[0]!, value);
      else scope.set(pipe.decl[0]!, value);
    }
    return value;
  }

  walk(nodes: Node[], dot: unknown, scope: Scope): void {
    for (const n of nodes) {
      switch (n.k) {
        case 'text':
          this.out.push(n.v);
          break;
        case 'action': {
          const v = this.pipeline(n.pipe, dot, scope);
          if (n.pipe.decl.length === 0) this.out.push(goString(v));
          break;
        }
        case 'if': {
          const inner = new Scope(scope);
          if (truthy(this.pipeline(n.pipe, dot, inner))) this.walk(n.body, dot, inner);
          else this.walk(n.alt, dot, inner);
          break;
        }
        case 'with': {
          const inner = new Scope(scope);
          const v = this.pipeline(n.pipe, dot, inner);
          if (truthy(v)) this.walk(n.body, v, inner);
          else this.walk(n.alt, dot, inner);
          break;
        }
        case 'range':
          this.range(n, dot, scope);
          break;
      }
    }
  }

  private range(n: Extract<Node, { k: 'range' }>, dot: unknown, scope: Scope): void {
    const decl = n.pipe.decl;
    const v = this.pipeline({ ...n.pipe, decl: [] }, dot, scope);
    let entries: [unknown, unknown][] = [];
    if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
    else if (isObject(v)) entries = Object.keys(v).sort().map((k) => [k, v[k]]);
    else if (typeof v === 'number') entries = Array.from({ length: v }, (_, i) => [i, i]);
    else if (v !== undefined && v !== null) throw new TemplateError(`template: range can't iterate over ${goString(v)}`);
    if (entries.length === 0) {
      this.walk(n.alt, dot, new Scope(scope));
      return;
    }
    for (const [k, x] of entries) {
      const inner = new Scope(scope);
      if (decl.length === 1) inner.set(decl[0]!, x);
      if (decl.length === 2) {
        inner.set(decl[0]!, k);
        inner.set(decl[1]!, x);
      }
      this.walk(n.body, x, inner);
    }
  }
}

/** A parsed template; `execute` may be called many times. */
export interface Template {
  execute(data: unknown): string;
}

/**
 * Parses a Go template. Throws TemplateError (message: `template: ...`) on a syntax error.
 */
export function parseTemplate(src: string): Template {
  const nodes = new Parser(split(src)).parse();
  return {
    execute(data: unknown): string {
      const out: string[] = [];
      const scope = new Scope();
      scope.set('$', data);
      new Exec(out).walk(nodes, data, scope);
      return out.join('');
    },
  };
}
