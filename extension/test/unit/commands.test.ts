// Bad input at the commands: a clear message with buttons, never a silent failure.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { fake, resetFake, window, workspace } from './fakeVscode';
import { Commands, rememberedFirst } from '../../src/commands';
import { SessionsModel } from '../../src/sessionsModel';
import { CommandFailed } from '../../src/serverCommands';

beforeEach(resetFake);

const context = { workspaceState: { get: () => undefined, update: async () => undefined } } as any;

test('Start in a workspace without skaffold.yaml says so, with Open Folder and Show Log', async () => {
    workspace.files = [];
    fake.answers.push('Show Log');
    const server = { execute: async () => assert.fail('no server command without a config') } as any;
    await new Commands(context, server, new SessionsModel()).start();
    assert.equal(fake.messages.length, 1);
    assert.equal(fake.messages[0].kind, 'error');
    assert.match(fake.messages[0].message, /this workspace has no skaffold\.yaml/);
    assert.deepEqual(fake.messages[0].items, ['Open Folder', 'Show Log']);
    assert.deepEqual(fake.commands.map((c) => c.command), ['downstreamSync.showLog']);
});

test("a session that the server refuses shows the server's reason with Show Log and Open Settings", async () => {
    workspace.files = [{ fsPath: '/nowhere/skaffold.yaml' }];
    const server = {
        execute: async () => {
            throw new CommandFailed('artifact web: the helper cannot be reached');
        },
    } as any;
    await new Commands(context, server, new SessionsModel()).start();
    assert.equal(fake.messages.length, 1);
    assert.equal(fake.messages[0].message, 'Downstream Sync could not start: artifact web: the helper cannot be reached');
    assert.deepEqual(fake.messages[0].items, ['Show Log', 'Open Settings']);
});

test('Stop with nothing running says so', async () => {
    await new Commands(context, {} as any, new SessionsModel()).stop();
    assert.deepEqual(fake.messages.map((m) => m.message), ['No Downstream Sync session runs.']);
});

test('the last choice comes first and is marked', () => {
    const items = rememberedFirst([{ label: 'a' }, { label: 'b' }, { label: 'c' }], (i) => i.label === 'b');
    assert.deepEqual(items, [{ label: 'b', description: 'last used' }, { label: 'a' }, { label: 'c' }]);
});

test('Start: pick the config, then the profile, then the artifacts; one startSession per artifact; the choice is remembered', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-start-'));
    const config = path.join(dir, 'skaffold.yaml');
    fs.writeFileSync(
        config,
        'build:\n  artifacts:\n  - image: web\n    download: {manual: [{remoteSrc: a, localDst: b}]}\n' +
            '  - image: api\n    download: {manual: [{remoteSrc: c, localDst: d}]}\n  - image: db\nprofiles:\n- name: dev\n',
    );
    workspace.files = [{ fsPath: path.join(dir, 'other', 'skaffold.yaml') }, { fsPath: config }];
    fake.configuration[''] = { 'downstreamSync.connectCommand': ['docker', 'exec', '-i', '{image}', 'app-connect'] };
    const stored: Record<string, unknown> = {};
    const ctx = { workspaceState: { get: (k: string) => stored[k], update: async (k: string, v: unknown) => void (stored[k] = v) } } as any;
    const calls: any[] = [];
    const server = {
        execute: async (command: string, args: any) => {
            calls.push({ command, args });
            return { sessions: [{ name: args.artifact, state: 'starting', configPath: config, artifact: args.artifact, transport: 'docker' }] };
        },
    } as any;
    const model = new SessionsModel();
    fake.picks.push(
        (items) => items.find((i: any) => i.uri.fsPath === config),
        (items) => items.find((i: any) => i.label === 'dev'),
        (items) => items,
    );
    await new Commands(ctx, server, model).start();
    assert.deepEqual(fake.quickPicks.map((q) => q.items.map((i: any) => i.label)), [
        [path.join(dir, 'other', 'skaffold.yaml'), config].sort(),
        ['(no profile)', 'dev'],
        ['web', 'api'],
    ]);
    assert.equal(fake.quickPicks[2].options.canPickMany, true);
    assert.deepEqual(calls, ['web', 'api'].map((image) => ({
        command: 'downstreamSync.server.startSession',
        args: { configPath: config, policy: 'safe', profile: 'dev', artifact: image, connectCommand: ['docker', 'exec', '-i', image, 'app-connect'] },
    })));
    assert.deepEqual([...model.sessions.keys()], ['web', 'api']);
    assert.deepEqual(fake.messages, []);

    // The next start offers the same choice first, marked.
    fake.quickPicks = [];
    fake.picks.push((items) => items[0], (items) => items[0], () => undefined);
    await new Commands(ctx, server, model).start();
    assert.equal(fake.quickPicks[0].items[0].label, config);
    assert.equal(fake.quickPicks[0].items[0].description, 'last used');
    assert.deepEqual(fake.quickPicks[1].items[0], { label: 'dev', profile: 'dev', description: 'last used' });
    assert.equal(calls.length, 2, 'cancelling the artifact pick starts nothing');
    fs.rmSync(dir, { recursive: true, force: true });
});

