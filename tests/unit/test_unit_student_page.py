"""Student pages parsed by Arrow into the chosen fields hold what a whole orjson decode gives, or fall back to it."""

import json
import random
from datetime import date
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple
from urllib.parse import parse_qs, urlsplit

import orjson
import pyarrow as pa
import pytest
import responses

from aeries_source import errors, settings
from aeries_source.arrow_rows import rows_table
from aeries_source.client import AeriesClient, RetryPolicy, _as_list
from aeries_source.student_page import STUDENT_FIELD_TYPES, StudentPage, page_parser, parse_student_page
from aeries_source.students import PageRows, page_rows_of
from aeries_source.transform import RejectedRecord, snake_case, snake_record, text_column_hints

# -- the documented student fields (../shared/aeries-api.md section 4.1) --------------------------------
INT, TEXT, DATETIME, BOOL, NUMBER = "int", "text", "datetime", "bool", "number"
DOCUMENTED: Dict[str, str] = {
    "StudentID": INT, "OldStudentID": INT, "SchoolCode": INT, "StudentNumber": INT, "StateStudentID": TEXT,
    **{name: TEXT for name in ("LastName", "FirstName", "MiddleName", "LastNameAlias", "FirstNameAlias",
                               "MiddleNameAlias", "Gender")},
    "Grade": INT, "GradeLevelShortDescription": TEXT, "GradeLevelLongDescription": TEXT, "Birthdate": DATETIME,
    "ParentGuardianName": TEXT, "HomePhone": TEXT, "StudentMobilePhone": TEXT,
    **{f"{kind}Address{part}": TEXT for kind in ("Mailing", "Residence") for part in ("", "City", "State",
                                                                                   "ZipCode", "ZipExt")},
    "AddressVerified": BOOL, "EthnicityCode": TEXT,
    **{f"RaceCode{n}": TEXT for n in range(1, 6)}, **{f"UserCode{n}": TEXT for n in range(1, 14)},
    "SchoolEnterDate": DATETIME, "DistrictEnterDate": DATETIME, "SchoolLeaveDate": DATETIME,
    **{name: TEXT for name in ("Track", "LockerNumber", "AttendanceProgramCodePrimary",
                               "AttendanceProgramCodeAdditional1", "AttendanceProgramCodeAdditional2")},
    "LowSchedulingPeriod": INT, "HighSchedulingPeriod": INT, "InactiveStatusCode": TEXT, "FamilyKey": INT,
    **{name: TEXT for name in ("LanguageFluencyCode", "HomeLanguageCode", "CorrespondenceLanguageCode",
                               "ParentEdLevelCode", "NotificationPreferenceCode", "RecordsReleaseCode",
                               "ParentEmailAddress", "StudentEmailAddress", "StudentPersonalEmailAddress",
                               "NetworkLoginID")},
    "CounselorNumber": INT, "HomeRoomTeacherNumber": TEXT, "EarlyWarningPoints": NUMBER,
    "NextSchoolCode": INT, "NextGrade": INT, "NextGradeLevelShortDescription": TEXT,
    "NextGradeLevelLongDescription": TEXT,
}
SMALL_FIELDS = ("StudentID", "SchoolCode", "LastName", "SchoolLeaveDate")
BOOL_FIELDS = ("StudentID", "SchoolCode", "AddressVerified", "FirstName", "Birthdate", "Grade")
ALL_TYPED_FIELDS = tuple(STUDENT_FIELD_TYPES)
SELECTIONS = [
    pytest.param(settings.DEFAULT_STUDENT_FIELDS, id="default"),
    pytest.param(SMALL_FIELDS, id="small"),
    pytest.param(BOOL_FIELDS, id="with-bool"),
    pytest.param(ALL_TYPED_FIELDS, id="every-typed-field"),
]

TEXTS = ("", "  ", "\t", "Nguyen", "Mai", "José", "Zoë", "Ærøskøbing", "李小龙", "Đặng", "🙂 smile", 'O"Brien',
         'say "hi"', "back\\slash", "C:\\path\\", "line\nbreak", "cr\r\nlf", "tab\there", "nul\x00char",
         "\u2028sep", "</script>", "0", "10", "M", "F", "X", "Y", "N", "true", "null", "1.5", '"StudentID":',
         "a@example.org", "5551234567")
