import test from 'ava';
import { goString, parseTemplate, sprintf, TemplateError } from './go-template.js';

const run = (tmpl: string, data: unknown): string => parseTemplate(tmpl).execute(data);

const container = {
  ID: 'abc123',
  Names: 'web',
  Args: ['-c', 'echo hi'],
  Config: { Image: 'busybox', Labels: { 'com.example.k': 'v1', other: 'x' }, Env: ['A=1'] },
  State: { Status: 'running', Pid: 4242, Running: true, ExitCode: 0 },
  Mounts: [
    { Source: '/a', Destination: '/x' },
    { Source: '/b', Destination: '/y' },
  ],
  Labels: { k: 'v' },
  Empty: '',
};

test('fields and nested fields print their values', (t) => {
  t.is(run('{{.ID}}', container), 'abc123');
  t.is(run('{{.State.Status}} {{.State.Pid}}', container), 'running 4242');
  t.is(run('id={{ .ID }}!', container), 'id=abc123!');
});

test('a missing field prints <no value>, like Go on a map', (t) => {
  t.is(run('{{.Nope}}', container), '<no value>');
  t.is(run('{{.State.Nope}}', container), '<no value>');
});

test('json prints compact JSON of the value or of dot', (t) => {
  t.is(run('{{json .Config.Labels}}', container), '{"com.example.k":"v1","other":"x"}');
  t.is(run('{{json .State}}', container), '{"Status":"running","Pid":4242,"Running":true,"ExitCode":0}');
  t.is(run('{{json .Empty}}', container), '""');
  t.is(run('{{.State | json}}', container), run('{{json .State}}', container));
});

test('index looks up map keys and slice positions', (t) => {
  t.is(run('{{index .Config.Labels "com.example.k"}}', container), 'v1');
  t.is(run('{{index .Args 1}}', container), 'echo hi');
  t.is(run('{{index .Config.Labels "missing"}}', container), '<no value>');
});

test('a method on the data is called with its arguments (.Label "k")', (t) => {
  const row = { Label: (k: string) => (k === 'a' ? 'b' : '') };
  t.is(run('{{.Label "a"}}', row), 'b');
});

test('range iterates slices, maps in key order, and takes else', (t) => {
  t.is(run('{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}', container), '/a:/x /b:/y ');
  t.is(run('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}', container), 'com.example.k=v1;other=x;');
  t.is(run('{{range $i, $m := .Mounts}}{{$i}}{{end}}', container), '01');
  t.is(run('{{range .Nope}}x{{else}}none{{end}}', container), 'none');
  t.is(run('{{range .Mounts}}{{$.ID}}{{end}}', container), 'abc123abc123');
});

test('if / else if / else pick by Go truthiness', (t) => {
  t.is(run('{{if .State.Running}}up{{else}}down{{end}}', container), 'up');
  t.is(run('{{if .Empty}}a{{else if .ID}}b{{else}}c{{end}}', container), 'b');
  t.is(run('{{if .Args}}has{{end}}', container), 'has');
  t.is(run('{{if not .State.Running}}x{{else}}y{{end}}', container), 'y');
  t.is(run('{{if eq .State.Status "running"}}R{{end}}', container), 'R');
  t.is(run('{{if and .ID (eq .State.ExitCode 0)}}ok{{end}}', container), 'ok');
  t.is(run('{{if or .Empty .Nope}}x{{else}}neither{{end}}', container), 'neither');
});

test('with rebinds dot', (t) => {
  t.is(run('{{with .State}}{{.Status}}{{end}}', container), 'running');
  t.is(run('{{with .Empty}}x{{else}}empty{{end}}', container), 'empty');
});

test('printf, upper, lower, join, split, title, len, truncate, pad', (t) => {
  t.is(run('{{printf "%s-%d" .ID .State.Pid}}', container), 'abc123-4242');
  t.is(run('{{printf "%q" .ID}}', container), '"abc123"');
  t.is(run('{{printf "%-8s|" .ID}}', container), 'abc123  |');
  t.is(run('{{upper .Names}}', container), 'WEB');
  t.is(run('{{.Names | upper}}', container), 'WEB');
  t.is(run('{{lower "ABC"}}', container), 'abc');
  t.is(run('{{join .Args ","}}', container), '-c,echo hi');
  t.is(run('{{index (split "a:b" ":") 1}}', container), 'b');
  t.is(run('{{title "hello world"}}', container), 'Hello World');
  t.is(run('{{len .Mounts}}', container), '2');
  t.is(run('{{truncate .ID 3}}', container), 'abc');
  t.is(run('{{pad .ID 1 2}}|', container), ' abc123  |');
});

test('variables and trim markers', (t) => {
  t.is(run('{{$n := .Names}}{{$n}}', container), 'web');
  t.is(run('a  {{- .ID -}}  b', container), 'aabc123b');
});

test('slices and maps print like Go', (t) => {
  t.is(run('{{.Args}}', container), '[-c echo hi]');
  t.is(run('{{.Labels}}', container), 'map[k:v]');
  t.is(goString(null), '<no value>');
  t.is(sprintf('%v %s', [1, 2], true), '[1 2] true');
});

test('syntax errors are TemplateErrors naming the problem', (t) => {
  t.throws(() => parseTemplate('{{.ID'), { instanceOf: TemplateError, message: /unclosed action/ });
  t.throws(() => parseTemplate('{{if .ID}}x'), { instanceOf: TemplateError, message: /unexpected EOF/ });
  t.throws(() => parseTemplate('{{end}}'), { instanceOf: TemplateError });
  t.throws(() => run('{{nosuch .ID}}', container), { instanceOf: TemplateError, message: /function "nosuch" not defined/ });
});
