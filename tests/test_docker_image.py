"""The compose stack can write to its volumes: checked statically, since no
container engine runs where the tests do. A named volume takes the owner of
the image's folder when it is created, so every folder a popadmin service
mounts a volume on must be made and handed to the container's user in the
Dockerfile, before its USER line."""

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "popadmin" / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
ROOT_USERS = {"root", "0"}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    pairs = []
    for line in logical:
        keyword, _, args = line.strip().partition(" ")
        pairs.append((keyword.upper(), args.strip()))
    return pairs


class Image:
    """What the Dockerfile sets up as root, and the user it then runs as."""

    def __init__(self, text: str):
        self.made, self.owned, self.uids = set(), {}, {}
        self.user, self.env = None, {}
        for keyword, args in instructions(text):
            if keyword == "USER":
                self.user = args
            elif keyword == "ENV":
                for pair in shlex.split(args):
                    key, _, value = pair.partition("=")
                    self.env[key] = value
            elif keyword == "RUN" and self.user in (None, *ROOT_USERS):
                for command in args.replace(";", "&&").split("&&"):
                    self.run(shlex.split(command))

    def run(self, words: list[str]):
        if not words:
            return
        name = words[0]
        operands = [w for w in words[1:] if not w.startswith("-")]
        if name == "mkdir":
            self.made.update(operands)
        elif name == "chown" and operands:
            owner = operands[0].split(":")[0]
            for path in operands[1:]:
                self.owned[path] = owner
        elif name == "useradd":
            uid = words[words.index("--uid") + 1] if "--uid" in words else None
            self.uids[words[-1]] = uid

    def names_of(self, user: str) -> set[str]:
        """The user by name and by uid."""
        user = user.split(":")[0]
        names = {user}
        for name, uid in self.uids.items():
            if user in (name, uid):
                names |= {name, uid}
        return names


def popadmin_services(compose: dict) -> dict:
    return {
        name: service for name, service in compose["services"].items()
        if (service.get("build") or {}).get("dockerfile") == "popadmin/Dockerfile"
    }


def mount_points(service: dict) -> list[str]:
    points = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            points.append(volume["target"])
        else:
            points.append(volume.split(":")[1])
    return points


def test_every_volume_of_a_popadmin_service_is_owned_by_the_user_it_runs_as():
    image = Image(DOCKERFILE.read_text())
    compose = yaml.safe_load(COMPOSE.read_text())
    services = popadmin_services(compose)

    assert image.user and image.user not in ROOT_USERS, "the image must not run as root"
    assert {"web", "worker", "beat", "watch"} <= set(services)
    checked = []
    for name, service in services.items():
        user = str(service.get("user", image.user))
        if user.split(":")[0] in ROOT_USERS:
            continue  # a one-shot helper that needs root to chown
        for point in mount_points(service):
            assert point in image.made, f"{name}: {point} is not made in the image"
            owner = image.owned.get(point)
            assert owner in image.names_of(user), (
                f"{name}: {point} is owned by {owner or 'root'}, the service runs as {user}"
            )
            checked.append((name, point))
    assert ("worker", "/mail") in checked and ("beat", "/data") in checked


def test_the_data_and_mail_folders_the_image_names_are_its_users():
    image = Image(DOCKERFILE.read_text())

    for variable in ("POPADMIN_DATA_DIR", "MAIL_ROOT"):
        folder = image.env[variable]
        assert folder in image.made and image.owned.get(folder) in image.names_of(image.user)


def test_docker_compose_accepts_the_file():
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.fail("docker-compose is not installed (Debian package docker-compose; "
                    ".ci/run installs it)", pytrace=False)

    checked = subprocess.run([compose, "-f", str(COMPOSE), "config", "-q"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)

    assert checked.returncode == 0, checked.stderr


def test_the_image_compiles_its_modules_before_it_drops_root():
    # The user it runs as cannot write /app: a module left uncompiled would be
    # compiled again at the start of every process (docs/architecture/performance.md).
    before_user = []
    for keyword, args in instructions(DOCKERFILE.read_text()):
        if keyword == "USER":
            break
        before_user.append((keyword, args))
    assert any(k == "RUN" and "compileall -q /app" in args for k, args in before_user)
