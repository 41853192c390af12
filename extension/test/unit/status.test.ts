// The sessions model fed with the server's notification payloads, and what the status bar says.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconcileTokenSession, SessionsModel } from '../../src/sessionsModel';
import { statusText } from '../../src/statusText';

const state = (session: string, s: any, detail = '') => ({
    session,
    state: s,
    detail,
    time: 1,
    configPath: '/p/skaffold.yaml',
    artifact: session,
});

test('idle without sessions', () => {
    const status = statusText(new SessionsModel().sessions.values());
    assert.equal(status.kind, 'idle');
    assert.match(status.tooltip, /no session runs/);
});

test('connecting, reconciling with files and bytes, then syncing the last file', () => {
    const model = new SessionsModel();
    model.updateInfo({ name: 'web', state: 'starting', configPath: '/p/skaffold.yaml', artifact: 'web', transport: 'pod default/web-7d9c (container web)' });
    model.applyState(state('web', 'connecting'));
    let status = statusText(model.sessions.values());
    assert.equal(status.kind, 'connecting');
    assert.equal(status.text, '$(loading~spin) Connecting: web');
    assert.match(status.tooltip, /web on pod default\/web-7d9c \(container web\): connecting/);

    model.applyState(state('web', 'reconciling'));
    model.applyProgress('downstreamSync/web/reconcile/1', 'begin', '0/3 files, 0 B of 1.0 KiB');
    model.applyProgress('downstreamSync/web/reconcile/1', 'report', '2/3 files, 512 B of 1.0 KiB');
    status = statusText(model.sessions.values());
    assert.equal(status.kind, 'reconciling');
    assert.equal(status.text, '$(sync~spin) Reconciling 2/3 files, 512 B of 1.0 KiB');

    model.applyProgress('downstreamSync/web/reconcile/1', 'end', '3 files checked');
    model.applyState(state('web', 'watching'));
    model.applyFileEvent({ kind: 'synced', session: 'web', time: 5, path: 'node/src/a.js', remotePath: 'src/a.js', action: 'created', bytes: 120 });
    status = statusText(model.sessions.values());
    assert.equal(status.kind, 'syncing');
    assert.equal(status.text, '$(sync) Syncing a.js');
});

test('conflicts are counted until resolved; a failure wins over everything', () => {
    const model = new SessionsModel();
    model.applyState(state('web', 'watching'));
    model.applyState(state('api', 'watching'));
    for (const p of ['a.txt', 'b.txt']) {
        model.applyFileEvent({ kind: 'conflict', session: 'web', time: 2, path: p, remotePath: p, remoteCopy: `${p}.downstream-conflict`, reason: 'changed locally' });
    }
    assert.equal(statusText(model.sessions.values()).text, '$(warning) 2 sync conflicts');
    model.resolved('web', 'a.txt');
    assert.equal(statusText(model.sessions.values()).text, '$(warning) 1 sync conflict');
    model.applyState(state('api', 'failed', 'the helper cannot be reached'));
    const status = statusText(model.sessions.values());
    assert.equal(status.kind, 'error');
    assert.equal(status.text, '$(error) Sync failed: api');
    assert.match(status.tooltip, /api: failed: the helper cannot be reached/);
});

test('a server that cannot start is an error whatever the sessions', () => {
    const status = statusText([], 'No Python 3.10 or newer was found on PATH');
    assert.equal(status.kind, 'error');
    assert.match(status.tooltip, /No Python 3\.10/);
});

test('stopped sessions leave; events are kept newest first and bounded', () => {
    const model = new SessionsModel();
    model.applyState(state('web', 'watching'));
    for (let i = 0; i < 60; i++) {
        model.applyFileEvent({ kind: 'synced', session: 'web', time: i, path: `f${i}`, action: 'created', bytes: 1 });
    }
    const web = model.sessions.get('web')!;
    assert.equal(web.events.length, 50);
    assert.equal(web.events[0].path, 'f59');
    model.applyState(state('web', 'stopped'));
    assert.equal(model.sessions.size, 0);
});

test('progress tokens name their session', () => {
    assert.equal(reconcileTokenSession('downstreamSync/node-example/reconcile/3'), 'node-example');
    assert.equal(reconcileTokenSession('downstreamSync/node-example/download/3'), undefined);
    assert.equal(reconcileTokenSession(7), undefined);
});

test("a conflict is settled when the container's copy beside the file is gone", () => {
    const model = new SessionsModel();
    model.applyState(state('web', 'watching'));
    model.applyFileEvent({ kind: 'conflict', session: 'web', time: 2, path: 'synced/a.txt', remotePath: 'a.txt', remoteCopy: 'synced/a.txt.downstream-conflict', reason: 'changed locally' });
    model.copyGone('/p/other/a.txt.downstream-conflict');
    assert.equal(model.conflicts().length, 1);
    model.copyGone('/p/synced/a.txt.downstream-conflict');
    assert.equal(model.conflicts().length, 0);
});