DATES = ("2024-08-15T00:00:00", "2009-03-02T00:00:00", "2023-08-16T00:00:00", "0001-01-01T00:00:00")
EXTRAS: Tuple[Tuple[str, Any], ...] = (("Contacts", [{"Name": "x", "Phone": None}]), ("Flags", {"a": [1, 2.5]}),
                                       ("NewField", True), ("Score", 1e-3))


# -- synthetic Aeries students -------------------------------------------------------------------------
def make_value(rng: random.Random, name: str) -> Any:
    """A value of the field's documented JSON type (now and then null, blank or an unparseable date)."""
    kind = DOCUMENTED[name]
    if rng.random() < 0.03 or (name == "SchoolLeaveDate" and rng.random() < 0.7):
        return None
    if kind == INT:
        roll = rng.random()
        return 2**63 - 1 if roll < 0.01 else -(2**63) if roll < 0.02 else rng.randint(-2, 18) if roll < 0.5 \
            else rng.randint(0, 99_999_999)
    if kind == BOOL:
        return rng.random() < 0.5
    if kind == NUMBER:
        return rng.choice((0.0, 34.0, 12.5, 3, 0))  # written 34 or 34.0
    if kind == DATETIME:
        roll = rng.random()
        return "" if roll < 0.05 else "  " if roll < 0.08 else "not a date" if roll < 0.09 else rng.choice(DATES)
    return rng.choice(TEXTS)


def make_record(rng: random.Random, order: Sequence[str], complete: bool = False) -> Dict[str, Any]:
    """A student in `order` (or shuffled), missing some fields and carrying extra ones unless `complete`."""
    names = list(order)
    if rng.random() < 0.3:
        rng.shuffle(names)
    record = {name: make_value(rng, name) for name in names if complete or rng.random() > 0.05}
    if not complete and rng.random() < 0.3:
        extra_name, extra_value = rng.choice(EXTRAS)
        record[extra_name] = extra_value
    return record


def serialize(rng: random.Random, records: List[Dict[str, Any]]) -> bytes:
    """The page as a server might write it: compact UTF-8, ASCII with \\u escapes, or indented."""
    style = rng.randrange(3)
    if style == 0:
        return orjson.dumps(records)
    if style == 1:
        return json.dumps(records, ensure_ascii=True).encode()
    return json.dumps(records, ensure_ascii=False, indent=1).encode()


def make_page(seed: int, complete: bool = False) -> bytes:
    rng = random.Random(seed)
    order = list(DOCUMENTED)
    if rng.random() < 0.5:
        rng.shuffle(order)
    records = [make_record(rng, order, complete) for _ in range(rng.randint(0, 50))]
    return orjson.dumps(records) if complete else serialize(rng, records)


PAGES = [make_page(seed) for seed in range(200)]


# -- the two paths through the students transform ---------------------------------------------------------
def strict(row: Dict[str, Any]) -> Dict[str, Tuple[type, Any]]:
    """A row with its NULLs left out (a missing key and a null both load as NULL) and its value types kept.

    Types are compared too: in Python 1 == 1.0 == True, while they load as bigint, double and bool.
    """
    return {key: (type(value), value) for key, value in row.items() if value is not None}


def transformed(record: Dict[str, Any], fields: Sequence[str]) -> Tuple[Any, ...]:
    """What the students transform makes of a record: its row and blanked columns, or that it is rejected."""
    blanked: Set[str] = set()
    date_fields = [f for f in settings.STUDENT_DATE_FIELDS if f in fields]
    try:
        row = snake_record(record, fields=fields, date_fields=date_fields, blanked=blanked)
    except RejectedRecord:
        return ("rejected",)  # the reason `rows()` records comes from the whole record (`full()`)
    return ("row", strict(row), blanked)


