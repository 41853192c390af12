from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransferTicket(_message.Message):
    __slots__ = ("token", "header")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    token: str
    header: FileHeader
    def __init__(self, token: _Optional[str] = ..., header: _Optional[_Union[FileHeader, _Mapping]] = ...) -> None: ...

class DownloadRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class DownloadResponse(_message.Message):
    __slots__ = ("chunk", "header", "error", "files")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    header: FileHeader
    error: FileError
    files: _containers.RepeatedCompositeFieldContainer[FileBlob]
    def __init__(self, chunk: _Optional[bytes] = ..., header: _Optional[_Union[FileHeader, _Mapping]] = ..., error: _Optional[_Union[FileError, _Mapping]] = ..., files: _Optional[_Iterable[_Union[FileBlob, _Mapping]]] = ...) -> None: ...

class FileBlob(_message.Message):
    __slots__ = ("header", "content")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    header: FileHeader
    content: bytes
    def __init__(self, header: _Optional[_Union[FileHeader, _Mapping]] = ..., content: _Optional[bytes] = ...) -> None: ...

class FileHeader(_message.Message):
    __slots__ = ("path", "size", "md5", "mode", "mtime_ns")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MD5_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    path: str
    size: int
    md5: str
    mode: int
    mtime_ns: int
    def __init__(self, path: _Optional[str] = ..., size: _Optional[int] = ..., md5: _Optional[str] = ..., mode: _Optional[int] = ..., mtime_ns: _Optional[int] = ...) -> None: ...

class FileError(_message.Message):
    __slots__ = ("path", "code", "message")
    class Code(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[FileError.Code]
        NOT_FOUND: _ClassVar[FileError.Code]
        REFUSED: _ClassVar[FileError.Code]
        CHANGED: _ClassVar[FileError.Code]
        UNREADABLE: _ClassVar[FileError.Code]
    UNKNOWN: FileError.Code
    NOT_FOUND: FileError.Code
    REFUSED: FileError.Code
    CHANGED: FileError.Code
    UNREADABLE: FileError.Code
    PATH_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    path: str
    code: FileError.Code
    message: str
    def __init__(self, path: _Optional[str] = ..., code: _Optional[_Union[FileError.Code, str]] = ..., message: _Optional[str] = ...) -> None: ...

class DownloadFilesRequest(_message.Message):
    __slots__ = ("paths",)
    PATHS_FIELD_NUMBER: _ClassVar[int]
    paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, paths: _Optional[_Iterable[str]] = ...) -> None: ...

class FileEvent(_message.Message):
    __slots__ = ("path", "event_type", "version", "MD5Hash", "kind", "size", "mode", "mtime_ns", "old_path", "instance_id", "content", "helper", "batch", "missing_targets", "notice")
    class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CREATE: _ClassVar[FileEvent.EventType]
        MODIFY: _ClassVar[FileEvent.EventType]
        DELETE: _ClassVar[FileEvent.EventType]
        RENAME: _ClassVar[FileEvent.EventType]
    CREATE: FileEvent.EventType
    MODIFY: FileEvent.EventType
    DELETE: FileEvent.EventType
    RENAME: FileEvent.EventType
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHANGE: _ClassVar[FileEvent.Kind]
        HELLO: _ClassVar[FileEvent.Kind]
        SNAPSHOT_FILE: _ClassVar[FileEvent.Kind]
        SNAPSHOT_END: _ClassVar[FileEvent.Kind]
        RESYNC: _ClassVar[FileEvent.Kind]
        BATCH: _ClassVar[FileEvent.Kind]
        NOTICE: _ClassVar[FileEvent.Kind]
    CHANGE: FileEvent.Kind
    HELLO: FileEvent.Kind
    SNAPSHOT_FILE: FileEvent.Kind
    SNAPSHOT_END: FileEvent.Kind
    RESYNC: FileEvent.Kind
    BATCH: FileEvent.Kind
    NOTICE: FileEvent.Kind
    PATH_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MD5HASH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    OLD_PATH_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    HELPER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    MISSING_TARGETS_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    path: str
    event_type: FileEvent.EventType
    version: int
    MD5Hash: str
    kind: FileEvent.Kind
    size: int
    mode: int
    mtime_ns: int
    old_path: str
    instance_id: str
    content: bytes
    helper: HelperInfo
    batch: _containers.RepeatedCompositeFieldContainer[FileEvent]
    missing_targets: _containers.RepeatedScalarFieldContainer[str]
    notice: str
    def __init__(self, path: _Optional[str] = ..., event_type: _Optional[_Union[FileEvent.EventType, str]] = ..., version: _Optional[int] = ..., MD5Hash: _Optional[str] = ..., kind: _Optional[_Union[FileEvent.Kind, str]] = ..., size: _Optional[int] = ..., mode: _Optional[int] = ..., mtime_ns: _Optional[int] = ..., old_path: _Optional[str] = ..., instance_id: _Optional[str] = ..., content: _Optional[bytes] = ..., helper: _Optional[_Union[HelperInfo, _Mapping]] = ..., batch: _Optional[_Iterable[_Union[FileEvent, _Mapping]]] = ..., missing_targets: _Optional[_Iterable[str]] = ..., notice: _Optional[str] = ...) -> None: ...

class FileWatchRequest(_message.Message):
    __slots__ = ("protocol", "since_version", "instance_id", "snapshot", "inline_limit", "batch")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    SINCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    INLINE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    protocol: int
    since_version: int
    instance_id: str
    snapshot: bool
    inline_limit: int
    batch: bool
    def __init__(self, protocol: _Optional[int] = ..., since_version: _Optional[int] = ..., instance_id: _Optional[str] = ..., snapshot: _Optional[bool] = ..., inline_limit: _Optional[int] = ..., batch: _Optional[bool] = ...) -> None: ...

class HelperInfo(_message.Message):
    __slots__ = ("working_dir", "targets", "target_dirs", "excludes", "helper_version", "max_inline", "backlog")
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    TARGET_DIRS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDES_FIELD_NUMBER: _ClassVar[int]
    HELPER_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_INLINE_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    working_dir: str
    targets: _containers.RepeatedScalarFieldContainer[str]
    target_dirs: _containers.RepeatedScalarFieldContainer[str]
    excludes: _containers.RepeatedScalarFieldContainer[str]
    helper_version: str
    max_inline: int
    backlog: int
    def __init__(self, working_dir: _Optional[str] = ..., targets: _Optional[_Iterable[str]] = ..., target_dirs: _Optional[_Iterable[str]] = ..., excludes: _Optional[_Iterable[str]] = ..., helper_version: _Optional[str] = ..., max_inline: _Optional[int] = ..., backlog: _Optional[int] = ...) -> None: ...
