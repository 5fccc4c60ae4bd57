"""The source as other dlt jobs use it: standalone config, one school, decompose per school."""

from datetime import date

import dlt

from aeries_source import aeries


def test_standalone_source_loads_one_school_and_decomposes_per_school(sim, make_options, monkeypatch, tmp_path):
    monkeypatch.setenv("SOURCES__AERIES__BASE_URL", sim.base_url + "/api/v5")  # suffix accepted
    monkeypatch.setenv("SOURCES__AERIES__CERTIFICATE", sim.certificate)
    codes = sim.school_codes()

    components = aeries(school_codes=codes[:2]).decompose("scc")
    selected = sorted(tuple(c.selected_resources) for c in components)
    assert (f"attendance_{codes[0]}",) in selected and (f"attendance_{codes[1]}",) in selected
    assert all(len(s) == 1 for s in selected)

    options = make_options(sim)
    pipeline = dlt.pipeline("standalone", destination=dlt.destinations.duckdb(options.duckdb_path),
                            dataset_name=options.dataset_name, pipelines_dir=str(tmp_path / "p"))
    pipeline.run(aeries(school_codes=[codes[0]]).with_resources("students", "schools"))
    counts = pipeline.last_trace.last_normalize_info.row_counts
    assert counts["schools"] == 1
    assert counts["students"] == len(sim.truth_students(codes[0]))

    pipeline.run(aeries(school_codes=[codes[0]], start_date="2024-09-01", end_date="2024-10-31"),
                 loader_file_format="parquet")
    expected = [d for d in sim.truth_attendance(codes[0], date(2024, 9, 1), date(2024, 10, 31))]
    with pipeline.sql_client() as client:
        n = client.execute_sql(f"SELECT COUNT(*) FROM {client.make_qualified_table_name('attendance_records')}")[0][0]
    assert n == len(expected) > 0
