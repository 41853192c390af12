// The schema the extension contributes for skaffold.yaml, checked by the real YAML language server
// that the Red Hat YAML extension runs (npm yaml-language-server), over LSP on stdio. The server is
// told about the schema as the YAML extension tells it about an extension's `yamlValidation`
// contribution (json/schemaAssociations), read from our package.json.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';

const EXTENSION = path.resolve(__dirname, '../../..');
const CORPUS = path.resolve(EXTENSION, '../../shared/corpus/skaffold-schemas');
const SERVER = require.resolve('yaml-language-server/bin/yaml-language-server', { paths: [EXTENSION] });

interface Diagnostic {
    range: { start: { line: number; character: number } };
    message: string;
    severity?: number;
}

/** The diagnostics the YAML language server publishes for `text` as skaffold.yaml, with `schemaUrl`
 * associated to skaffold*.yaml the way the YAML extension associates a yamlValidation contribution. */
async function diagnose(text: string, schemaUrl: string, fileMatch: string[]): Promise<Diagnostic[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-yamlls-'));
    const file = path.join(dir, 'skaffold.yaml');
    fs.writeFileSync(file, text);
    const uri = pathToFileURL(file).toString();
    const proc = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const connection = createMessageConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
    const settings = { yaml: { validate: true, schemaStore: { enable: false }, schemas: {} }, http: {}, editor: {}, files: {} };
    connection.onRequest('workspace/configuration', (params: { items: Array<{ section?: string }> }) =>
        params.items.map((item) => (settings as any)[item.section ?? ''] ?? null),
    );
    connection.onRequest('client/registerCapability', () => null);
    connection.onRequest('window/workDoneProgress/create', () => null);
    const published = new Promise<Diagnostic[]>((resolve) => {
        connection.onNotification('textDocument/publishDiagnostics', (params: { uri: string; diagnostics: Diagnostic[] }) => {
            if (params.uri === uri) {
                resolve(params.diagnostics);
            }
        });
    });
    connection.listen();
    try {
        await connection.sendRequest('initialize', {
            processId: process.pid,
            rootUri: pathToFileURL(dir).toString(),
            capabilities: { workspace: { configuration: true }, textDocument: { publishDiagnostics: {} } },
            initializationOptions: {},
        });
        await connection.sendNotification('initialized', {});
        await connection.sendNotification('json/schemaAssociations', [{ fileMatch, uri: schemaUrl }]);
        await connection.sendNotification('workspace/didChangeConfiguration', { settings });
        await connection.sendNotification('textDocument/didOpen', {
            textDocument: { uri, languageId: 'yaml', version: 1, text },
        });
        return await published;
    } finally {
        connection.dispose();
        proc.kill();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Our contribution, read from package.json as the YAML extension reads it. */
function contributed(): { url: string; fileMatch: string[] } {
    const pkg = JSON.parse(fs.readFileSync(path.join(EXTENSION, 'package.json'), 'utf8'));
    const [validation] = pkg.contributes.yamlValidation;
    const file = path.resolve(EXTENSION, validation.url);
    assert.ok(fs.existsSync(file), `${file} is built by esbuild.mjs`);
    return { url: pathToFileURL(file).toString(), fileMatch: [].concat(validation.fileMatch) };
}

const VALID = `apiVersion: skaffold/v4beta14
kind: Config
build:
  artifacts:
  - image: node-example
    context: node
    download:
      manual:
      - remoteSrc: src
        localDst: node/src
      excludes:
      - "node_modules/*"
  - image: go-example
    docker:
      dockerfile: Dockerfile
    download:
      manual:
      - remoteSrc: /app/gen
        localDst: gen
`;

test('our schema: a valid download stanza gives no diagnostic, in plain and docker artifacts', async () => {
    const { url, fileMatch } = contributed();
    assert.deepEqual(await diagnose(VALID, url, fileMatch), []);
});

test('our schema: a wrong type in the stanza is flagged where it is', async () => {
    const { url, fileMatch } = contributed();
    const wrong = VALID.replace('      excludes:\n      - "node_modules/*"\n', '      excludes: "node_modules/*"\n');
    const found = await diagnose(wrong, url, fileMatch);
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].range.start.line, 10);
    assert.match(found[0].message, /Incorrect type\. Expected "array"/);
    const unknown = await diagnose(VALID.replace('localDst: gen', 'localDest: gen'), url, fileMatch);
    assert.ok(unknown.some((d) => /Property localDest is not allowed/.test(d.message)), JSON.stringify(unknown));
});

test("Skaffold's own schema flags the stanza (so the tests above can fail)", async () => {
    const url = pathToFileURL(path.join(CORPUS, 'v4beta14.json')).toString();
    const found = await diagnose(VALID, url, ['skaffold*.yaml']);
    assert.ok(found.some((d) => /Property download is not allowed/.test(d.message)), JSON.stringify(found));
    assert.equal(found[0].range.start.line, 6);
});
