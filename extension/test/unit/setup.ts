// Loaded with `node --require` before the unit tests: `require('vscode')` gets the fakes.
import Module = require('module');
import * as fakeVscode from './fakeVscode';

const load = (Module as any)._load;
(Module as any)._load = function (request: string, ...rest: unknown[]) {
    if (request === 'vscode') {
        return fakeVscode;
    }
    return load.call(this, request, ...rest);
};
