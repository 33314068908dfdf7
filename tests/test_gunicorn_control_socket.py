"""Gunicorn's control socket sits in the data folder in every way popadmin starts it:
the image's default command, the compose web service and `manage.py up`, never in
the home directory. Checked on the command lines (no container engine runs where
the tests do), against the option name this gunicorn accepts."""

import json
import shlex
import subprocess
import sys
from pathlib import PurePosixPath

import yaml

from tests.test_docker_image import COMPOSE, DOCKERFILE, Image, instructions


def after(words: list[str], flag: str) -> str:
    assert flag in words, f"{flag} missing from {' '.join(words)}"
    return words[words.index(flag) + 1]


def gunicorn_words(command: str) -> list[str]:
    """The gunicorn invocation inside a shell command line."""
    for part in command.split("&&"):
        words = shlex.split(part)
        if words and words[0] == "gunicorn":
            return words
    raise AssertionError(f"no gunicorn in {command!r}")


def image_data_dir() -> PurePosixPath:
    return PurePosixPath(Image(DOCKERFILE.read_text()).env["POPADMIN_DATA_DIR"])


def test_this_gunicorn_names_the_option_control_socket():
    shown = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True,
                           text=True, check=True).stdout
    assert "--control-socket PATH" in shown


def test_the_images_command_puts_it_in_the_data_folder():
    cmd = [args for keyword, args in instructions(DOCKERFILE.read_text()) if keyword == "CMD"]
    words = json.loads(cmd[-1])
    assert words[0] == "gunicorn"
    socket = PurePosixPath(after(words, "--control-socket"))
    assert socket.parent == image_data_dir()


def test_the_compose_web_service_puts_it_in_the_data_folder():
    web = yaml.safe_load(COMPOSE.read_text())["services"]["web"]
    shell = shlex.split(web["command"])
    assert shell[:2] == ["sh", "-c"]
    socket = PurePosixPath(after(gunicorn_words(shell[2]), "--control-socket"))
    environment = web.get("environment") or {}
    data_dir = PurePosixPath(environment.get("POPADMIN_DATA_DIR") or image_data_dir())
    assert socket.parent == data_dir
