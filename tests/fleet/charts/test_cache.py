from __future__ import annotations

from pathlib import Path

from fleet.charts.cache import ChartCache, archive_name, default_cache_dir


def test_default_cache_dir_prefers_fleet_chart_cache(tmp_path: Path) -> None:
    env = {"FLEET_CHART_CACHE": str(tmp_path / "c"), "XDG_CACHE_HOME": "/elsewhere"}
    assert default_cache_dir(env) == tmp_path / "c"


def test_default_cache_dir_under_xdg_cache_home() -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/fleet/charts")


def test_archive_is_found_only_when_the_file_exists(tmp_path: Path) -> None:
    cache = ChartCache(tmp_path)
    assert cache.archive("loki", "6.30.1") is None
    (tmp_path / archive_name("loki", "6.30.1")).write_bytes(b"x")
    assert cache.archive("loki", "6.30.1") == tmp_path / "loki-6.30.1.tgz"
    (tmp_path / archive_name("alloy", "1.4.0")).mkdir()
    assert cache.archive("alloy", "1.4.0") is None


def test_archive_names_are_read_back(tmp_path: Path) -> None:
    from fleet.charts.cache import parse_archive_name

    assert parse_archive_name("mimir-distributed-6.0.0.tgz") == ("mimir-distributed", "6.0.0")
    assert parse_archive_name("loki-6.46.0-weekly.1.tgz") == ("loki", "6.46.0-weekly.1")
    assert parse_archive_name("README.md") is None
    cache = ChartCache(tmp_path)
    (tmp_path / "alloy-1.4.0.tgz").write_bytes(b"x")
    (tmp_path / ".alloy-1.11.1.tgz.partial-abc").write_bytes(b"x")
    assert cache.archives() == {("alloy", "1.4.0"): tmp_path / "alloy-1.4.0.tgz"}
    assert ChartCache(tmp_path / "absent").archives() == {}


def test_importing_something_that_is_not_a_chart_stores_nothing(tmp_path: Path) -> None:
    import pytest

    from fleet.errors import UserError

    source = tmp_path / "in" / "loki-6.46.0.tgz"
    source.parent.mkdir()
    source.write_bytes(b"not a tarball")
    cache = ChartCache(tmp_path / "cache")
    with pytest.raises(UserError, match=r"loki-6.46.0.tgz: not a chart archive"):
        cache.import_archive(source)
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_unwritable_cache_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    import pytest

    from fleet.errors import OperationError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = ChartCache(blocker / "charts")
    with (
        pytest.raises(OperationError, match=r"cannot write to the chart cache .*set FLEET_CHART_CACHE"),
        cache.partial("alloy-1.4.0.tgz"),
    ):
        pass
    with pytest.raises(OperationError, match=r"cannot write to the chart cache"):
        cache.temporary_folder()
