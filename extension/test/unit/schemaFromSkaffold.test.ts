// The schema made at run time from the installed Skaffold: a real program (a small stand-in script
// that answers `schema list` and `schema get` as Skaffold does, printing a published schema).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { schemaFromSkaffold } from '../../src/schema';

const CORPUS = path.resolve(__dirname, '../../../../../shared/corpus/skaffold-schemas');

test("`skaffold schema get` of the newest version, with download added, written to storage", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-skaffold-'));
    const skaffold = path.join(dir, 'skaffold');
    fs.writeFileSync(
        skaffold,
        `#!/bin/sh\nif [ "$1 $2" = "schema list" ]; then printf 'skaffold/v1\\nskaffold/v4beta13\\nskaffold/v2beta29\\n'; exit 0; fi\n` +
            `if [ "$1 $2 $3" = "schema get skaffold/v4beta13" ]; then cat '${path.join(CORPUS, 'v4beta13.json')}'; exit 0; fi\n` +
            `echo "unknown $*" >&2; exit 1\n`,
    );
    fs.chmodSync(skaffold, 0o755);
    try {
        const file = await schemaFromSkaffold(skaffold, path.join(dir, 'storage'));
        assert.equal(file, path.join(dir, 'storage', 'skaffold-skaffold_v4beta13.schema.json'));
        const schema = JSON.parse(fs.readFileSync(file!, 'utf8'));
        for (const variant of schema.definitions.Artifact.anyOf) {
            assert.ok(variant.properties.download);
        }
        assert.equal(await schemaFromSkaffold(path.join(dir, 'no-skaffold'), path.join(dir, 'storage')), undefined);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
