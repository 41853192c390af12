"""The language server: a thin pygls face over config/ and sync/."""
