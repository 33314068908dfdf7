"""The whole test session hashes passwords with one cheap hasher (conftest)."""

from django.contrib.auth.hashers import MD5PasswordHasher, get_hasher


def test_it_hashes_with_the_cheap_hasher_without_asking():
    assert type(get_hasher()) is MD5PasswordHasher


def test_a_test_may_still_choose_its_own_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    assert get_hasher().algorithm == "pbkdf2_sha256"
