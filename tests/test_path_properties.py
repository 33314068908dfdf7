"""Properties of the address and folder validators over arbitrary text: they
never crash, and whatever they accept names a Maildir folder of its own under
MAIL_ROOT/<domain>/<localpart>/, never anything outside or in another mailbox."""

import atexit
import os
import shutil
import string
import tempfile
from io import BytesIO
from pathlib import Path

from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.models import Mailbox, validate_alias_list, validate_mailbox_address
from delivery import maildir_folder
from delivery.maildir import DeliveryError, folder_path, folder_problem, mailbox_dir

ROOT = Path(tempfile.mkdtemp(prefix="popadmin-properties-")).resolve()
atexit.register(shutil.rmtree, ROOT, ignore_errors=True)
# Characters that matter to paths and to RFC 5322, so the generator hits them often.
TRICKY = "/\\.\"'@ \t\n\0%~+-_!#$&*=?^`{|}" + string.ascii_letters[:6] + string.digits[:3]
local_parts = st.one_of(st.text(), st.text(alphabet=TRICKY, min_size=1, max_size=20))
domains = st.one_of(st.sampled_from(["example.com", "a.test", "localhost", "[127.0.0.1]"]),
                    st.text(max_size=20))
addresses = st.one_of(
    st.text(), st.emails(), st.builds(lambda local, domain: f"{local}@{domain}", local_parts,
                                      domains)
)
folders = st.one_of(st.text(), st.text(alphabet=TRICKY + "INBOX", max_size=30))
fast = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def accepted(address: str) -> bool:
    try:
        validate_mailbox_address(address)
    except ValidationError:
        return False
    return True


def inside_own_mailbox(path: Path, home: Path) -> bool:
    real = Path(os.path.realpath(path))
    return real == home or home in real.parents


@fast
@given(addresses)
@example('"/../../../tmp/escaped"@example.com')
@example("bob/.Spam@example.com")
@example("a\\b@example.com")
def test_an_accepted_address_is_one_folder_two_levels_below_mail_root(address):
    if not accepted(address):
        return
    box = Mailbox(address=address.lower())

    home = mailbox_dir(ROOT, box.address)

    assert home.relative_to(ROOT).parts == (box.domain, box.localpart)
    assert Path(os.path.normpath(home)) == home
    assert not box.localpart.startswith(".")  # not a Maildir++ folder of another box


@fast
@given(addresses)
def test_any_stored_address_gives_a_refusal_or_a_folder_two_levels_below_mail_root(address):
    # Whatever a row holds (validated or not), a path is either refused or confined.
    try:
        home = mailbox_dir(ROOT, address)
    except DeliveryError as refused:
        assert not refused.temporary
        return
    assert home.parent.parent == ROOT
    assert inside_own_mailbox(home, home)


@fast
@given(st.lists(st.one_of(addresses, st.integers(), st.none()), max_size=3))
def test_the_alias_validator_never_crashes(aliases):
    try:
        validate_alias_list(aliases)
    except ValidationError:
        pass


@fast
@given(folders)
@example("..")
@example("../../etc")
@example("Work/../../..")
@example("a" * 300)
def test_an_accepted_folder_is_the_mailbox_or_one_folder_directly_inside(folder):
    home = ROOT / "example.com" / "ann"
    problem = folder_problem(folder)
    if problem is not None:
        assert isinstance(problem, str)
        return

    path = folder_path(home, folder)

    assert path == home or (path.parent == home and path.name.startswith(".")
                            and path.name not in (".", ".."))
    assert Path(os.path.normpath(path)) == path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(addresses, folders)
def test_a_real_delivery_only_ever_writes_inside_its_own_mailbox(address, folder):
    try:
        home = mailbox_dir(ROOT, address)
    except DeliveryError:
        return
    try:
        stored = maildir_folder.deliver(home, folder, BytesIO(b"Subject: x\n\nbody\n"), 17)
    except DeliveryError:
        return  # refused, or the file system said no (a name too long): nothing written
    assert inside_own_mailbox(stored, home)
    assert stored.read_bytes() == b"Subject: x\n\nbody\n"
