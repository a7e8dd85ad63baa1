"""moto_server with its SQS backend made thread-safe. Test-only; started by test/with-sqs.ts.

moto 5.2.5 serves each request on its own thread, and its SQS backend mutates shared state with
no lock: two concurrent ReceiveMessage calls can hand out the same message, and two concurrent
DeleteMessage(Batch) calls each rebuild the queue's message list from their own snapshot, so one
of the deletes is lost and a deleted message comes back (seen in our suite, about once a
run). Real SQS does neither in normal operation, so tests that count messages would fail at
random. This runs the same moto_server with one lock around every SQS backend call, released
while a long poll waits (so a SendMessage can end the wait). Arguments are moto_server's.
"""

import inspect
import sys
import threading

from moto.server import main
from moto.sqs import models

_lock = threading.RLock()


def _locked(method):
    def call(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


for _name, _member in list(vars(models.SQSBackend).items()):
    if inspect.isfunction(_member) and not _name.startswith("_"):
        setattr(models.SQSBackend, _name, _locked(_member))

_wait_for_messages = models.Queue.wait_for_messages


def _wait_unlocked(self, timeout):
    held = 0
    while True:
        try:
            _lock.release()
        except RuntimeError:  # no longer held by this thread
            break
        held += 1
    try:
        _wait_for_messages(self, timeout)
    finally:
        for _ in range(held):
            _lock.acquire()


models.Queue.wait_for_messages = _wait_unlocked

if __name__ == "__main__":
    sys.exit(main())
