"""The cells of one pytest process, run concurrently ahead of the test items that report them.

An item asks for its record and waits; the running is hangmatrix.run.runner's (many cells at once, one
supervisor server per pytest process, so each xdist worker has its own), the storing
hangmatrix.store.records'. Closing stops the server, which kills every cell still running: after -x or
Ctrl-C nothing outlives the session, and no record of an aborted cell is stored."""

import threading
from concurrent.futures import Future


class Runs:
    def __init__(self, jobs, store):
        self.jobs, self.store = jobs, store
        self.server = None
        self.futures = {}  # key (a node id, or a fixture call's own) -> Future of the record
        self.threads = []
        self.closing = False
        self.lock = threading.Lock()

    def start(self, keyed):
        """Start running [(key, PlannedCell of run.plan)] in the background, each key once."""
        with self.lock:
            new = [(key, planned) for key, planned in keyed if key not in self.futures]
            if not new or self.closing:
                return
            if self.server is None:
                from ..run import runner

                self.server = runner.Supervisors()
            waiting = {}  # cell id -> futures, one per run asked for (repeats share the id)
            for key, planned in new:
                self.futures[key] = Future()
                waiting.setdefault(planned.id, []).append(self.futures[key])
            thread = threading.Thread(
                target=self._execute, args=([p for _, p in new], waiting), name="hangmatrix-cells", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def _execute(self, planned, waiting):
        from ..run import runner
        from ..store import records

        def done(rec):
            if not self.closing:
                records.append(self.store, rec)
            waiting[rec.id].pop(0).set_result(rec)

        problem = RuntimeError("hangmatrix: the runner returned no record for this cell")
        try:
            runner.execute(planned, jobs=self.jobs, on_record=done, server=self.server)
        except BaseException as exc:
            problem = exc
        for futures in waiting.values():
            for future in futures:
                future.set_exception(problem)

    def record(self, key, planned):
        """The record of one cell run, started now unless it already was; waits for it."""
        self.start([(key, planned)])
        future = self.futures.get(key)
        if future is None:
            raise RuntimeError("hangmatrix: the session is closing; cell %s was not run" % planned.id)
        return future.result()

    def close(self):
        """Stop every cell still running (the server kills their trees) and wait for the runs to end."""
        with self.lock:
            self.closing = True
        if self.server is not None:
            self.server.close()
        for thread in self.threads:
            thread.join()
