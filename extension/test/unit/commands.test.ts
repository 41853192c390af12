// Bad input at the commands: a clear message with buttons, never a silent failure.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { fake, resetFake, workspace } from './fakeVscode';
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
