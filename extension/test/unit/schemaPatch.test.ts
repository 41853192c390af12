// The patch that adds `download` to Skaffold's schema, on every schema Skaffold published.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { addDownload, newestVersion } from '../../src/schemaPatch';

const CORPUS = path.resolve(__dirname, '../../../../../shared/corpus/skaffold-schemas');

test('every artifact variant of every published schema accepts download, and nothing else changes', () => {
    const files = fs.readdirSync(CORPUS).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 4);
    for (const file of files) {
        const schema = JSON.parse(fs.readFileSync(path.join(CORPUS, file), 'utf8'));
        const patched = addDownload(schema);
        const variants = patched.definitions.Artifact.anyOf;
        assert.ok(variants.length >= 7, file);
        for (const variant of variants) {
            assert.deepEqual(variant.properties.download, { $ref: '#/definitions/DownstreamSyncDownload' }, file);
            assert.equal(variant.additionalProperties, false, file);
        }
        // The input is left alone and the rest is the same.
        assert.equal(schema.definitions.Artifact.anyOf[0].properties.download, undefined);
        delete patched.definitions.DownstreamSyncDownload;
        for (const variant of variants) {
            delete variant.properties.download;
            variant.preferredOrder = variant.preferredOrder.filter((k: string) => k !== 'download');
        }
        assert.deepEqual(patched, schema, file);
    }
});

test('not a Skaffold schema: a clear error', () => {
    assert.throws(() => addDownload({ type: 'object' }), /no definitions\.Artifact/);
});

test('the newest config version', () => {
    assert.equal(newestVersion(['skaffold/v1', 'skaffold/v4beta13', 'skaffold/v2beta29', 'skaffold/v4beta14', '']), 'skaffold/v4beta14');
    assert.equal(newestVersion(['skaffold/v1alpha1', 'skaffold/v1beta2', 'skaffold/v1']), 'skaffold/v1');
    assert.equal(newestVersion(['v1', 'v2beta29']), 'v2beta29');
});