test("Show Injected Manifests: the active skaffold.yaml's manifests, through the server's own command, in a diff of two virtual documents", async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ds-show-'));
    const config = path.join(dir, 'skaffold.yaml');
    fs.writeFileSync(config, 'build:\n  artifacts:\n  - image: web\nprofiles:\n- name: dev\n');
    window.activeTextEditor = { document: { uri: { scheme: 'file', fsPath: config } } };
    fake.configuration[''] = { 'downstreamSync.helperImage': 'registry.local/helper:1', 'downstreamSync.skaffoldPath': '/opt/skaffold' };
    const answer = {
        configPath: config,
        original: '# Source: k8s/app.yaml\nkind: Pod\n',
        injected: '# Source: k8s/app.yaml\nkind: Pod\nspec: {initContainers: []}\n',
        files: ['k8s/app.yaml'],
        containers: ['k8s/app.yaml: document 1: Pod p: container app'],
        warnings: ['k8s/app.yaml: document 2: Foo x: left untouched'],
        renderer: 'rawYaml',
    };
    const calls: any[] = [];
    const server = {
        injectedManifestsCommand: 'downstreamSync.server.showInjectedManifests',
        execute: async (command: string, args: any) => {
            calls.push({ command, args });
            return answer;
        },
    } as any;
    const commands = new Commands(context, server, new SessionsModel());
    fake.picks.push((items) => items.find((i: any) => i.label === 'dev'));
    await commands.showInjectedManifests();

    assert.deepEqual(calls, [{
        command: 'downstreamSync.server.showInjectedManifests',
        args: { configPath: config, skaffoldPath: '/opt/skaffold', profile: 'dev', helperImage: 'registry.local/helper:1' },
    }]);
    const diff = fake.commands.find((c) => c.command === 'vscode.diff');
    assert.ok(diff, 'a diff editor is opened');
    const [left, right, title] = diff.args as any[];
    assert.equal(left.scheme, 'downstream-sync-manifests');
    assert.equal(commands.manifests.provideTextDocumentContent(left), answer.original);
    assert.equal(commands.manifests.provideTextDocumentContent(right), answer.injected);
    assert.match(right.path, /injected\.yaml$/);
    assert.doesNotMatch(right.path.split('/').pop(), /^skaffold/, 'no Skaffold schema on the manifests');
    assert.match(title, /manifests ↔ injected/);
    assert.deepEqual(fake.messages.map((m) => m.kind), ['warning']);
    assert.match(fake.messages[0].message, /1 container injected in k8s\/app\.yaml\. Warnings: .*left untouched/);

    // A refusal of the server reaches the user with its reason and the buttons.
    fake.messages = [];
    fake.picks.push((items) => items[0]);
    server.execute = async () => {
        throw new CommandFailed('k8s/app.yaml: document 1: Deployment web: container app: cannot read the config of image web');
    };
    await commands.showInjectedManifests();
    assert.deepEqual(fake.messages.map((m) => [m.kind, m.message, m.items]), [[
        'error',
        'Downstream Sync could not show the injected manifests: k8s/app.yaml: document 1: Deployment web: container app: cannot read the config of image web',
        ['Show Log', 'Open Settings'],
    ]]);
    fs.rmSync(dir, { recursive: true, force: true });
});

test('Show Injected Manifests without the server command says so and calls nothing', async () => {
    const server = { execute: async () => assert.fail('not offered') } as any;
    await new Commands(context, server, new SessionsModel()).showInjectedManifests();
    assert.deepEqual(fake.messages.map((m) => m.message), ['This version of the Downstream Sync server does not show injected manifests.']);
});
