import test from 'ava';
import { renderList } from './list.js';
import { tabulate } from './tabwriter.js';

test('columns are padded by 3 spaces to the widest cell, the last column is not padded', (t) => {
  t.is(
    tabulate(['CONTAINER ID\tIMAGE\tNAMES', 'abc\tbusybox:latest\tweb']),
    'CONTAINER ID   IMAGE            NAMES\n' + 'abc            busybox:latest   web\n',
  );
});

test('narrow columns are at least 10 wide, like docker', (t) => {
  t.is(tabulate(['A\tB', 'x\ty']), 'A         B\nx         y\n');
});

test('table formats get a header row built from the field names', (t) => {
  const rows = [
    { ID: '1', Image: 'busybox' },
    { ID: '22', Image: 'alpine' },
  ];
  const out = renderList(rows, { format: 'table {{.ID}}\\t{{.Image}}', defaultFormat: '', headers: { ID: 'CONTAINER ID', Image: 'IMAGE' } });
  t.is(out, 'CONTAINER ID   IMAGE\n1              busybox\n22             alpine\n');
});

test('plain formats print one line per row without a header', (t) => {
  const out = renderList([{ ID: '1' }, { ID: '2' }], { format: '{{.ID}}', defaultFormat: 'table {{.ID}}', headers: { ID: 'X' } });
  t.is(out, '1\n2\n');
});

test('-q uses the quiet format unless --format is given; "json" means {{json .}}', (t) => {
  const opts = { defaultFormat: 'table {{.ID}}\t{{.N}}', headers: {}, quiet: true, quietFormat: '{{.ID}}' };
  t.is(renderList([{ ID: 'a', N: 1 }], { ...opts, format: '' }), 'a\n');
  t.is(renderList([{ ID: 'a', N: 1 }], { ...opts, format: 'json' }), '{"ID":"a","N":1}\n');
});
