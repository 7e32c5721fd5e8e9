"""Turn MODEL (a directory, a ``.tar.gz`` archive, a URL or a model-hub handle) into a local directory.

:func:`resolve_model` is the only entry point. It never imports TensorFlow (the CLI process stays
light; the checks run in a child process), and it sorts what can go wrong into two kinds:

* problems with *how to get* the model raise :class:`SourceError`, typed by cause: a path that does
  not exist (:class:`NotFoundError`), ``--offline`` without a cached copy (:class:`SourceError`), a
  cache folder that is not the user's alone (:class:`CacheError`), all usage errors (exit 2); a host
  that cannot be reached, answers with an error status, redirects elsewhere than the same scheme or
  https, or is too slow (:class:`FetchError`, exit 4); a bug in hubcheck (:class:`InternalError`,
  exit 3). :mod:`hubcheck.exitcodes` maps the types to exit codes;
* problems with *the model's bytes* (a corrupt, unsafe or oversized archive, no SavedModel at the
  archive's root) never raise: the :class:`ResolvedModel` carries a one-line, bounded ``problem``
  and an empty, safe ``local_path``, and the ``load`` check fails with that sentence, so a
  publishing pipeline still gets a complete report.

The parts, each readable on its own (docs/sources.md has the threat model):

========================  ===========================================================================
:mod:`.archive`           unpacking a stranger's tar archive: one pass, hashed, bounded, files only
:mod:`.http`              one download: deadlines, a rate floor, safe redirects, a size bound
:mod:`.cache`             where the cache is and refusing one (or an entry) others could have written
:mod:`.lock`              the lock on a hub cache entry, shared with tensorflow_hub, waits that end
:mod:`.hashing`           the content hash of a model's files
:mod:`.resolve`           MODEL to a local folder: directories, archives, URLs, hub handles
:mod:`.errors`            the error types and bounded quoting of untrusted text
========================  ===========================================================================

URLs and handles share tensorflow_hub's cache layout: the entry for handle ``H`` is
``<cache>/<sha1(H)>``, downloaded from ``H?tf-hub-format=compressed``, written under the lock file
``<entry>.lock`` into ``<entry>.<uid>.tmp`` and renamed into place, with ``<entry>.descriptor.txt``
beside it. hubcheck does the download itself rather than calling ``tensorflow_hub.resolve``
(docs/sources.md says why).
"""

from __future__ import annotations

from hubcheck.sources.archive import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS
from hubcheck.sources.cache import TFHUB_CACHE_ENV, cache_root, default_cache_root
from hubcheck.sources.errors import (
    EXIT_FETCH,
    EXIT_USAGE,
    ArchiveError,
    CacheError,
    FetchError,
    InternalError,
    NotFoundError,
    SourceError,
)
from hubcheck.sources.hashing import EMPTY_HASH, content_hash
from hubcheck.sources.http import MAX_REDIRECTS, MIN_RATE, ProgressFn
from hubcheck.sources.resolve import (
    ARCHIVE_SUFFIXES,
    DOWNLOAD_TIME_FACTOR,
    FETCH_TIMEOUT_S,
    HUB_HOSTS,
    UNPACK_TIMEOUT_S,
    ResolvedModel,
    hub_handle,
    resolve_model,
)
from hubcheck.ui import download_progress  # the command line's download bar, where it always was

__all__ = [
    "ARCHIVE_SUFFIXES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_MEMBERS",
    "DOWNLOAD_TIME_FACTOR",
    "EMPTY_HASH",
    "EXIT_FETCH",
    "EXIT_USAGE",
    "FETCH_TIMEOUT_S",
    "HUB_HOSTS",
    "MAX_REDIRECTS",
    "MIN_RATE",
    "TFHUB_CACHE_ENV",
    "UNPACK_TIMEOUT_S",
    "ArchiveError",
    "CacheError",
    "FetchError",
    "InternalError",
    "NotFoundError",
    "ProgressFn",
    "ResolvedModel",
    "SourceError",
    "cache_root",
    "content_hash",
    "default_cache_root",
    "download_progress",
    "hub_handle",
    "resolve_model",
]
