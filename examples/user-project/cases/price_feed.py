import multiprocessing

import grequests


def parse(body):
    """Stands in for the CPU-bound parsing we keep out of the event loop."""
    return sum(int(field) for field in body.split(","))


if __name__ == "__main__":
    batch = [grequests.get("https://prices.example/%d" % n) for n in range(3)]  # sent later, by gevent
    with multiprocessing.Pool(processes=2) as pool:
        totals = pool.map(parse, ["1,2,3", "4,5,6", "7,8,9"])
    print("parsed %d responses for %d requests: %s" % (len(totals), len(batch), totals))
