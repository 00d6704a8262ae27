// Every hint is true: the flags, Application fields and sync options that Capstan's messages suggest
// exist. The messages are collected from the sources (every string and template literal of src/ that
// reads as text, parsed with the TypeScript compiler, not grepped); each suggestion is checked against
// the CLI's help texts (every option of every command), the Application and Project CRDs' schemas and the
// server's request bodies that its messages name.
import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { AGENT_HELP } from '../../../src/cli/commands/agent.ts';
import { APP_HELP } from '../../../src/cli/commands/app.ts';
import { CLUSTER_HELP } from '../../../src/cli/commands/cluster.ts';
import { DEMO_HELP } from '../../../src/cli/commands/demo.ts';
import { DEV_CLUSTER_HELP } from '../../../src/cli/commands/dev-cluster.ts';
import { AUDIT_HELP } from '../../../src/cli/commands/audit.ts';
import { IMPORT_HELP } from '../../../src/cli/commands/import.ts';
import { DEV_GIT_SERVER_HELP } from '../../../src/cli/commands/dev-git-server.ts';
import { LOGIN_HELP } from '../../../src/cli/commands/login.ts';
import { PIPELINE_HELP } from '../../../src/cli/commands/pipeline.ts';
import { PROMOTION_HELP } from '../../../src/cli/commands/promotion.ts';
import { SERVER_HELP } from '../../../src/cli/commands/server.ts';
import { DIFF_HELP, RENDER_HELP, SYNC_HELP } from '../../../src/cli/commands/push.ts';
import { applicationCrd, SYNC_OPTIONS } from '../../../src/contracts/application.ts';
import { environmentCrd } from '../../../src/contracts/environment.ts';
import { notificationCrd } from '../../../src/contracts/notification.ts';
import { pipelineCrd } from '../../../src/contracts/pipeline.ts';
import { projectCrd } from '../../../src/contracts/project.ts';
import { RepositoryTestRequestSchema } from '../../../src/contracts/server-api.ts';
import { HONOURED_OBJECT_SYNC_OPTIONS } from '../../../src/core/argocd.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const HELPS = [
  AGENT_HELP,
  APP_HELP,
  CLUSTER_HELP,
  DEMO_HELP,
  DEV_CLUSTER_HELP,
  DEV_GIT_SERVER_HELP,
  RENDER_HELP,
  DIFF_HELP,
  SYNC_HELP,
  SERVER_HELP,
  PIPELINE_HELP,
  PROMOTION_HELP,
  LOGIN_HELP,
  AUDIT_HELP,
  IMPORT_HELP,
];

interface Message {
  readonly where: string;
  readonly text: string;
}

