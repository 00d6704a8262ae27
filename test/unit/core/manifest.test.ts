import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CapstanError } from '../../../src/core/errors.ts';
import { findDuplicates, parseManifests, type ParseLimits } from '../../../src/core/manifest.ts';

const LIMITS: ParseLimits = { maxAliases: 100, maxObjects: 1000, maxBytes: 1024 * 1024 };
const FILE = 'apps/web/deploy.yaml';

/** `kind name@line` for each parsed object: compact enough for a table. */
function summary(text: string, limits: ParseLimits = LIMITS): string[] {
  return parseManifests(text, FILE, limits).map(
    ({ object, source }) =>
      `${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name ?? ''}@${source.file}:${source.line}`,
  );
}

function cm(name: string, extra = ''): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${extra}`;
}

/** The error parseManifests throws for text, checked against code and a pattern on the message. */
function rejects(text: string, code: string, message: RegExp, limits: ParseLimits = LIMITS): CapstanError {
  let caught: unknown;
  try {
    parseManifests(text, FILE, limits);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CapstanError, `expected a CapstanError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  return caught;
}

describe('parseManifests: what is accepted', () => {
  const cases: { name: string; text: string; expected: string[] }[] = [
    {
      name: 'multi-document YAML, skipping empty and null documents, lines of each object',
      text: `# leading comment\n${cm('a')}---\n---\n# only a comment\n---\nnull\n---\n${cm('b')}...\n---\n\n${cm('c')}`,
      expected: [`ConfigMap a@${FILE}:2`, `ConfigMap b@${FILE}:12`, `ConfigMap c@${FILE}:19`],
    },
    {
      name: 'JSON (which is YAML)',
      text: '{\n  "apiVersion": "apps/v1",\n  "kind": "Deployment",\n  "metadata": {"name": "api", "namespace": "web"}\n}\n',
      expected: [`Deployment web/api@${FILE}:1`],
    },
    {
      name: 'a v1 List is expanded into its items, each with its own line',
      text: `apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: one}\n  - apiVersion: v1\n    kind: Secret\n    metadata: {name: two, namespace: ns}\n`,
      expected: [`ConfigMap one@${FILE}:4`, `Secret ns/two@${FILE}:7`],
    },
    { name: 'an empty List gives nothing', text: 'apiVersion: v1\nkind: List\nitems: []\n', expected: [] },
    { name: 'an empty file gives nothing', text: '', expected: [] },
    { name: 'comments only give nothing', text: '# nothing here\n---\n# nor here\n', expected: [] },
    {
      name: 'RBAC names may contain colons (the API server checks them as path segments)',
      text: 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: system:aggregate-to-view\n',
      expected: [`ClusterRole system:aggregate-to-view@${FILE}:1`],
    },
  ];
  for (const { name, text, expected } of cases) {
    it(name, () => {
      assert.deepEqual(summary(text), expected);
    });
  }

  it('reads YAML the way kubectl does: 0644 is octal, yes is true, timestamps stay strings, << merges', () => {
    const [parsed] = parseManifests(
      cm(
        'modes',
        'data:\n  when: 2024-01-02T03:04:05Z\n  time: 1:30\nspec:\n  mode: 0644\n  enabled: yes\n  base: &b {replicas: 2}\n  merged:\n    <<: *b\n    extra: true\n',
      ),
      FILE,
      LIMITS,
    );
    assert.ok(parsed);
    assert.deepEqual(parsed.object['data'], { when: '2024-01-02T03:04:05Z', time: '1:30' });
    assert.deepEqual(parsed.object['spec'], {
      mode: 420,
      enabled: true,
      base: { replicas: 2 },
      merged: { replicas: 2, extra: true },
    });
  });

  it('gives separate copies for an alias used twice, so that changing one never changes the other', () => {
    const [parsed] = parseManifests(cm('a', 'spec:\n  first: &v {k: "1"}\n  second: *v\n'), FILE, LIMITS);
    const spec = parsed?.object['spec'] as { first: object; second: object };
    assert.deepEqual(spec.first, { k: '1' });
    assert.deepEqual(spec.first, spec.second);
    assert.notEqual(spec.first, spec.second);
  });
});

