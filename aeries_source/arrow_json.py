"""A JSON array read by Arrow's JSON reader with an explicit element type, where orjson would read it too."""

from typing import Any, Dict, List, Optional

import orjson
import pyarrow as pa
import pyarrow.json as pa_json


def read_array(body: bytes, element: pa.DataType) -> Optional[pa.Array]:
    """Read a JSON array body as Arrow values of `element`; None when Arrow refuses it or orjson would.

    The body is read wrapped in an object, as Arrow's reader takes a row per object. With an explicit
    type, Arrow refuses any value of another JSON type and a chosen key given twice; fields the type
    does not name are skipped. A body that is `null` or a bare object gives None too, so that the
    caller decodes it the usual way (`decoded`). A null element is a null value.
    """
    if not arrow_agrees_with_orjson(body):
        return None
    wrapped = b'{"values":' + body + b"}"
    try:
        table = pa_json.read_json(
            pa.BufferReader(wrapped),  # reads the bytes where they are; a Python file object is copied in
            # One block holds the whole body: Arrow's reader needs a row (here the body) within a block.
            read_options=pa_json.ReadOptions(block_size=len(wrapped) + 1, use_threads=False),
            parse_options=pa_json.ParseOptions(explicit_schema=pa.schema([("values", pa.list_(element))]),
                                               unexpected_field_behavior="ignore", newlines_in_values=True),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    column = table.column("values")
    if table.num_rows != 1 or column.null_count:  # `null`, or not one JSON value
        return None
    return (column.chunk(0) if column.num_chunks == 1 else pa.concat_arrays(column.chunks)).flatten()


def arrow_agrees_with_orjson(body: bytes) -> bool:
    """Whether Arrow's JSON reader may read the body: orjson would take every byte of it too.

    Arrow's reader is more lenient than orjson: it takes NaN and Infinity, and it leaves the UTF-8
    of text unchecked (a Latin-1 name in a field it skips, or one it keeps, which then fails where
    the text is used). Such a body is decoded by orjson, which refuses it as before (the client
    retries it as malformed) or, when "NaN" was only inside a string, decodes it. (Arrow still
    takes object members after the array, `[...], "k": v`, as the body is read wrapped in an
    object; no server writes that by accident.)
    """
    if b"NaN" in body or b"Infinity" in body:
        return False
    if body.isascii():  # valid UTF-8, without decoding a copy of the body
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decoded(body: bytes) -> List[Dict[str, Any]]:
    """The body decoded by orjson as a list of records: JSON `null` is none, a bare object is one.

    Raises:
        orjson.JSONDecodeError: When the body is not JSON (the client retries it as malformed).
    """
    value = orjson.loads(body)
    return [] if value is None else value if isinstance(value, list) else [value]
