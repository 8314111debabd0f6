"""Omnex: durable memory for AI applications.

- ``omnex.Omnex(path)`` opens the engine in this process (SQLite, HNSW, local model).
- ``omnex.Client(url, api_key=...)`` talks to an ``omnex serve`` with the same API.

Both have ``.contexts`` (put/get/delete/list/history) and ``.memories``
(add/add_many/add_async/get/update/delete/list/search/history); the change feed
is read with ``changes()`` and ``follow()``, jobs with ``job()`` and
``cancel_job()``. ``omnex.AsyncOmnex`` and ``omnex.AsyncClient`` have the same
methods, awaitable. Errors derive from ``omnex.OmnexError`` and carry ``.code``
(and ``.field`` for invalid input).
"""

from ._omnex import (
    AsyncClient,
    AsyncContextIterator,
    AsyncContexts,
    AsyncEventFollower,
    AsyncMemories,
    AsyncMemoryIterator,
    AsyncOmnex,
    Client,
    ConflictError,
    Context,
    ContextIterator,
    Contexts,
    Event,
    EventFollower,
    EventPage,
    ForbiddenError,
    InternalError,
    InvalidInputError,
    Job,
    Memories,
    Memory,
    MemoryIterator,
    NotFoundError,
    Omnex,
    OmnexError,
    SearchHit,
    UnauthorizedError,
    UnavailableError,
    UnsupportedError,
    __version__,
)

#: The same class as :class:`UnauthorizedError`: the server refused the credentials.
Unauthorized = UnauthorizedError

__all__ = [
    "AsyncClient",
    "AsyncContextIterator",
    "AsyncContexts",
    "AsyncEventFollower",
    "AsyncMemories",
    "AsyncMemoryIterator",
    "AsyncOmnex",
    "Client",
    "ConflictError",
    "Context",
    "ContextIterator",
    "Contexts",
    "Event",
    "EventFollower",
    "EventPage",
    "ForbiddenError",
    "InternalError",
    "InvalidInputError",
    "Job",
    "Memories",
    "Memory",
    "MemoryIterator",
    "NotFoundError",
    "Omnex",
    "OmnexError",
    "SearchHit",
    "Unauthorized",
    "UnauthorizedError",
    "UnavailableError",
    "UnsupportedError",
    "__version__",
]
