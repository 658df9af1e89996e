import pytest

from cnnsweep.atomic import atomic_write, atomic_write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    atomic_write_text(target, "old")

    def broken(f):
        f.write(b"half of the new")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_write_replaces_the_whole_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "x" * 1000)
    atomic_write_text(target, "short")
    assert target.read_text() == "short"
