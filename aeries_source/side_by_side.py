"""Per-school reads made side by side, handed back in the schools' order."""

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Deque, Iterable, Iterator, Optional, Tuple, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
_END = object()  # what `next` gives once the items are through


def side_by_side(
    items: Iterable[Item], fetch: Callable[[Item], Result], ahead: int = 4,
    ahead_after: Optional[Callable[[Result], int]] = None,
) -> Iterator[Tuple[Item, Result]]:
    """Yield `(item, fetch(item))` in the order of `items`, with up to `ahead` fetches running at once.

    Setup reads (calendars, absence codes, student pages, enrollment) are one request or a few per
    school; made one school after the other, each waits out the server's latency in turn (with
    100 ms per response, seconds per sync). The client's request limiter still bounds how many
    requests are in flight. At most `ahead` results wait unconsumed, so memory stays bounded.
    An exception of `fetch` is raised where its item would have been yielded; closing the generator
    cancels the fetches not yet started and waits for the running ones.

    `ahead_after`, when given, sets how many fetches run from then on from each result as it is
    taken (at least one, at most `ahead`): a caller whose results differ in size can keep fewer
    large ones at once.
    """
    workers = max(1, ahead)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aeries-side-by-side")
    pending: Deque[Tuple[Item, "Future[Result]"]] = deque()
    source = iter(items)
    try:
        for item in source:
            pending.append((item, pool.submit(fetch, item)))
            if len(pending) >= ahead:
                break
        while pending:
            item, future = pending.popleft()
            result = future.result()
            del future  # it holds the result too
            if ahead_after is not None:
                ahead = max(1, min(workers, ahead_after(result)))
            while len(pending) < ahead:  # keep `ahead` fetches going while the caller works on this one
                following = next(source, _END)
                if following is _END:
                    break
                pending.append((following, pool.submit(fetch, following)))  # type: ignore[arg-type]
            yield item, result
            del result  # not held here while the next fetch is awaited (it may be megabytes of rows)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
