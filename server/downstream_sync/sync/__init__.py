"""The sync engine: sessions, decisions per event, downloads, atomic writes, the ledger.

Modules, each owning one thing:

- rules.py     `RuleSet.from_download(...)`: container path -> local path, or None; `bind` checks the
               rules against the helper's targets and learns its spelling of each folder.
- events.py    what subscribers receive (StateChanged, ReconcileProgress, FileSynced, FileSkipped,
               Conflict, ConflictResolved, SyncError) and the session's stats.
- session.py   `Session`: connect, watch, reconnect with backoff, resume, reconcile; `pull`;
               `resolve_conflict`.
- pipeline.py  the bounded, per-path coalescing work queue with a worker pool.
- work.py      a work item (change, delete, rename) and how two for one path merge.
- apply.py     the Applier: each item's ledger entry and events; deletes, renames, type changes,
               conflicts. Reports the outcome of placing; does no framing and no threads of its own.
- targets.py   wire path -> local target, or why not (unsafe, reserved, excluded, ours).
- local.py     what a local file holds: its MD5 from the ledger or the hash cache, else read.
- decide.py    the pure decision from the remote, local and ledger MD5s.
- place.py     putting a file in place per the decision, as values: `Change` in, one `Outcome` out
               (for inline content and downloads alike); safe in a worker thread.
- download.py  DownloadFiles framing: each wanted file comes back `Received` (verified bytes in a
               temporary file) or `NotReceived`; it never places or reports.
- lane.py      the data lane for large files, answering as download.py does.
- writer.py    atomic writes through O_NOFOLLOW folder descriptors; deletes and renames.
- ledger.py    what this tool last wrote where (sqlite, per session name).
- reconcile.py progress (of the files the rules cover, each counted once) and the list of files
               gone remotely during a snapshot reconcile.
- client.py    the gRPC client of the helper, over the bridge of `cluster/bridge.py`.

What both ends of the wire must agree on is in the helper package, imported from there:
`sync_helper.protocol` (sizes, the data lane's lines, error codes, hashing), `reads` (did a file
change while it was read), `globs` (excludes), `channel` (message limits, keepalive), `paths`.

What the engine leaves on disk, beside the synced files:

- `<project>/.downstream-sync/` holds the ledger and a `.gitignore` of `*`.
- `.<name>.dstmp-<hex>`: a file being written; removed when a session starts after a crash.
- `.<name>.dsswap-<hex>`: for a moment, what a write or delete displaced from `<name>`; a session
  starting after a crash removes it when it is this tool's last version (its MD5 in the ledger),
  else keeps it as a backup (below) and reports a conflict.
- `<name>.downstream-conflict`: the container's version of a file that changed on both sides
  (policy `safe`), or of a file this tool wrote that the user deleted; `resolve_conflict` takes it
  or drops it. The conflict stays open in the ledger (`conflict:PATH`, with the MD5 of the version
  kept) until then, or until the local file holds the container's version (moved into place, or
  the same edit) or the container deletes the file: then a copy still as written is removed. A
  copy the user edited (a merge by hand) is theirs: the next remote version goes to
  `<name>~2.downstream-conflict`, then `~3`..., the first one absent or still as this tool wrote it.
- Names too long for the file system (255 bytes) are cut on a character boundary and tagged with
  `~` and 8 hex digits of a hash of the full name, before the suffix.
- `<name>.downstream-local`: under policy `remote-wins`, the local version that a remote change or
  delete replaced; a backup never replaces anything: a later one goes to `<name>~2.downstream-local`,
  then `~3`..., the first name free.
- No path from a container with a part named like one of these files (a folder included) is written.

Must not import pygls, lsprotocol, or anything of the terminal."""