def school_rows(pages: List[List[Dict[str, Any]]], fields: Sequence[str]) -> Tuple[List[Dict[str, Any]], int, Set[str]]:
    """What `students_resource`'s `rows()` keeps of a school: good rows, rejects and blanked columns.

    As there, each page goes through `students.page_rows_of`, with `snake_record` as the transform.
    """
    date_fields = [f for f in settings.STUDENT_DATE_FIELDS if f in fields]
    blanked: Set[str] = set()
    good: List[Dict[str, Any]] = []
    rejected = 0

    def transform(records: List[Dict[str, Any]]) -> PageRows:
        rows, bad, page_blanked = [], [], set()  # type: ignore[var-annotated]
        for record in records:
            try:
                rows.append(snake_record(record, fields=fields, date_fields=date_fields, blanked=page_blanked))
            except RejectedRecord:
                bad.append(record)
        return rows, bad, page_blanked

    for page in pages:
        page_rows, bad, page_blanked = page_rows_of(page, transform)
        blanked |= page_blanked
        good += page_rows
        rejected += len(bad)
    return good, rejected, blanked


def loaded_table(rows: List[Dict[str, Any]], blanked: Set[str], fields: Sequence[str]) -> Optional[pa.Table]:
    """The rows as `as_item` would load them, columns sorted (their order is the records' key order)."""
    dates = {snake_case(f): {"data_type": "date"} for f in settings.STUDENT_DATE_FIELDS if f in fields}
    table = rows_table(rows, {**text_column_hints(blanked), **dates}, {})
    return None if table is None else table.select(sorted(table.column_names))


def parse(fields: Sequence[str], body: bytes) -> StudentPage:
    parser = page_parser(fields)
    assert parser is not None
    return parser(body)


# -- 1. differential ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields", SELECTIONS)
def test_projected_records_transform_as_the_decoded_ones(fields: Sequence[str]) -> None:
    compared = rejected = 0
    for seed, body in enumerate(PAGES):
        page = parse(fields, body)
        decoded = orjson.loads(body)
        assert page.projected, f"seed {seed}: Arrow refused a page of documented types"
        assert len(page) == len(decoded), f"seed {seed}"
        for index, (projected, whole) in enumerate(zip(page, decoded, strict=True)):
            assert set(projected) == set(fields), f"seed {seed} record {index}: every chosen field, no other"
            expected = transformed(whole, fields)
            assert transformed(projected, fields) == expected, f"seed {seed} record {index}"
            compared += 1
            rejected += expected[0] == "rejected"
    assert compared > 4000 and 0 < rejected < compared / 10  # the pages are many, and a few records rejected


@pytest.mark.parametrize("fields", SELECTIONS)
def test_projected_pages_load_as_the_same_table(fields: Sequence[str]) -> None:
    without_rejects = 0
    for seed, body in enumerate(PAGES[:50]):
        rows, rejected, blanked = school_rows([parse(fields, body)], fields)
        old_rows, old_rejected, old_blanked = school_rows([orjson.loads(body)], fields)
        assert [strict(r) for r in rows] == [strict(r) for r in old_rows], f"seed {seed}"
        assert rejected == old_rejected, f"seed {seed}"
        without_rejects += not rejected
        assert blanked == old_blanked, f"seed {seed}"
        table, old_table = loaded_table(rows, blanked, fields), loaded_table(old_rows, old_blanked, fields)
        assert (table is None) == (old_table is None), f"seed {seed}"
        if table is not None and old_table is not None:
            assert table.equals(old_table, check_metadata=True), f"seed {seed}"
    assert without_rejects >= 15


def test_blanked_text_of_a_rejected_record_is_judged_on_the_record_as_sent() -> None:
    """Blank text of a rejected record counts as in the old path, not in the projected key order.

    `snake_record` adds to `blanked` field by field until a bad date rejects the record, so which fields
    of a rejected record count depends on its key order. A projected record's order is the body's first
    occurrence of each field; `rows()` keeps only the blank fields of its pass over `full()`.
    """
    fields = ("StudentID", "SchoolCode", "Track", "Birthdate")
    body = orjson.dumps([{"StudentID": 1, "SchoolCode": 901, "Track": None, "Birthdate": "2009-03-02T00:00:00"},
                         {"StudentID": 2, "SchoolCode": 901, "Birthdate": "not a date", "Track": ""}])
    rows, rejected, blanked = school_rows([parse(fields, body)], fields)
    old_rows, old_rejected, old_blanked = school_rows([orjson.loads(body)], fields)
    assert (rows, rejected) == (old_rows, old_rejected) == (rows, 1)  # the rows themselves agree
    table, old_table = loaded_table(rows, blanked, fields), loaded_table(old_rows, old_blanked, fields)
    assert table is not None and old_table is not None
    assert table.column_names == old_table.column_names
    assert blanked == old_blanked


