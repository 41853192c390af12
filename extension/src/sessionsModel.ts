// What the extension knows of the server's sync sessions: their states, their most recent file
// events, the conflicts still open and the reconcile progress, fed by the server's notifications
// (downstreamSync/sessionState, downstreamSync/fileEvent, $/progress). Pure: no VS Code here.

export type SessionStateName =
    | 'starting'
    | 'connecting'
    | 'reconciling'
    | 'watching'
    | 'reconnecting'
    | 'stopped'
    | 'failed';

export interface SessionStateParams {
    session: string;
    state: SessionStateName;
    detail: string;
    time: number;
    configPath: string;
    artifact: string;
}

export interface FileEventParams {
    kind: 'synced' | 'skipped' | 'conflict' | 'error';
    session: string;
    time: number;
    path?: string | null;
    remotePath?: string;
    action?: string;
    bytes?: number;
    oldPath?: string | null;
    reason?: string;
    remoteCopy?: string | null;
    message?: string;
}

export interface SessionInfo {
    name: string;
    state: string;
    configPath: string;
    artifact: string;
    transport: string;
}

export interface Conflict {
    session: string;
    path: string;
    remoteCopy?: string | null;
    reason?: string;
}

export interface Session {
    name: string;
    state: SessionStateName;
    detail: string;
    configPath: string;
    artifact: string;
    transport: string;
    events: FileEventParams[];
    conflicts: Map<string, Conflict>;
    /** The reconcile's last progress message ("3/10 files, 1.0 KiB of 4.0 KiB"), while one runs. */
    progress?: string;
    lastSynced?: FileEventParams;
    errors: number;
}

export const MAX_EVENTS = 50;

/** `downstreamSync/<session>/reconcile/<n>` -> the session's name, else undefined. */
export function reconcileTokenSession(token: string | number): string | undefined {
    const match = /^downstreamSync\/(.+)\/reconcile\/\d+$/.exec(String(token));
    return match ? match[1] : undefined;
}

export class SessionsModel {
    readonly sessions = new Map<string, Session>();
    private listeners: Array<() => void> = [];

    onDidChange(listener: () => void): { dispose(): void } {
        this.listeners.push(listener);
        return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
    }

    private changed(): void {
        for (const listener of this.listeners) {
            listener();
        }
    }

    private session(name: string): Session {
        let session = this.sessions.get(name);
        if (!session) {
            session = {
                name,
                state: 'starting',
                detail: '',
                configPath: '',
                artifact: name,
                transport: '',
                events: [],
                conflicts: new Map(),
                errors: 0,
            };
            this.sessions.set(name, session);
        }
        return session;
    }

    /** Sessions the server reports (listSessions, startSession results). */
    updateInfo(info: SessionInfo): void {
        const session = this.session(info.name);
        session.configPath = info.configPath;
        session.artifact = info.artifact;
        session.transport = info.transport;
        if (info.state && session.state === 'starting') {
            session.state = info.state as SessionStateName;
        }
        this.changed();
    }

    applyState(params: SessionStateParams): void {
        const session = this.session(params.session);
        session.state = params.state;
        session.detail = params.detail ?? '';
        session.configPath = params.configPath || session.configPath;
        session.artifact = params.artifact || session.artifact;
        if (params.state !== 'reconciling') {
            session.progress = undefined;
        }
        if (params.state === 'stopped') {
            this.sessions.delete(params.session);
        }
        this.changed();
    }

    applyFileEvent(params: FileEventParams): void {
        const session = this.session(params.session);
        session.events.unshift(params);
        session.events.length = Math.min(session.events.length, MAX_EVENTS);
        if (params.kind === 'synced') {
            session.lastSynced = params;
            if (params.path) {
                session.conflicts.delete(params.path);
            }
        } else if (params.kind === 'conflict' && params.path) {
            session.conflicts.set(params.path, {
                session: params.session,
                path: params.path,
                remoteCopy: params.remoteCopy,
                reason: params.reason,
            });
        } else if (params.kind === 'error') {
            session.errors += 1;
        }
        this.changed();
    }

    applyProgress(token: string | number, kind: 'begin' | 'report' | 'end', message?: string): void {
        const name = reconcileTokenSession(token);
        const session = name === undefined ? undefined : this.sessions.get(name);
        if (!session) {
            return;
        }
        session.progress = kind === 'end' ? undefined : message ?? session.progress;
        this.changed();
    }

    resolved(session: string, path: string): void {
        this.sessions.get(session)?.conflicts.delete(path);
        this.changed();
    }

    /** The container's copy at `file` is gone: its conflict is settled. */
    copyGone(file: string): void {
        for (const session of this.sessions.values()) {
            for (const conflict of session.conflicts.values()) {
                if (conflict.remoteCopy && samePath(localPath(session, conflict.remoteCopy), file)) {
                    session.conflicts.delete(conflict.path);
                    this.changed();
                }
            }
        }
    }

    /** Sessions the server stopped. */
    forget(names: string[]): void {
        names.forEach((name) => this.sessions.delete(name));
        this.changed();
    }

    /** Every session forgotten (the server stopped). */
    clear(): void {
        this.sessions.clear();
        this.changed();
    }

    conflicts(): Conflict[] {
        return [...this.sessions.values()].flatMap((s) => [...s.conflicts.values()]);
    }

    /** The conflict whose container copy is `remoteCopy` below `root`, or whose local path is `path`. */
    findConflict(match: (conflict: Conflict, session: Session) => boolean): Conflict | undefined {
        for (const session of this.sessions.values()) {
            for (const conflict of session.conflicts.values()) {
                if (match(conflict, session)) {
                    return conflict;
                }
            }
        }
        return undefined;
    }

    sessionsFor(configPath: string): Session[] {
        return [...this.sessions.values()].filter((s) => samePath(s.configPath, configPath));
    }
}

/** An event's path (relative to the config's folder, or absolute) as an absolute path. */
export function localPath(session: Pick<Session, 'configPath'>, relative: string): string {
    if (/^([a-zA-Z]:)?[\\/]/.test(relative) || !session.configPath) {
        return relative;
    }
    const folder = session.configPath.replace(/[\\/][^\\/]*$/, '');
    return `${folder}/${relative}`;
}

export function samePath(a: string, b: string): boolean {
    const norm = (p: string) => p.replace(/\\/g, '/').replace(/\/+$/, '');
    return norm(a) === norm(b);
}