describe('parseManifests: what is refused, with file:line:column', () => {
  const billionLaughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let level = 1; level < 9; level += 1) {
    const previous = String.fromCharCode(96 + level);
    const current = String.fromCharCode(97 + level);
    billionLaughs.push(
      `${current}: &${current} [${Array.from({ length: 9 }, () => `*${previous}`).join(', ')}]`,
    );
  }
  const manyAliases = `${cm('many', 'data:\n  v: &v "x"\n  list:\n')}${Array.from({ length: 101 }, () => '    - *v').join('\n')}\n`;

  const cases: { name: string; text: string; code: string; message: RegExp; limits?: ParseLimits }[] = [
    {
      name: 'malformed YAML: the exact file, line and column (no excerpt: it could quote a Secret)',
      text: `${cm('ok')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [broken\n  namespace: x\n`,
      code: 'RENDER_PARSE',
      message:
        /^apps\/web\/deploy\.yaml:10:3: Flow sequence in block collection must be sufficiently indented and end with a \]$/,
    },
    {
      name: 'a bad indentation',
      text: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n   namespace: b\n',
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:4:9: Nested mappings are not allowed/,
    },
    {
      name: 'duplicate keys',
      text: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n',
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:5:3: Map keys must be unique/,
    },
    {
      name: 'an alias bomb (billion laughs) is refused without expanding it',
      text: `${cm('bomb')}data:\n${billionLaughs.map((line) => `  ${line}`).join('\n')}\n`,
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:1:1: aliases that expand too much .*alias bomb, "billion laughs"/,
    },
    {
      name: 'more aliases than allowed, at the first one over the limit',
      text: manyAliases,
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:108:7: more than 100 YAML aliases in one document/,
    },
    {
      name: 'a few aliases of a large anchor, which would multiply memory',
      text: `${cm('wide', 'data:\n  big: &big [')}${Array.from({ length: 20_000 }, (_, i) => i).join(',')}]\n  copies: [${Array.from({ length: 60 }, () => '*big').join(', ')}]\n`,
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:1:1: aliases that expand to more than 1000000 values/,
    },
    {
      name: 'a namespace that YAML 1.1 reads as a boolean, with a hint to quote it',
      text: cm('a', '  namespace: no\n'),
      code: 'RENDER_PARSE',
      message:
        /^apps\/web\/deploy\.yaml:5:14: ConfigMap\/a: metadata\.namespace must be a string, not a boolean \(false\); quote it: "no"/,
    },
    {
      name: 'missing kind',
      text: 'apiVersion: v1\nmetadata:\n  name: a\n',
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:1:1: kind is missing/,
    },
    {
      name: 'kind that is not a string',
      text: 'apiVersion: v1\nkind: [a]\nmetadata:\n  name: a\n',
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:2:7: kind is missing or not a string/,
    },
    {
      name: 'missing apiVersion, in the second document',
      text: `${cm('a')}---\nkind: ConfigMap\nmetadata:\n  name: b\n`,
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:6:1: apiVersion is missing/,
    },
    {
      name: 'missing metadata.name',
      text: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: web\n',
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:4:3: ConfigMap: metadata\.name is missing/,
    },
    {
      name: 'generateName on an object that is not a hook, which GitOps cannot track',
      text: 'apiVersion: batch/v1\nkind: Job\nmetadata:\n  namespace: web\n  generateName: migrate-\n',
      code: 'RENDER_PARSE',
      message:
        /^apps\/web\/deploy\.yaml:5:17: Job\/web\/migrate-\*: metadata\.generateName works only on hooks \(annotated argocd\.argoproj\.io\/hook, capstan\.dev\/hook or helm\.sh\/hook\): any other object needs a stable name/,
    },
    {
      name: 'generateName on a hook that is no name prefix',
      text: 'apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: Migrate_\n  annotations: { argocd.argoproj.io/hook: PreSync }\n',
      code: 'RENDER_PARSE',
      message: /Job\/Migrate_\*: metadata\.generateName must be a name prefix/,
    },
    {
      name: 'an invalid name, with Kind/namespace/name',
      text: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Web_Config\n  namespace: web\n',
      code: 'RENDER_PARSE',
      message:
        /^apps\/web\/deploy\.yaml:4:9: ConfigMap\/web\/Web_Config: metadata\.name "Web_Config" is not a valid name/,
    },
    {
      name: 'a name with a slash, even for RBAC',
      text: 'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: a/b\n',
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:4:9: Role\/a\/b: metadata\.name "a\/b" may not .* contain '\/'/,
    },
    {
      name: 'an invalid namespace',
      text: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: Web.Apps\n',
      code: 'RENDER_PARSE',
      message:
        /^apps\/web\/deploy\.yaml:5:14: ConfigMap\/Web\.Apps\/a: metadata\.namespace "Web\.Apps" is not a valid namespace/,
    },
    {
      name: 'a label value that YAML reads as a number',
      text: cm('a', '  labels:\n    version: 1.10\n'),
      code: 'RENDER_PARSE',
      message:
        /^apps\/web\/deploy\.yaml:6:14: ConfigMap\/a: metadata\.labels\.version must be a string, not a number \(1\.1\); quote it: "1\.10"/,
    },
    {
      name: 'a document that is not a mapping',
      text: '- apiVersion: v1\n',
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:1:1: a document must be a Kubernetes object .* not a list/,
    },
    {
      name: 'an invalid item of a List, at the item',
      text: `apiVersion: v1\nkind: List\nitems:\n  - ${cm('ok').replaceAll('\n', '\n    ').trimEnd()}\n  - apiVersion: v1\n    metadata: {name: b}\n`,
      code: 'RENDER_PARSE',
      message: /^apps\/web\/deploy\.yaml:8:5: kind is missing/,
    },
    {
      name: 'text over the byte limit is refused before parsing (even when it is not YAML)',
      text: `${'x'.repeat(2000)}: [unclosed`,
      code: 'RENDER_TOO_LARGE',
      message: /^apps\/web\/deploy\.yaml: 2011 bytes is more than the limit of 1000 bytes/,
      limits: { ...LIMITS, maxBytes: 1000 },
    },
    {
      name: 'more objects than allowed',
      text: [cm('a'), cm('b'), cm('c')].join('---\n'),
      code: 'RENDER_TOO_MANY_OBJECTS',
      message: /^apps\/web\/deploy\.yaml:11:1: more than 2 objects/,
      limits: { ...LIMITS, maxObjects: 2 },
    },
  ];
  for (const { name, text, code, message, limits } of cases) {
    it(name, () => {
      rejects(text, code, message, limits);
    });
  }

  it('never quotes the text around a syntax error, which may be a Secret', () => {
    const error = rejects(
      'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: "hunter2\n',
      'RENDER_PARSE',
      /^apps\/web\/deploy\.yaml:7:1: Missing closing "quote$/,
    );
    assert.doesNotMatch(error.message, /hunter2/);
  });

  it('names the object in the error subject when it is known', () => {
    const error = rejects(
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: web\n  labels: [x]\n',
      'RENDER_PARSE',
      /labels must be a mapping/,
    );
    assert.equal(error.subject, 'ConfigMap/web/a');
    assert.equal(error.retryable, false);
  });
});