@pytest.mark.parametrize("fields", SELECTIONS)
def test_projected_fields_keep_the_order_of_the_first_record(fields: Sequence[str]) -> None:
    checked = 0
    for seed in range(25):
        body = make_page(seed, complete=True)
        page = parse(fields, body)
        decoded = orjson.loads(body)
        assert page.projected
        if not decoded:
            continue
        expected = [name for name in decoded[0] if name in fields]
        assert all(list(record) == expected for record in page), f"seed {seed}"
        checked += 1
    assert checked >= 20


def test_escaped_and_unicode_text_comes_through_unchanged() -> None:
    names = [text for text in TEXTS if text.strip()]
    records = [{"StudentID": i, "SchoolCode": 901, "LastName": text} for i, text in enumerate(names)]
    for body in (orjson.dumps(records), json.dumps(records, ensure_ascii=True).encode(),
                 b'[{"StudentID":1,"SchoolCode":901,"LastName":"\\ud83d\\ude00 \\u00e9 \\/ \\b\\f"}]'):
        page = parse(SMALL_FIELDS, body)
        assert page.projected
        assert [r["LastName"] for r in page] == [r["LastName"] for r in orjson.loads(body)]


def test_documented_types_are_the_arrow_types() -> None:
    arrow = {INT: pa.int64(), TEXT: pa.string(), DATETIME: pa.string(), BOOL: pa.bool_()}
    expected = {name: arrow[kind] for name, kind in DOCUMENTED.items() if kind != NUMBER}
    assert STUDENT_FIELD_TYPES == expected  # EarlyWarningPoints (34 or 34.0) is decoded whole


# -- 2. fallbacks ------------------------------------------------------------------------------------------
BASE = {"StudentID": 10100042, "OldStudentID": 0, "SchoolCode": 101, "StudentNumber": 42, "StateStudentID": "12345",
        "LastName": "Nguyen", "FirstName": "Mai", "Grade": 10, "SchoolEnterDate": "2023-08-16T00:00:00",
        "SchoolLeaveDate": None, "InactiveStatusCode": "", "Track": "", "AttendanceProgramCodePrimary": "  ",
        "LowSchedulingPeriod": 0, "HighSchedulingPeriod": 7, "HomeRoomTeacherNumber": "0", "CounselorNumber": 3,
        "CorrespondenceLanguageCode": "00", "AddressVerified": True, "EarlyWarningPoints": 0.0}


def with_value(name: str, value: Any) -> bytes:
    """A page of two students, the second with one value of another type."""
    return orjson.dumps([BASE, {**BASE, name: value}])


def swap_first(body: bytes, old: bytes, new: bytes) -> bytes:
    assert old in body
    return body.replace(old, new, 1)


