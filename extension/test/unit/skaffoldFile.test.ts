// What the extension reads of a skaffold.yaml by itself: profiles, artifacts with download, rules.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSkaffoldFileName, languageStatusText, summarize } from '../../src/skaffoldFile';

const CONFIG = `apiVersion: skaffold/v4beta14
kind: Config
build:
  artifacts:
  - image: web
    download:
      manual:
      - remoteSrc: src
        localDst: web/src
      - remoteSrc: gen
        localDst: web/gen
  - image: db
profiles:
- name: dev
  build:
    artifacts:
    - image: api
      download:
        manual:
        - {remoteSrc: out, localDst: api/out}
- name: prod
---
apiVersion: skaffold/v4beta14
kind: Config
build:
  artifacts:
  - image: worker
    download: {manual: [{remoteSrc: a, localDst: b}]}
`;

test('profiles, the artifacts with a download stanza, and the number of rules, over all documents', () => {
    assert.deepEqual(summarize(CONFIG), { profiles: ['dev', 'prod'], downloadArtifacts: ['web', 'api', 'worker'], downloadRules: 4 });
});

test('broken YAML still says that a stanza is there', () => {
    const summary = summarize('build:\n  artifacts:\n  - image: web\n    download:\n      manual:\n      - remoteSrc: [\n');
    assert.equal(summary.downloadRules, 1);
});

test('language status text', () => {
    assert.deepEqual(languageStatusText(summarize(CONFIG), ['web']), { text: 'Downstream Sync: 4 download rules', detail: 'syncing (web)' });
    assert.deepEqual(languageStatusText(summarize('kind: Config\n'), []), { text: 'Downstream Sync: no download rules', detail: 'no session runs' });
});

test('Skaffold file names', () => {
    assert.ok(isSkaffoldFileName('/p/skaffold.yaml'));
    assert.ok(isSkaffoldFileName('C:\\p\\skaffold-dev.yml'));
    assert.ok(!isSkaffoldFileName('/p/values.yaml'));
    assert.ok(!isSkaffoldFileName('/skaffold/values.yaml'));
});