describe('findDuplicates', () => {
  it('reports the same group, kind, namespace and name twice with both locations', () => {
    const objects = [
      ...parseManifests(`${cm('a')}---\n${cm('b')}`, 'one.yaml', LIMITS),
      ...parseManifests(cm('a'), 'two.yaml', LIMITS),
      // Same name, other namespace, other kind or other group: all distinct.
      ...parseManifests(cm('a', '  namespace: other\n'), 'three.yaml', LIMITS),
      ...parseManifests('apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n', 'four.yaml', LIMITS),
      ...parseManifests(
        'apiVersion: example.com/v1\nkind: ConfigMap\nmetadata: {name: a}\n',
        'five.yaml',
        LIMITS,
      ),
    ];
    const duplicates = findDuplicates(objects);
    assert.equal(duplicates.length, 1);
    const [duplicate] = duplicates;
    assert.ok(duplicate);
    assert.deepEqual(duplicate.id, { group: '', kind: 'ConfigMap', namespace: '', name: 'a' });
    assert.deepEqual(duplicate.sources, [
      { file: 'one.yaml', line: 1 },
      { file: 'two.yaml', line: 1 },
    ]);
    assert.equal(duplicate.message, 'ConfigMap/a is defined 2 times: one.yaml:1, two.yaml:1');
  });

  it('treats apiVersions of one group as the same resource', () => {
    const objects = parseManifests(
      'apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: hpa, namespace: web}\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: hpa, namespace: web}\n',
      FILE,
      LIMITS,
    );
    assert.deepEqual(
      findDuplicates(objects).map((d) => d.message),
      [`HorizontalPodAutoscaler/web/hpa is defined 2 times: ${FILE}:1, ${FILE}:5`],
    );
  });

  it('finds nothing in distinct objects', () => {
    assert.deepEqual(findDuplicates(parseManifests(`${cm('a')}---\n${cm('b')}`, FILE, LIMITS)), []);
  });
});
