// Reading the place of a kustomize error from its message (src/adapters/render/kustomize-errors.ts):
// messages as kustomize v5.8.1 writes them, with paths already relative to the checkout.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  failingFolder,
  malformedYaml,
  missingFile,
  undecodableField,
} from '../../../src/adapters/render/kustomize-errors.ts';

const PATCH_MISSING =
  "Error: accumulating resources: accumulation err='accumulating resources from '../base': 'apps/base' must resolve to a file': recursed accumulation of path 'apps/base': trouble configuring builtin PatchTransformer with config: `\npath: nope.yaml\n`: failed to get the patch file from path(nope.yaml): evalsymlink failure on 'apps/base/nope.yaml' : lstat apps/base/nope.yaml: no such file or directory";
const MALFORMED =
  "Error: accumulating resources: accumulation err='accumulating resources from '../base': 'apps/base' must resolve to a file': recursed accumulation of path 'apps/base': accumulating resources: accumulating resources from 'deploy.yaml': MalformedYAMLError: yaml: line 5: mapping values are not allowed in this context in File: deploy.yaml";
const UNDECODABLE =
  "Error: accumulating resources: accumulation err='accumulating resources from '../base': 'apps/base' must resolve to a file': couldn't make target for path 'apps/base': invalid Kustomization: json: cannot unmarshal array into Go struct field Image.images.newTag of type string";

describe('kustomize error places', () => {
  it('the folder being built: the innermost base named, else the rendered folder', () => {
    assert.equal(failingFolder(PATCH_MISSING, 'apps/overlay'), 'apps/base');
    assert.equal(failingFolder(UNDECODABLE, 'apps/overlay'), 'apps/base');
    assert.equal(failingFolder('Error: something else', 'apps/overlay'), 'apps/overlay');
  });

  it('a missing file, a malformed resource with its line, a field that does not decode', () => {
    assert.equal(missingFile(PATCH_MISSING), 'apps/base/nope.yaml');
    assert.deepEqual(malformedYaml(MALFORMED), { file: 'deploy.yaml', line: 5 });
    assert.equal(undecodableField(UNDECODABLE), 'images');
    assert.equal(
      undecodableField(
        'invalid Kustomization: json: cannot unmarshal string into Go struct field Kustomization.resources of type []string',
      ),
      'resources',
    );
  });

  it('nothing for a message that names no place', () => {
    const other =
      'Error: no matches for Id Deployment.v1.apps/web.[noNs]; failed to find unique target for patch';
    assert.equal(missingFile(other), undefined);
    assert.equal(malformedYaml(other), undefined);
    assert.equal(undecodableField(other), undefined);
  });
});
