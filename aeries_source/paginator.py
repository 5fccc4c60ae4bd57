"""Paginator for Aeries' `StartingRecord`/`EndingRecord` paging (1-based, both ends inclusive)."""

from typing import Any, List, Optional

from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response


class RecordRangePaginator(BasePaginator):
    """Walks a student list in pages of `page_size` records.

    Aeries returns no total count and no next link, so the last page is the first one that comes
    back shorter than requested (or empty).
    """

    def __init__(self, page_size: int) -> None:
        super().__init__()
        if page_size <= 0:
            raise ValueError("page_size must be positive")
        self.page_size = page_size
        self.starting_record = 1

    def init_request(self, request: Request) -> None:
        """Ask for the first page."""
        self.starting_record = 1
        self._has_next_page = True
        self._set_range(request)

    def update_state(self, response: Response, data: Optional[List[Any]] = None) -> None:
        """Stop after a short page, otherwise move the range forward by one page."""
        if not data or len(data) < self.page_size:
            self._has_next_page = False
        else:
            self.starting_record += self.page_size

    def update_request(self, request: Request) -> None:
        """Put the next range into the request's query."""
        self._set_range(request)

    def _set_range(self, request: Request) -> None:
        if request.params is None:
            request.params = {}
        params = request.params
        if not isinstance(params, dict):
            raise TypeError(f"RecordRangePaginator needs the request's params as a dict, not {type(params).__name__}")
        params["StartingRecord"] = self.starting_record
        params["EndingRecord"] = self.starting_record + self.page_size - 1

    def __str__(self) -> str:
        return f"RecordRangePaginator(page_size={self.page_size}, next={self.starting_record})"
