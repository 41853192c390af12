"""The `showInjectedManifests` command: the project's manifests before and after the helper is
injected, for the editor to show side by side (inject/preview.py does the work, off the loop).

Options come from the command's argument, over the server's initialization options
(`helperImage`, `skaffoldPath`). Never prints.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .sessions import CommandError, _optional_str, _options, config_path, open_text

if TYPE_CHECKING:
    from .server import DownstreamSyncServer


def _profiles(opts: dict[str, Any]) -> tuple[str, ...]:
    value = opts.get("profile")
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise CommandError(f"'profile' must be a profile name, comma-separated names or a list of them, got {value!r}")
    return tuple(p.strip() for p in value if p.strip())


def _image_configs(opts: dict[str, Any]):
    from downstream_sync.inject import ConfigSource, ImageConfigError

    value = opts.get("imageConfigs") or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise CommandError(f"'imageConfigs' must map images to files ({{\"IMAGE\": \"FILE\"}}), got {value!r}")
    source = ConfigSource(dict(value))
    try:
        source.check_files()
    except ImageConfigError as error:
        raise CommandError(str(error)) from None
    return source


async def show_injected(server: "DownstreamSyncServer", *args: Any) -> dict[str, Any]:
    """Result: {configPath, original, injected, files, containers, warnings, renderer} (PROTOCOL.md)."""
    from downstream_sync.inject import InjectError
    from downstream_sync.inject.preview import preview_project

    opts = _options(args)
    path = config_path(server, opts)
    defaults = server.options
    helper_image = _optional_str(opts, "helperImage") or defaults.get("helperImage") or None
    skaffold = _optional_str(opts, "skaffoldPath") or defaults.get("skaffoldPath") or None
    configs = _image_configs(opts)
    try:
        preview = await asyncio.to_thread(preview_project, path, _profiles(opts), text=open_text(server, path),
                                          helper_image=helper_image, image_configs=configs, skaffold=skaffold)
    except InjectError as error:
        raise CommandError(f"cannot show the injected manifests of {path.name}: {error}") from None
    return {"configPath": str(path), "original": preview.original, "injected": preview.injected,
            "files": preview.files, "containers": preview.containers, "warnings": preview.warnings,
            "renderer": preview.renderer}
