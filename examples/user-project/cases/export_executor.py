from concurrent.futures import ProcessPoolExecutor

import gevent
from gevent import monkey
monkey.patch_all(thread=False)


def format_rows(table):
    return ["%s,%d" % (table, row) for row in range(20)]


def export(executor, table, out):
    out.extend(executor.submit(format_rows, table).result())


if __name__ == "__main__":
    rows = []
    with ProcessPoolExecutor(max_workers=2) as executor:
        gevent.joinall([gevent.spawn(export, executor, t, rows) for t in ("users", "orders", "items")])
    print("exported %d rows" % len(rows))
