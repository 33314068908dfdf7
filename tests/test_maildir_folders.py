"""Unit tests of the Maildir++ folder helpers in delivery/maildir.py: names,
paths, and the folders ensure_maildir creates."""

import pytest

from delivery.maildir import DeliveryError, ensure_maildir, folder_path, folder_problem


@pytest.mark.parametrize("folder", ["", "INBOX", "inbox", " INBOX/ ", "/", None])
def test_the_inbox_is_the_mailbox_itself(tmp_path, folder):
    assert folder_problem(folder) is None
    assert folder_path(tmp_path, folder) == tmp_path


@pytest.mark.parametrize(("folder", "name"), [
    ("Work", ".Work"),
    ("Work/Archive", ".Work.Archive"),
    ("Work.Archive", ".Work.Archive"),
    ("/Work//Archive/", ".Work.Archive"),
    ("../../etc", ".etc"),
    ("Spam.", ".Spam"),
    ("Été", ".Été"),
])
def test_a_folder_is_one_dotted_name_directly_inside_the_mailbox(tmp_path, folder, name):
    assert folder_problem(folder) is None
    assert folder_path(tmp_path, folder) == tmp_path / name


@pytest.mark.parametrize(("folder", "problem"), [
    ("...", "needs at least one letter"),
    ("./.", "needs at least one letter"),
    ("Work\nArchive", "control characters"),
    ("Tab\there", "control characters"),
    ("x" * 255, "limited to 254 bytes"),
    (42, "must be text"),
])
def test_a_name_that_is_not_a_folder_is_refused_for_good(tmp_path, folder, problem):
    assert problem in folder_problem(folder)
    with pytest.raises(DeliveryError) as refused:
        folder_path(tmp_path, folder)
    assert refused.value.temporary is False
    assert problem in str(refused.value)


def test_the_longest_name_that_fits_is_accepted():
    assert folder_problem("x" * 254) is None


def test_ensure_maildir_creates_the_three_folders_with_the_mode(tmp_path):
    ensure_maildir(tmp_path / "box", is_subfolder=False, mode=0o750)

    for sub in ("tmp", "new", "cur"):
        assert (tmp_path / "box" / sub).stat().st_mode & 0o777 == 0o750
    assert not (tmp_path / "box" / "maildirfolder").exists()


def test_a_subfolder_is_marked_for_maildir_plus_plus_readers(tmp_path):
    ensure_maildir(tmp_path / ".Work", is_subfolder=True)
    ensure_maildir(tmp_path / ".Work", is_subfolder=True)  # again: nothing to do, no error

    marker = tmp_path / ".Work" / "maildirfolder"
    assert marker.is_file() and marker.stat().st_mode & 0o777 == 0o600