FALLBACKS = [
    pytest.param(with_value("StudentID", "123"), id="text-for-int"),
    pytest.param(with_value("Grade", True), id="bool-for-int"),
    pytest.param(with_value("StudentID", 2**63), id="int-beyond-bigint"),
    pytest.param(with_value("LastName", 123), id="int-for-text"),
    pytest.param(with_value("HomeRoomTeacherNumber", 0), id="int-for-numeric-text"),
    pytest.param(with_value("SchoolEnterDate", 20230816), id="int-for-datetime"),
    pytest.param(with_value("AddressVerified", 1), id="int-for-bool"),
    pytest.param(with_value("AddressVerified", "true"), id="text-for-bool"),
    pytest.param(with_value("Grade", 10.0), id="float-for-int"),
    pytest.param(with_value("Grade", 10.5), id="fraction-for-int"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"Grade":10', b'"Grade":1E1'), id="exponent-for-int"),
    pytest.param(with_value("LastName", {"Family": "Nguyen"}), id="object-in-text"),
    pytest.param(with_value("Track", ["A"]), id="list-in-text"),
    pytest.param(with_value("StudentID", {"Id": 1}), id="object-in-int"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"Grade":10', b'"Grade":10,"Grade":11'), id="key-twice"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"Grade":10', b'"Grade":null,"Grade":11'), id="key-twice-null"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"Grade":10', b'"Grade":10,"Grade":null'), id="key-twice-then-null"),
    pytest.param(orjson.dumps([BASE, None]), id="null-element"),
    pytest.param(orjson.dumps([BASE, "x"]), id="text-element"),
    pytest.param(orjson.dumps([[BASE]]), id="array-element"),
    pytest.param(b"null", id="top-level-null"),
    pytest.param(orjson.dumps(BASE), id="top-level-object"),
    pytest.param(b"5", id="top-level-number"),
    pytest.param(b'"x"', id="top-level-text"),
]


@pytest.mark.parametrize("body", FALLBACKS)
@pytest.mark.parametrize("fields", [(*settings.DEFAULT_STUDENT_FIELDS, "AddressVerified"), ALL_TYPED_FIELDS],
                         ids=["default-and-bool", "every-typed-field"])
def test_a_body_arrow_refuses_is_decoded_whole(body: bytes, fields: Sequence[str]) -> None:
    page = parse(fields, body)
    assert isinstance(page, StudentPage) and not page.projected
    assert [strict(r) if isinstance(r, dict) else r for r in page] == \
        [strict(r) if isinstance(r, dict) else r for r in _as_list(orjson.loads(body))]
    assert page.body == body


def test_a_key_given_twice_outside_the_chosen_fields_is_projected_alike() -> None:
    # Arrow refuses a chosen key given twice (above) but not another one: the chosen values still agree.
    twice = b'"EarlyWarningPoints":1,"EarlyWarningPoints":2'
    body = swap_first(orjson.dumps([BASE]), b'"EarlyWarningPoints":0.0', twice)
    page = parse(settings.DEFAULT_STUDENT_FIELDS, body)
    assert page.projected
    assert transformed(page[0], settings.DEFAULT_STUDENT_FIELDS) == \
        transformed(orjson.loads(body)[0], settings.DEFAULT_STUDENT_FIELDS)
    assert page.full()[0]["EarlyWarningPoints"] == 2


@pytest.mark.parametrize("body, expected", [
    pytest.param(b"null", [], id="null-is-no-records"),
    pytest.param(b'{"StudentID": 1}', [{"StudentID": 1}], id="object-is-one-record"),
])
def test_a_bare_body_is_read_as_the_client_read_it(body: bytes, expected: List[Dict[str, Any]]) -> None:
    page = parse(settings.DEFAULT_STUDENT_FIELDS, body)
    assert list(page) == expected == _as_list(orjson.loads(body))


def test_an_empty_array_is_an_empty_page() -> None:
    page = parse(settings.DEFAULT_STUDENT_FIELDS, b"[]")
    # Arrow takes `[]` (so the page counts as projected); no records either way.
    assert page == [] and page.full() == [] == orjson.loads(b"[]")


# -- 3. not JSON -------------------------------------------------------------------------------------------
NOT_JSON = [
    pytest.param(b"", id="empty"),
    pytest.param(b"<html><body>Service Unavailable</body></html>", id="html"),
    pytest.param(orjson.dumps([BASE])[:-7], id="truncated"),
    pytest.param(orjson.dumps([BASE]) + b"]", id="extra-bracket"),
    pytest.param(orjson.dumps([BASE]) + b"\n" + orjson.dumps([BASE]), id="two-documents"),
    pytest.param(b'[{"StudentID":1},]', id="trailing-comma"),
    pytest.param(b"\xef\xbb\xbf" + orjson.dumps([BASE]), id="byte-order-mark"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"Nguyen"', b'"Ngu\nyen"'), id="raw-newline-in-text"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"Nguyen"', b'"\\ud800"'), id="lone-surrogate"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"Grade":10', b'"Grade":NaN'), id="nan-in-chosen-field"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"Grade":10', b'"Grade":010'), id="leading-zero"),
]


