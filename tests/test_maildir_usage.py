"""Unit tests of usage_bytes (delivery/maildir.py), which the Maildir quota reads:
every folder counts, sizes come from the S= in file names where present."""

from delivery.maildir import usage_bytes


def put(folder, sub, name, data=b""):
    (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / sub / name).write_bytes(data)


def test_a_mailbox_that_does_not_exist_yet_uses_nothing(tmp_path):
    assert usage_bytes(tmp_path / "nobody") == 0


def test_it_reads_the_size_from_the_file_name_not_the_file(tmp_path):
    put(tmp_path, "new", "1.M1P1Q1.host,S=5000", b"x")
    put(tmp_path, "cur", "2.M1P1Q2.host,S=700:2,S", b"x")

    assert usage_bytes(tmp_path) == 5700


def test_a_file_without_a_size_in_its_name_counts_its_real_size(tmp_path):
    put(tmp_path, "new", "1.M1P1Q1.host", b"x" * 123)
    put(tmp_path, "cur", "2.M1P1Q2.host,S=abc:2,S", b"y" * 7)  # not a number: the file

    assert usage_bytes(tmp_path) == 130


def test_every_folder_counts_and_tmp_does_not(tmp_path):
    put(tmp_path, "new", "1.host,S=10")
    put(tmp_path / ".Work", "cur", "2.host,S=20:2,")
    put(tmp_path / ".Work.Archive", "new", "3.host,S=30")
    put(tmp_path, "tmp", "4.host,S=1000")  # not delivered yet
    (tmp_path / "notafolder").mkdir()  # no leading dot: not a Maildir++ folder
    put(tmp_path / "notafolder", "new", "5.host,S=1000")

    assert usage_bytes(tmp_path) == 60


def test_a_size_field_after_other_fields_is_still_read(tmp_path):
    put(tmp_path, "cur", "1.host,S=42,W=44:2,S")

    assert usage_bytes(tmp_path) == 42
