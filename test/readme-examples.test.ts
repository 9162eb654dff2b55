/**
 * The README's TypeScript examples compile against the public entry points
 * (`resumable-transfer/server`, `/client`, `/protocol`), so an export they use cannot go missing
 * unnoticed. Each ```ts block follows a `<!-- example: node|browser|server -->` marker that says
 * which conditions it is written for; its free names (a page's input element…) are declared in the
 * marker's prelude below.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, it } from 'node:test';

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'test-artifacts', 'readme-examples');
after(() => rmSync(dir, { recursive: true, force: true }));

const preludes: Record<string, string> = {
  node: '',
  server: '',
  browser: [
    'declare const fileInput: { files: [File] };',
    'declare const pauseController: AbortController;',
    'declare function render(p: unknown): void;',
    'declare const onProgress: undefined;',
  ].join('\n'),
};

function examples(): { kind: string; code: string }[] {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  return [...text.matchAll(/<!-- example: (\w+) -->\s*```ts\n([\s\S]*?)```/g)].map((m) => ({
    kind: m[1] ?? '',
    code: m[2] ?? '',
  }));
}

it('every TypeScript example of the README compiles against the package entry points', () => {
  const found = examples();
  assert.ok(found.length >= 3, `expected the node, browser and server examples, found ${found.length}`);
  const total = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```ts\n/g)].length;
  assert.equal(found.length, total, 'every ```ts block of the README needs an <!-- example: … --> marker');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  found.forEach(({ kind, code }, i) => {
    assert.ok(kind in preludes, `unknown example kind ${kind}`);
    const file = `example-${i}-${kind}.ts`;
    // Each example is a module of its own (top-level await, no clashes between examples).
    writeFileSync(join(dir, file), `${preludes[kind]}\n${code}\nexport {};\n`);
    files.push(file);
  });
  const client = (kind: string) => `src/client/${kind === 'browser' ? 'browser' : 'node'}/index.ts`;
  // One compilation per kind: the client entry differs by export condition.
  for (const kind of new Set(found.map((f) => f.kind))) {
    const tsconfig = {
      extends: '../../tsconfig.json',
      compilerOptions: {
        noEmit: true,
        rootDir: '../..',
        baseUrl: '../..',
        paths: {
          'resumable-transfer/server': ['src/server/index.ts'],
          'resumable-transfer/protocol': ['src/protocol/index.ts'],
          'resumable-transfer/client': [client(kind)],
        },
      },
      files: files.filter((f) => f.endsWith(`-${kind}.ts`)),
      include: [],
    };
    writeFileSync(join(dir, `tsconfig.${kind}.json`), JSON.stringify(tsconfig));
    const r = spawnSync(
      process.execPath,
      [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, `tsconfig.${kind}.json`)],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, `${kind} examples do not compile:\n${r.stdout}${r.stderr}`);
  }
});
