"""Realtime file events from watchdog (inotify), reduced to the few facts the watcher needs.

watchdog reports many events per logical change (created, modified xN, closed). This module only
translates them into calls on a `Sink`: `touched(path, hint)` for "look at this path now (hint
closed/attrib/created/modified)", `moved(src, dest)`, `removed(path)`, and trouble: `overflow(root)`
when the kernel queue overflowed, `watch_limit(root, path)` when inotify watches ran out (ENOSPC),
`root_lost(root)` when a watched root itself was deleted. The engine decides what is one change.

The overflow and watch-limit hooks use watchdog's inotify internals (InotifyWatchGroup); with another
watchdog layout they are skipped and the periodic rescans still catch everything, just later.
"""

from __future__ import annotations

import errno
import logging
import os
from typing import Protocol

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
    FileSystemMovedEvent,
)
from watchdog.observers import Observer

log = logging.getLogger("govwatch.fim")


class Sink(Protocol):
    def touched(self, path: str, hint: str) -> None: ...
    def moved(self, src: str, dest: str) -> None: ...
    def removed(self, path: str, is_dir: bool) -> None: ...
    def overflow(self, root: str) -> None: ...
    def watch_limit(self, root: str, path: str) -> None: ...
    def root_lost(self, root: str) -> None: ...


class _Handler(FileSystemEventHandler):
    def __init__(self, root: str, sink: Sink, only: str | None = None) -> None:
        self.root, self.sink, self.only = root, sink, only

    def dispatch(self, event: FileSystemEvent) -> None:
        if self.only is not None and self.only not in (os.fsdecode(event.src_path),
                                                        os.fsdecode(getattr(event, "dest_path", "") or "")):
            return  # a single watched file: its folder is watched, only its own events count
        try:
            self._route(event)
        except Exception:  # a bug here must not kill watchdog's dispatch thread
            log.exception("fim: failed to handle %r", event)

    def _route(self, event: FileSystemEvent) -> None:
        kind, src = event.event_type, os.fsdecode(event.src_path)
        if isinstance(event, FileSystemMovedEvent):
            dest = os.fsdecode(event.dest_path)
            if src and dest:
                self.sink.moved(src, dest)
            elif dest:
                self.sink.touched(dest, "created")
            elif src:
                self.sink.removed(src, isinstance(event, DirMovedEvent))
        elif kind == "deleted":
            if isinstance(event, DirDeletedEvent) and src == self.root:
                self.sink.root_lost(self.root)
            else:
                self.sink.removed(src, isinstance(event, DirDeletedEvent))
        elif isinstance(event, FileClosedEvent):
            self.sink.touched(src, "closed")
        elif isinstance(event, DirCreatedEvent):
            self.sink.touched(src, "created")
        elif kind in ("created", "modified", "attrib"):
            if event.is_directory and kind == "modified":
                return  # a folder's mtime moves with every entry; the entries report themselves
            self.sink.touched(src, kind)


def _hooked_observer(sinks: dict[str, Sink]) -> Observer:
    """An inotify observer whose watch groups report queue overflows and ENOSPC to the sinks."""
    try:
        from watchdog.observers.inotify import InotifyEmitter, InotifyObserver, InotifyWatchGroup
    except ImportError:
        return Observer()

    class Group(InotifyWatchGroup):
        def on_queue_overflow(self) -> None:
            super().on_queue_overflow()
            sink = sinks.get(os.fsdecode(self.path))
            if sink is not None:
                sink.overflow(os.fsdecode(self.path))

        def _add_callback(self, path: bytes) -> None:
            try:
                wd = self._inotify_fd.add_callback(path, self.event_mask, self._callback, self._id)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    sink = sinks.get(os.fsdecode(self.path))
                    if sink is not None:
                        sink.watch_limit(os.fsdecode(self.path), os.fsdecode(path))
                if path == self.path:
                    raise
                return
            self._active_callbacks_by_path[path] = wd
            self._active_callbacks_by_watch[wd] = path

    class Emitter(InotifyEmitter):
        def on_thread_start(self) -> None:
            self._inotify = Group(self._inotify_fd, os.fsencode(self.watch.path), is_recursive=self.watch.is_recursive,
                                  event_mask=_without_reads(self.get_event_mask_from_filter()), follow_symlink=False)

    try:
        observer = InotifyObserver()
        observer._emitter_class = Emitter  # noqa: SLF001 - the one supported way to plug a custom emitter
        return observer
    except (AttributeError, TypeError):
        return Observer()


def _without_reads(mask: int) -> int:
    """Drop open and close-without-write from the inotify mask: they mean nobody changed anything, yet every
    read (the web server serving a page, our own hashing) would queue two events and overflow the queue."""
    from watchdog.observers.inotify_c import InotifyConstants

    return mask & ~(InotifyConstants.IN_OPEN | InotifyConstants.IN_CLOSE_NOWRITE)


class RealtimeWatch:
    """inotify watches for several roots; `watch(root)` can be called again after a root came back."""

    def __init__(self, sinks_by_root: dict[str, Sink]) -> None:
        self.sinks = dict(sinks_by_root)
        self.observer = _hooked_observer(self.sinks)
        self.watches: dict[str, object] = {}

    def start(self) -> None:
        self.observer.start()

    def watch(self, root: str) -> bool:
        """(Re)schedule a recursive watch on `root`; False if it is missing or the watch limit is hit."""
        old = self.watches.pop(root, None)
        if old is not None:
            try:
                self.observer.unschedule(old)
            except (KeyError, ValueError, OSError):
                pass
        is_dir = os.path.isdir(root)
        if not is_dir and not os.path.isdir(os.path.dirname(root)):
            return False
        try:
            if is_dir:
                handler, where = _Handler(root, self.sinks[root]), root
            else:
                handler, where = _Handler(root, self.sinks[root], only=root), os.path.dirname(root)
            self.watches[root] = self.observer.schedule(handler, where, recursive=is_dir)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                self.sinks[root].watch_limit(root, root)
            else:
                log.warning("fim: cannot watch %s: %s", root, exc)
            return False
        return True

    def stop(self) -> None:
        try:
            self.observer.stop()
            self.observer.join(timeout=10)
        except RuntimeError:
            pass
