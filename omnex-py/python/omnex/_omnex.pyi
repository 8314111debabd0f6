"""Type stubs of the native module (omnex-py/src)."""

import builtins
import datetime
from typing import Any, AsyncIterator, Iterator, Literal, Optional, Sequence, Union, final

_JSON = Any
_SearchMode = Literal["semantic", "keyword", "hybrid"]
_EventKind = Literal[
    "memory.add",
    "memory.update",
    "memory.delete",
    "memory.expire",
    "context.put",
    "context.delete",
    "context.expire",
]
_JobKind = Literal["embed", "import", "export", "reindex", "cleanup", "webhook"]
_JobStatus = Literal["queued", "running", "done", "cancelled", "dead"]
__version__: str

class OmnexError(Exception):
    code: str
    field: Optional[str]

class NotFoundError(OmnexError): ...
class ConflictError(OmnexError): ...
class InvalidInputError(OmnexError): ...
class UnauthorizedError(OmnexError): ...
class ForbiddenError(OmnexError): ...
class UnsupportedError(OmnexError): ...
class UnavailableError(OmnexError): ...
class InternalError(OmnexError): ...

@final
class Memory:
    """A memory: text with metadata, scope and timestamps."""

    @property
    def id(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def metadata(self) -> dict[str, _JSON]: ...
    @property
    def tenant(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def user_id(self) -> Optional[str]: ...
    @property
    def agent_id(self) -> Optional[str]: ...
    @property
    def session_id(self) -> Optional[str]: ...
    @property
    def embedding(self) -> Optional[list[float]]: ...
    @property
    def created_at(self) -> datetime.datetime: ...
    @property
    def updated_at(self) -> datetime.datetime: ...
    @property
    def expires_at(self) -> Optional[datetime.datetime]: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Context:
    """A _JSON value under namespace/key, with tags and a version."""

    @property
    def tenant(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> _JSON: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def version(self) -> int: ...
    @property
    def created_at(self) -> datetime.datetime: ...
    @property
    def updated_at(self) -> datetime.datetime: ...
    @property
    def expires_at(self) -> Optional[datetime.datetime]: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class SearchHit:
    """A memory and its score: cosine similarity (semantic), BM25 (keyword) or the
    fused score in [0, 1] (hybrid), times any ranking signals."""

    @property
    def memory(self) -> Memory: ...
    @property
    def score(self) -> float: ...
    @property
    def explain(self) -> Optional[dict[str, Any]]: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Event:
    """One change to a context or a memory, as the change feed and histories show it."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> _EventKind: ...
    @property
    def at(self) -> datetime.datetime: ...
    @property
    def tenant(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def key(self) -> Optional[str]: ...
    @property
    def user_id(self) -> Optional[str]: ...
    @property
    def agent_id(self) -> Optional[str]: ...
    @property
    def session_id(self) -> Optional[str]: ...
    @property
    def version(self) -> int: ...
    @property
    def actor(self) -> Optional[str]: ...
    @property
    def data(self) -> Optional[dict[str, Any]]: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class EventPage:
    """A page of the change feed: events oldest first, and where to resume (`next`)."""

    @property
    def events(self) -> list[Event]: ...
    @property
    def next(self) -> int: ...
    @property
    def more(self) -> bool: ...
    @property
    def oldest(self) -> int: ...

@final
class Job:
    """A background job, such as an asynchronous batch of memories."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> _JobKind: ...
    @property
    def status(self) -> _JobStatus: ...
    @property
    def finished(self) -> bool: ...
    @property
    def done(self) -> int: ...
    @property
    def total(self) -> Optional[int]: ...
    @property
    def attempts(self) -> int: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def error(self) -> Optional[str]: ...
    @property
    def output(self) -> Optional[_JSON]: ...
    @property
    def created_at(self) -> datetime.datetime: ...
    @property
    def updated_at(self) -> datetime.datetime: ...
    @property
    def finished_at(self) -> Optional[datetime.datetime]: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class EventFollower(Iterator[Event]):
    """The change feed, forever: `for event in db.follow()`."""

    def __iter__(self) -> EventFollower: ...
    def __next__(self) -> Event: ...

@final
class AsyncEventFollower(AsyncIterator[Event]):
    """The change feed, forever: `async for event in db.follow()`."""

    def __aiter__(self) -> AsyncEventFollower: ...
    async def __anext__(self) -> Event: ...

@final
class ContextIterator(Iterator[Context]):
    def __iter__(self) -> ContextIterator: ...
    def __next__(self) -> Context: ...

@final
class MemoryIterator(Iterator[Memory]):
    def __iter__(self) -> MemoryIterator: ...
    def __next__(self) -> Memory: ...

@final
class Contexts:
    def put(
        self,
        namespace: str,
        key: str,
        value: _JSON,
        *,
        tags: Optional[Sequence[str]] = None,
        if_version: Optional[int] = None,
        ttl_seconds: Optional[int] = None,
    ) -> Context: ...
    def get(self, namespace: str, key: str) -> Context: ...
    def delete(self, namespace: str, key: str, *, if_version: Optional[int] = None) -> None: ...
    def history(self, namespace: str, key: str) -> builtins.list[Event]: ...
    def list(
        self,
        *,
        namespace: Optional[str] = None,
        tag: Optional[str] = None,
        prefix: Optional[str] = None,
        page_size: Optional[int] = None,
    ) -> ContextIterator: ...

@final
class Memories:
    def add(
        self,
        content: str,
        *,
        metadata: Optional[dict[str, _JSON]] = None,
        namespace: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        embedding: Optional[Sequence[float]] = None,
        ttl_seconds: Optional[int] = None,
    ) -> Memory: ...
    def add_many(
        self,
        items: Sequence[Union[str, dict[str, Any]]],
        *,
        namespace: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
    ) -> builtins.list[Memory]: ...
    def add_async(
        self,
        items: Sequence[Union[str, dict[str, Any]]],
        *,
        namespace: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
    ) -> Job: ...
    def get(self, id: str) -> Memory: ...
    def update(
        self,
        id: str,
        *,
        content: Optional[str] = None,
        metadata: Optional[dict[str, _JSON]] = None,
        embedding: Optional[Sequence[float]] = None,
        ttl_seconds: Optional[int] = None,
    ) -> Memory: ...
    def delete(self, id: str) -> None: ...
    def history(self, id: str) -> builtins.list[Event]: ...
    def list(
        self,
        *,
        namespace: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        filter: Optional[dict[str, _JSON]] = None,
        page_size: Optional[int] = None,
        include_embedding: bool = False,
    ) -> MemoryIterator: ...
    def search(
        self,
        query: Optional[str] = None,
        *,
        vector: Optional[Sequence[float]] = None,
        mode: Optional[_SearchMode] = None,
        limit: Optional[int] = None,
        namespace: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        filter: Optional[dict[str, _JSON]] = None,
        min_score: Optional[float] = None,
        rrf_k: Optional[float] = None,
        semantic_weight: Optional[float] = None,
        keyword_weight: Optional[float] = None,
        recency_half_life: Optional[str] = None,
        boost_field: Optional[str] = None,
        explain: bool = False,
        include_embedding: bool = False,
    ) -> builtins.list[SearchHit]: ...

@final
class Omnex:
    """Durable memory in this process (SQLite + HNSW + the local model)."""

    contexts: Contexts
    memories: Memories
    def __init__(
        self,
        path: str = "./omnex-data",
        *,
        storage: Optional[str] = None,
        index: Optional[str] = None,
        embedder: Optional[str] = None,
        cache: Optional[str] = None,
        model_dir: Optional[str] = None,
        install_model: bool = False,
    ) -> None: ...
    def changes(
        self,
        since: int = 0,
        *,
        namespaces: Optional[Sequence[str]] = None,
        kinds: Optional[Sequence[str]] = None,
        include_data: bool = False,
        limit: Optional[int] = None,
    ) -> EventPage: ...
    def follow(
        self,
        since: int = 0,
        *,
        namespaces: Optional[Sequence[str]] = None,
        kinds: Optional[Sequence[str]] = None,
        include_data: bool = False,
        poll_interval: float = 0.5,
    ) -> EventFollower: ...
    def job(self, id: str) -> Job: ...
    def cancel_job(self, id: str) -> Job: ...

@final
class Client:
    """The same API against a running `omnex serve`."""

    contexts: Contexts
    memories: Memories
    def __init__(
        self, url: str = "http://127.0.0.1:8080", *, api_key: Optional[str] = None, use_tokens: bool = False
    ) -> None: ...
    def changes(
        self,
        since: int = 0,
        *,
        namespaces: Optional[Sequence[str]] = None,
        kinds: Optional[Sequence[str]] = None,
        include_data: bool = False,
        limit: Optional[int] = None,
    ) -> EventPage: ...
    def follow(
        self,
        since: int = 0,
        *,
        namespaces: Optional[Sequence[str]] = None,
        kinds: Optional[Sequence[str]] = None,
        include_data: bool = False,
        poll_interval: float = 0.5,
    ) -> EventFollower: ...
    def job(self, id: str) -> Job: ...
    def cancel_job(self, id: str) -> Job: ...

@final
class AsyncContextIterator(AsyncIterator[Context]):
    def __aiter__(self) -> AsyncContextIterator: ...
    async def __anext__(self) -> Context: ...

@final
class AsyncMemoryIterator(AsyncIterator[Memory]):
    def __aiter__(self) -> AsyncMemoryIterator: ...
    async def __anext__(self) -> Memory: ...

@final
class AsyncContexts:
    async def put(
        self,
        namespace: str,
        key: str,
        value: _JSON,
        *,
        tags: Optional[Sequence[str]] = None,
        if_version: Optional[int] = None,
        ttl_seconds: Optional[int] = None,
    ) -> Context: ...
    async def get(self, namespace: str, key: str) -> Context: ...
    async def delete(self, namespace: str, key: str, *, if_version: Optional[int] = None) -> None: ...
    async def history(self, namespace: str, key: str) -> builtins.list[Event]: ...
    def list(
        self,
        *,
        namespace: Optional[str] = None,
        tag: Optional[str] = None,
        prefix: Optional[str] = None,
        page_size: Optional[int] = None,
    ) -> AsyncContextIterator: ...

@final
class AsyncMemories:
    async def add(
        self,
        content: str,
        *,
        metadata: Optional[dict[str, _JSON]] = None,
        namespace: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        embedding: Optional[Sequence[float]] = None,
        ttl_seconds: Optional[int] = None,
    ) -> Memory: ...
    async def add_many(
        self,
        items: Sequence[Union[str, dict[str, Any]]],
        *,
        namespace: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
    ) -> builtins.list[Memory]: ...
    async def add_async(
        self,
        items: Sequence[Union[str, dict[str, Any]]],
        *,
        namespace: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
    ) -> Job: ...
    async def get(self, id: str) -> Memory: ...
    async def update(
        self,
        id: str,
        *,
        content: Optional[str] = None,
        metadata: Optional[dict[str, _JSON]] = None,
        embedding: Optional[Sequence[float]] = None,
        ttl_seconds: Optional[int] = None,
    ) -> Memory: ...
    async def delete(self, id: str) -> None: ...
    async def history(self, id: str) -> builtins.list[Event]: ...
    def list(
        self,
        *,
        namespace: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        filter: Optional[dict[str, _JSON]] = None,
        page_size: Optional[int] = None,
        include_embedding: bool = False,
    ) -> AsyncMemoryIterator: ...
    async def search(
        self,
        query: Optional[str] = None,
        *,
        vector: Optional[Sequence[float]] = None,
        mode: Optional[_SearchMode] = None,
        limit: Optional[int] = None,
        namespace: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        filter: Optional[dict[str, _JSON]] = None,
        min_score: Optional[float] = None,
        rrf_k: Optional[float] = None,
        semantic_weight: Optional[float] = None,
        keyword_weight: Optional[float] = None,
        recency_half_life: Optional[str] = None,
        boost_field: Optional[str] = None,
        explain: bool = False,
        include_embedding: bool = False,
    ) -> builtins.list[SearchHit]: ...

@final
class AsyncOmnex:
    """Like Omnex, with awaitable methods."""

    contexts: AsyncContexts
    memories: AsyncMemories
    def __init__(
        self,
        path: str = "./omnex-data",
        *,
        storage: Optional[str] = None,
        index: Optional[str] = None,
        embedder: Optional[str] = None,
        cache: Optional[str] = None,
        model_dir: Optional[str] = None,
        install_model: bool = False,
    ) -> None: ...
    async def changes(
        self,
        since: int = 0,
        *,
        namespaces: Optional[Sequence[str]] = None,
        kinds: Optional[Sequence[str]] = None,
        include_data: bool = False,
        limit: Optional[int] = None,
    ) -> EventPage: ...
    def follow(
        self,
        since: int = 0,
        *,
        namespaces: Optional[Sequence[str]] = None,
        kinds: Optional[Sequence[str]] = None,
        include_data: bool = False,
        poll_interval: float = 0.5,
    ) -> AsyncEventFollower: ...
    async def job(self, id: str) -> Job: ...
    async def cancel_job(self, id: str) -> Job: ...

@final
class AsyncClient:
    """Like Client, with awaitable methods."""

    contexts: AsyncContexts
    memories: AsyncMemories
    def __init__(
        self, url: str = "http://127.0.0.1:8080", *, api_key: Optional[str] = None, use_tokens: bool = False
    ) -> None: ...
    async def changes(
        self,
        since: int = 0,
        *,
        namespaces: Optional[Sequence[str]] = None,
        kinds: Optional[Sequence[str]] = None,
        include_data: bool = False,
        limit: Optional[int] = None,
    ) -> EventPage: ...
    def follow(
        self,
        since: int = 0,
        *,
        namespaces: Optional[Sequence[str]] = None,
        kinds: Optional[Sequence[str]] = None,
        include_data: bool = False,
        poll_interval: float = 0.5,
    ) -> AsyncEventFollower: ...
    async def job(self, id: str) -> Job: ...
    async def cancel_job(self, id: str) -> Job: ...
