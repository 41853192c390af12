// The "Downstream Sync" view in the Explorer: the running sessions, each with its most recent file
// events. A click on a synced file opens it; on a conflict, a diff of the local file against the
// container's copy, with Keep local / Take remote on the diff's title bar and on the item.

import * as path from 'path';
import { EventEmitter, ThemeIcon, TreeItem, TreeItemCollapsibleState } from 'vscode';
import type { TreeDataProvider } from 'vscode';
import { fileUri } from './common/vscodeapi';
import { FileEventParams, Session, SessionsModel } from './sessionsModel';

export type Node =
    | { type: 'session'; session: Session }
    | { type: 'event'; session: Session; event: FileEventParams };

/** The local file an event names, absolute (event paths are relative to the config's folder). */
export function eventFile(session: Session, relative: string | null | undefined): string | undefined {
    if (!relative || !session.configPath) {
        return undefined;
    }
    return path.isAbsolute(relative) ? relative : path.join(path.dirname(session.configPath), relative);
}

export function eventDescription(event: FileEventParams): string {
    switch (event.kind) {
        case 'synced':
            return `${event.action ?? 'synced'}${event.bytes !== undefined && event.action !== 'deleted' ? `, ${event.bytes} B` : ''}`;
        case 'skipped':
            return `skipped: ${event.reason ?? ''}`;
        case 'conflict':
            return `conflict: ${event.reason ?? ''}`;
        case 'error':
            return `error: ${event.message ?? ''}`;
    }
}

export class SessionsView implements TreeDataProvider<Node> {
    private readonly emitter = new EventEmitter<Node | undefined>();
    readonly onDidChangeTreeData = this.emitter.event;

    constructor(private readonly model: SessionsModel) {
        model.onDidChange(() => this.emitter.fire(undefined));
    }

    getChildren(node?: Node): Node[] {
        if (!node) {
            return [...this.model.sessions.values()].map((session) => ({ type: 'session', session }));
        }
        if (node.type === 'session') {
            return node.session.events.map((event) => ({ type: 'event', session: node.session, event }));
        }
        return [];
    }

    getTreeItem(node: Node): TreeItem {
        if (node.type === 'session') {
            const s = node.session;
            const item = new TreeItem(s.name, TreeItemCollapsibleState.Expanded);
            item.id = `session:${s.name}`;
            item.description = s.progress ? `${s.state} ${s.progress}` : s.state;
            item.tooltip = `${s.name}: ${s.state}${s.detail ? ` (${s.detail})` : ''}\n${s.transport}\n${s.configPath}`;
            item.contextValue = 'session';
            item.iconPath = new ThemeIcon(s.state === 'failed' ? 'error' : s.conflicts.size ? 'warning' : 'sync');
            return item;
        }
        const { event, session } = node;
        const shown = event.path ?? event.remotePath ?? '(no file)';
        const item = new TreeItem(path.basename(shown), TreeItemCollapsibleState.None);
        item.description = `${path.dirname(shown) === '.' ? '' : path.dirname(shown) + ' · '}${eventDescription(event)}`;
        item.tooltip = `${shown}\n${eventDescription(event)}\nin the container: ${event.remotePath ?? '?'}`;
        const open = event.kind === 'conflict' && session.conflicts.has(event.path ?? '');
        item.contextValue = open ? 'conflict' : event.kind === 'conflict' ? 'settledConflict' : event.kind;
        item.iconPath = new ThemeIcon(
            { synced: 'check', skipped: 'circle-slash', conflict: 'warning', error: 'error' }[event.kind],
        );
        const file = eventFile(session, event.path);
        if (open) {
            item.command = { title: 'Show conflict', command: 'downstreamSync.openEvent', arguments: [node] };
        } else if (file && !(event.kind === 'synced' && event.action === 'deleted')) {
            item.resourceUri = fileUri(file);
            item.command = { title: 'Open', command: 'vscode.open', arguments: [fileUri(file)] };
        }
        return item;
    }
}