@pytest.mark.parametrize("body", NOT_JSON)
def test_a_body_that_is_not_json_raises_for_a_retry(body: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)  # the old path refused it too
    with pytest.raises(orjson.JSONDecodeError):
        parse(settings.DEFAULT_STUDENT_FIELDS, body)


# Bodies orjson refuses (the old path retried them as malformed) that Arrow's reader would take:
# invalid UTF-8 in a skipped or a chosen field, NaN and Infinity. They are decoded by orjson, which
# raises. (Still taken: object members after the array, `[...], "k": v`, since the body is wrapped as
# `{"records":` + body + `}`; no server writes that by accident.)
REFUSED_BY_ORJSON_ONLY = [
    pytest.param(swap_first(orjson.dumps([BASE]), b'"Mai"', b'"Jos\xe9"'), id="latin1-in-unchosen-field"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"Nguyen"', b'"Jos\xe9"'), id="latin1-in-chosen-field"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"EarlyWarningPoints":0.0', b'"EarlyWarningPoints":NaN'),
                 id="nan-in-unchosen-field"),
    pytest.param(swap_first(orjson.dumps([BASE]), b'"EarlyWarningPoints":0.0', b'"EarlyWarningPoints":-Infinity'),
                 id="infinity-in-unchosen-field"),
]
SMALL_WITHOUT_FIRST_NAME = ("StudentID", "SchoolCode", "LastName", "Grade")


@pytest.mark.parametrize("body", REFUSED_BY_ORJSON_ONLY)
def test_a_body_orjson_refuses_raises_for_a_retry(body: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    with pytest.raises(orjson.JSONDecodeError):
        parse(SMALL_WITHOUT_FIRST_NAME, body)


# -- 4. page_parser ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields", [
    pytest.param((), id="no-fields"),
    pytest.param(("EarlyWarningPoints",), id="number-field"),
    pytest.param((*settings.DEFAULT_STUDENT_FIELDS, "EarlyWarningPoints"), id="default-and-number"),
    pytest.param(("StudentID", "SomeUnknownField"), id="unknown-field"),
    pytest.param(("studentid",), id="wrong-case"),
])
def test_no_parser_without_documented_types(fields: Sequence[str]) -> None:
    assert page_parser(fields) is None


@pytest.mark.parametrize("fields", [*SELECTIONS, pytest.param(("StudentID", "StudentID"), id="repeated")])
def test_a_parser_for_documented_fields(fields: Sequence[str]) -> None:
    parser = page_parser(fields)
    assert callable(parser)
    body = orjson.dumps([BASE])
    assert parser(body) == parse_student_page(tuple(dict.fromkeys(fields)), body)
    assert list(parser(body)[0]) == [name for name in BASE if name in fields] + \
        [name for name in dict.fromkeys(fields) if name not in BASE]


# -- 5. full() ---------------------------------------------------------------------------------------------
def test_full_decodes_every_field_of_a_projected_page() -> None:
    body = PAGES[1]
    page = parse(SMALL_FIELDS, body)
    assert page.projected and len(page) > 0
    assert page.full() == orjson.loads(body)
    assert set(page.full()[0]) > set(SMALL_FIELDS)


def test_full_of_a_page_decoded_whole_is_its_records() -> None:
    page = parse(SMALL_FIELDS, with_value("StudentID", "123"))
    assert not page.projected
    full = page.full()
    assert full == list(page) and all(a is b for a, b in zip(full, page, strict=True))  # not decoded again


# -- 6. through the client ---------------------------------------------------------------------------------
HOST = "https://district.aeries.test/aeries"
URL = HOST + "/api/v5/schools/901/students"
FAST = RetryPolicy(max_attempts=3, backoff_factor=0, jitter=0, max_delay=0)


