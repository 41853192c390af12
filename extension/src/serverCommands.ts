// The ids of the server's own commands (PROTOCOL.md), and the error of a command it refused.

export const SERVER_COMMANDS = {
    start: 'downstreamSync.server.startSession',
    stop: 'downstreamSync.server.stopSession',
    list: 'downstreamSync.server.listSessions',
    resolve: 'downstreamSync.server.resolveConflict',
    showInjected: 'downstreamSync.server.showInjectedManifests',
};

/** A command the server answered with an error: its message is meant for the user. */
export class CommandFailed extends Error {}
