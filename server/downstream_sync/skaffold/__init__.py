"""Running the user's Skaffold with download stanzas: `downstream-sync skaffold ARGS...`.

Modules: args (Skaffold's command line: which command, which config, what to add), copy (the config
Skaffold is given: no download stanzas, the Helm post-renderer added), events (Skaffold's `/v2/events`
JSON stream read into "the deploy is up" moments), shims (the `kubectl` and post-renderer programs
Skaffold runs, which inject the helper), run (the process: signals, exit code, the event stream).
Core code: must not import pygls, lsprotocol or the terminal; never prints (callbacks do).
"""