def serve(mock: responses.RequestsMock, records: List[Dict[str, Any]]) -> None:
    def callback(request: Any) -> Tuple[int, Dict[str, str], bytes]:
        query = parse_qs(urlsplit(str(request.url)).query)
        first, last = int(query["StartingRecord"][0]), int(query["EndingRecord"][0])
        return 200, {"Content-Type": "application/json"}, orjson.dumps(records[first - 1:last])

    mock.add_callback(responses.GET, URL, callback=callback)


def read_pages(records: List[Dict[str, Any]], fields: Optional[Sequence[str]]) -> Tuple[List[Any], List[str]]:
    """The pages the client reads from a server of `records`, and the ranges it asked for."""
    with responses.RequestsMock() as mock:
        serve(mock, records)
        pages = list(AeriesClient(HOST, "Zq7Kx2Wm9Rt4Yp1Hs8Dn3Bv6Lc0Fg5Ja", 2024, retry=FAST).students(
            901, page_size=2, fields=fields))
        ranges = [urlsplit(str(call.request.url)).query for call in mock.calls]
    return pages, ranges


@pytest.mark.parametrize("count", [0, 1, 4, 5])
def test_the_client_yields_projected_pages(count: int) -> None:
    rng = random.Random(count)
    records = [make_record(rng, list(DOCUMENTED)) for _ in range(count)]
    fields = settings.DEFAULT_STUDENT_FIELDS
    pages, ranges = read_pages(records, fields)
    whole_pages, whole_ranges = read_pages(records, None)
    assert ranges == whole_ranges and len(ranges) == count // 2 + 1  # stops at the first short page
    assert [len(p) for p in pages] == [len(p) for p in whole_pages]
    assert all(isinstance(p, StudentPage) and p.projected for p in pages)
    served = [strict({f: r.get(f) for f in fields}) for r in records]
    assert [strict(r) for p in pages for r in p] == served
    assert [r for p in whole_pages for r in p] == records


def test_the_client_yields_a_refused_page_decoded_whole() -> None:
    records = [BASE, {**BASE, "StudentID": "123"}, BASE]
    pages, _ = read_pages(records, settings.DEFAULT_STUDENT_FIELDS)
    assert [p.projected for p in pages] == [False, True]
    assert [r for p in pages for r in p][:2] == records[:2]


def test_the_client_retries_a_body_that_is_not_json_as_malformed() -> None:
    with responses.RequestsMock() as mock:
        mock.get(URL, body=b'[{"StudentID": 1,', content_type="application/json")
        client = AeriesClient(HOST, "Zq7Kx2Wm9Rt4Yp1Hs8Dn3Bv6Lc0Fg5Ja", 2024, retry=FAST)
        with pytest.raises(errors.AeriesRequestError) as info:
            list(client.students(901, page_size=2, fields=settings.DEFAULT_STUDENT_FIELDS))
        assert len(mock.calls) == FAST.max_attempts
    assert info.value.error_class == errors.MALFORMED_RESPONSE


def test_the_client_retries_latin1_text_as_malformed() -> None:
    body = swap_first(orjson.dumps([BASE]), b'"Nguyen"', b'"Jos\xe9"')
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(URL, body=body, content_type="application/json")
        client = AeriesClient(HOST, "Zq7Kx2Wm9Rt4Yp1Hs8Dn3Bv6Lc0Fg5Ja", 2024, retry=FAST)
        with pytest.raises(errors.AeriesRequestError) as info:
            list(client.students(901, page_size=2, fields=settings.DEFAULT_STUDENT_FIELDS))
    assert info.value.error_class == errors.MALFORMED_RESPONSE  # as with fields=None


def test_dates_are_parsed_alike() -> None:  # a spot check that the differential reaches the date parsing
    body = orjson.dumps([{**BASE, "SchoolLeaveDate": "2024-06-12T00:00:00"}])
    (record,) = parse(settings.DEFAULT_STUDENT_FIELDS, body)
    row = transformed(record, settings.DEFAULT_STUDENT_FIELDS)
    assert row == transformed(orjson.loads(body)[0], settings.DEFAULT_STUDENT_FIELDS)
    assert row[1]["school_leave_date"] == (date, date(2024, 6, 12))
    assert row[2] == {"inactive_status_code", "track", "attendance_program_code_primary"}