/** The text of every string and template literal in src/ (not the test support) that holds a space. */
function messages(): Message[] {
  const found: Message[] = [];
  for (const file of globSync('src/**/*.ts', { cwd: ROOT })) {
    if (file.startsWith(join('src', 'testing'))) continue;
    const path = join(ROOT, file);
    const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      let text: string | undefined;
      if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) text = node.text;
      else if (ts.isTemplateExpression(node))
        text = node.head.text + node.templateSpans.map((span) => `\u2026${span.literal.text}`).join('');
      if (text?.includes(' ') && !HELPS.includes(text)) {
        const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        found.push({ where: `${relative(ROOT, path)}:${line}`, text });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

/** Every `--option` the help texts of the commands list. */
function cliOptions(): Set<string> {
  return new Set(
    HELPS.flatMap((help) => [...help.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0])),
  );
}

interface SchemaNode {
  readonly properties?: Record<string, SchemaNode>;
  readonly items?: SchemaNode;
}

/**
 * Every field path of the Application, Project, Pipeline, Environment and Notification CRDs' schemas: `spec.source.insecureHttp`,
 * `spec.ignoreDifferences.kind`, `spec.allowAdoption` (a policy refusal names the Project's field).
 */
function crdPaths(): Set<string> {
  const paths = new Set<string>();
  for (const crd of [applicationCrd(), projectCrd(), pipelineCrd(), environmentCrd(), notificationCrd()])
    walkCrd(crd, paths);
  return paths;
}

function walkCrd(definition: unknown, paths: Set<string>): void {
  const crd = definition as { spec: { versions: { schema: { openAPIV3Schema: SchemaNode } }[] } };
  const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
  assert.ok(schema, 'the CRD has a schema');
  const walk = (node: SchemaNode, prefix: string): void => {
    const inner = node.items ?? node;
    for (const [name, child] of Object.entries(inner.properties ?? {})) {
      const path = prefix === '' ? name : `${prefix}.${name}`;
      paths.add(path);
      walk(child, path);
    }
  };
  walk(schema, '');
}

/** Programs whose own options a message may name (`kubectl apply --server-side`): not Capstan's. */
const OTHER_PROGRAMS = /\b(kubectl|helm|kustomize|git|go|npm|node|skopeo|buildctl)\b/;
/** Options named on purpose though Capstan has none such, each with the reason (file, option). */
const NOT_SUGGESTIONS: readonly { file: string; option: string; why: string }[] = [
  {
    file: 'src/cli/commands/push.ts',
    option: '--force-conflicts',
    why: 'the message says the option is gone',
  },
  {
    file: 'src/cli/commands/demo.ts',
    option: '--replicas',
    why: 'a kubectl command line (kubectl is a placeholder)',
  },
  {
    file: 'src/cli/commands/demo.ts',
    option: '--overwrite',
    why: 'a kubectl command line (kubectl is a placeholder)',
  },
];
const notSuggested = (where: string, option: string) =>
  NOT_SUGGESTIONS.some((n) => where.startsWith(`${n.file}:`) && n.option === option);

describe('every hint in a message is true', () => {
  const all = messages();
  const options = cliOptions();
  const paths = crdPaths();
  // A field of a CRD, or of a request body the server's messages speak of.
  const fieldNames = new Set([
    ...[...paths].map((p) => p.split('.').pop() ?? ''),
    ...Object.keys(RepositoryTestRequestSchema.properties),
  ]);

  it('finds the messages (a guard against a scan that reads nothing)', () => {
    assert.ok(all.length > 300, `${all.length} messages`);
    assert.ok(options.has('--insecure-http') && options.has('--adopt') && options.has('--replace'));
    assert.ok(paths.has('spec.source.insecureHttp') && paths.has('spec.syncPolicy.automated.selfHeal'));
  });

  it('each --option suggested is an option of the CLI', () => {
    const wrong: string[] = [];
    for (const { where, text } of all) {
      for (const sentence of text.split(/[.;:(]\s/)) {
        if (OTHER_PROGRAMS.test(sentence)) continue;
        for (const m of sentence.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g))
          if (!options.has(m[0]) && !notSuggested(where, m[0]))
            wrong.push(`${where}: ${m[0]} in ${JSON.stringify(text)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('each spec.… field named is a field of the Application CRD', () => {
    const wrong: string[] = [];
    for (const { where, text } of all) {
      for (const m of text.matchAll(/(?<![\w.])spec\.[A-Za-z][\w.]*/g)) {
        const path = m[0].replace(/\.+$/, '');
        if (!paths.has(path)) wrong.push(`${where}: ${path} in ${JSON.stringify(text)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('each field named by its last parts (kustomize.allowRemoteBases) or as `with field` ends a CRD path', () => {
    const wrong: string[] = [];
    for (const { where, text } of all) {
      // Dotted names with a camelCase part, other than CEL rules (self.x) and calls (path.startsWith(…)).
      for (const m of text.matchAll(/(?<![\w.])([a-z]+(?:\.[a-z]\w*)*\.[a-z]+[A-Z]\w*)(?![\w(])/g)) {
        const name = m[1] ?? '';
        if (/^(self|spec|metadata|status)\./.test(name)) continue;
        if (![...paths].some((p) => p.endsWith(`.${name}`)))
          wrong.push(`${where}: ${name} in ${JSON.stringify(text)}`);
      }
      // A single camelCase word given as the thing to set: "only with allowInsecureHttp", "(selfHeal)".
      for (const m of text.matchAll(/(?:\bwith |\()([a-z]+[A-Z]\w*)\b(?![(.])/g)) {
        const name = m[1] ?? '';
        if (!fieldNames.has(name)) wrong.push(`${where}: ${name} in ${JSON.stringify(text)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('each sync option named (Replace=true) is one an Application accepts', () => {
    // An Application's sync options, and the per-object Argo CD options Capstan honours.
    const known = new Set<string>([...SYNC_OPTIONS, ...HONOURED_OBJECT_SYNC_OPTIONS]);
    const wrong: string[] = [];
    for (const { where, text } of all) {
      for (const m of text.matchAll(/\b[A-Z][A-Za-z]+=(?:true|false)\b/g))
        if (!known.has(m[0])) wrong.push(`${where}: ${m[0]} in ${JSON.stringify(text)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('catches the hints that were wrong (the rules are not vacuous)', () => {
    const http = 'uses plain http (http is allowed only with allowInsecureHttp)';
    const remote =
      'Capstan does not fetch remote bases unless the application allows them (kustomize.allowRemoteBases)';
    assert.equal(
      [...http.matchAll(/(?:\bwith |\()([a-z]+[A-Z]\w*)\b(?![(.])/g)][0]?.[1],
      'allowInsecureHttp',
    );
    assert.ok(!fieldNames.has('allowInsecureHttp'));
    assert.match(remote, /kustomize\.allowRemoteBases/);
    assert.ok(![...paths].some((p) => p.endsWith('.kustomize.allowRemoteBases')));
    assert.ok(!options.has('--force-conflicts'), 'the old adopt flag is no longer offered');
  });
});
