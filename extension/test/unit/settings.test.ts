// Settings read through the wrapper (workspace values over user values, as VS Code resolves them
// for a scope), and what they become in the server's startSession command.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { fake, resetFake } from './fakeVscode';
import { getSettings, initializationOptions, needsServerRestart, showInjectedArgs, startSessionArgs } from '../../src/settings';

beforeEach(resetFake);

test('defaults when nothing is set', () => {
    assert.deepEqual(getSettings(), {
        kubeContext: '',
        kubeconfig: '',
        namespace: '',
        conflictPolicy: 'safe',
        connectCommand: [],
        helperImage: '',
        python: '',
        serverPath: '',
        skaffoldPath: 'skaffold',
    });
});

test('a folder value overrides the user value; others fall back to the user', () => {
    fake.configuration[''] = { 'downstreamSync.namespace': 'user-ns', 'downstreamSync.kubeContext': 'kind-user' };
    fake.configuration['/proj'] = { 'downstreamSync.namespace': 'team-ns', 'downstreamSync.conflictPolicy': 'remote-wins' };
    const settings = getSettings({ fsPath: '/proj' } as any);
    assert.equal(settings.namespace, 'team-ns');
    assert.equal(settings.kubeContext, 'kind-user');
    assert.equal(settings.conflictPolicy, 'remote-wins');
});

test('values of the wrong type are ignored, not passed on', () => {
    fake.configuration[''] = {
        'downstreamSync.conflictPolicy': 'whatever',
        'downstreamSync.connectCommand': ['app-connect', 3, '--socket'],
        'downstreamSync.namespace': 42,
        'downstreamSync.skaffoldPath': '  ',
    };
    const settings = getSettings();
    assert.equal(settings.conflictPolicy, 'safe');
    assert.deepEqual(settings.connectCommand, ['app-connect', '--socket']);
    assert.equal(settings.namespace, '');
    assert.equal(settings.skaffoldPath, 'skaffold');
});

test('startSession arguments: only what is set, {image} replaced, the connect command an argv list', () => {
    fake.configuration[''] = {
        'downstreamSync.namespace': 'dev',
        'downstreamSync.connectCommand': ['docker', 'exec', '-i', '{image}', '/sync-helper/app-connect'],
    };
    const args = startSessionArgs({ configPath: '/p/skaffold.yaml', profiles: ['a', 'b'], artifact: 'web' }, getSettings());
    assert.deepEqual(args, {
        configPath: '/p/skaffold.yaml',
        policy: 'safe',
        profile: 'a,b',
        artifact: 'web',
        namespace: 'dev',
        connectCommand: ['docker', 'exec', '-i', 'web', '/sync-helper/app-connect'],
    });
    assert.deepEqual(startSessionArgs({ configPath: '/p/skaffold.yaml', profiles: [] }, getSettings({ fsPath: '/x' } as any)), {
        configPath: '/p/skaffold.yaml',
        policy: 'safe',
        namespace: 'dev',
        connectCommand: ['docker', 'exec', '-i', '', '/sync-helper/app-connect'],
    });
});

test('a kubeconfig setting is passed on to startSession', () => {
    fake.configuration[''] = { 'downstreamSync.kubeconfig': ' /home/me/.kube/dev.yaml ' };
    const args = startSessionArgs({ configPath: '/p/skaffold.yaml', profiles: [] }, getSettings());
    assert.equal(args.kubeconfig, '/home/me/.kube/dev.yaml');
    resetFake();
    assert.equal('kubeconfig' in startSessionArgs({ configPath: '/p/skaffold.yaml', profiles: [] }, getSettings()), false);
});

test('only the server settings restart the server', () => {
    const event = (key: string) => ({ affectsConfiguration: (k: string) => k === key });
    assert.equal(needsServerRestart(event('downstreamSync.python')), true);
    assert.equal(needsServerRestart(event('downstreamSync.serverPath')), true);
    assert.equal(needsServerRestart(event('downstreamSync.trace.server')), true);
    assert.equal(needsServerRestart(event('downstreamSync.namespace')), false);
});

test('the helper image and the skaffold path reach the server: initializationOptions and showInjectedManifests', () => {
    assert.deepEqual(initializationOptions(getSettings()), { skaffoldPath: 'skaffold' });
    fake.configuration[''] = { 'downstreamSync.helperImage': ' registry.local/helper:2 ' };
    const settings = getSettings();
    assert.deepEqual(initializationOptions(settings), { skaffoldPath: 'skaffold', helperImage: 'registry.local/helper:2' });
    assert.deepEqual(showInjectedArgs('/p/skaffold.yaml', [], settings), {
        configPath: '/p/skaffold.yaml', skaffoldPath: 'skaffold', helperImage: 'registry.local/helper:2',
    });
    assert.equal('helperImage' in startSessionArgs({ configPath: '/p/skaffold.yaml', profiles: [] }, settings), false);
});
