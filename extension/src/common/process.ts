// Runs a program to its end and tells what happened, never throwing: the finders of the server
// and of Skaffold's schema turn the outcome into sentences.

import { execFile } from 'child_process';

export interface RunResult {
    /** The exit code, or undefined when the program could not start or was killed. */
    code: number | undefined;
    stdout: string;
    stderr: string;
    /** Why the program could not run (e.g. "spawn python3 ENOENT"), when it could not. */
    error?: string;
}

export function run(command: string, args: string[], timeoutMs = 60_000, cwd?: string): Promise<RunResult> {
    return new Promise((resolve) => {
        execFile(
            command,
            args,
            { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, cwd, windowsHide: true },
            (error, stdout, stderr) => {
                if (!error) {
                    resolve({ code: 0, stdout, stderr });
                    return;
                }
                const code = typeof (error as any).code === 'number' ? (error as any).code : undefined;
                const started = code !== undefined;
                resolve({ code, stdout: stdout ?? '', stderr: stderr ?? '', error: started ? undefined : error.message });
            },
        );
    });
}
