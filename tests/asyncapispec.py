"""The official JSON Schema of AsyncAPI 3.0.0, and a validator that resolves its references.

The schema is the AsyncAPI initiative's, shipped in the npm package ``@asyncapi/specs``; no
Python package ships it. It is fetched once with npm, in the version pinned here, checked
against the package's published SHA-512, and kept in ``.cache/`` (ignored by git), as
``homeward broker fetch`` keeps the broker's jars from Maven Central.
"""

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource

from shared.settings import REPO_ROOT

SPECS_PACKAGE = "@asyncapi/specs"
SPECS_VERSION = "6.11.1"
# The package's `dist.integrity` in the npm registry (`npm view @asyncapi/specs@6.11.1`).
SPECS_SHA512 = (
    "A3WBLqAKGoJ2+6FWFtpjBlCQ1oFCcs4GxF7zsIGvNqp/klGUHjlA3aAcZ9XMMpLGE8zPeYDz2x9FmO6DSuKraQ=="
)
SCHEMA_IN_PACKAGE = "package/schemas/3.0.0.json"
CACHE = REPO_ROOT / ".cache" / "asyncapi-specs" / SPECS_VERSION


class SpecsUnavailable(RuntimeError):
    """The official schema could not be fetched; the message says why."""


def official_schema(cache: Path = CACHE) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 JSON Schema, fetched the first time and read from the cache after."""
    cached = cache / "3.0.0.json"
    if not cached.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as folder:
            tarball = _packed(Path(folder))
            with tarfile.open(tarball) as archive:
                member = archive.extractfile(SCHEMA_IN_PACKAGE)
                if member is None:
                    raise SpecsUnavailable(f"{tarball.name} holds no {SCHEMA_IN_PACKAGE}")
                partial = Path(folder) / cached.name
                partial.write_bytes(member.read())
            partial.replace(cached)  # whole or not at all, even when two sessions fetch it
    return json.loads(cached.read_text())


def _packed(folder: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise SpecsUnavailable("install npm (Debian package `npm`) to fetch the AsyncAPI schema")
    result = subprocess.run(
        [npm, "pack", "--silent", "--pack-destination", str(folder), _package()],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    tarballs = list(folder.glob("*.tgz"))
    if result.returncode != 0 or len(tarballs) != 1:
        raise SpecsUnavailable(f"npm could not fetch {_package()}: {result.stderr[-2000:]}")
    digest = base64.b64encode(hashlib.sha512(tarballs[0].read_bytes()).digest()).decode()
    if digest != SPECS_SHA512:
        raise SpecsUnavailable(f"{_package()} is not the package pinned: sha512-{digest}")
    return tarballs[0]


def _package() -> str:
    return f"{SPECS_PACKAGE}@{SPECS_VERSION}"


def asyncapi_validator() -> Draft7Validator:
    """A validator of AsyncAPI 3.0.0 documents. The schema (draft-07) refers to its parts by
    their ``$id``s (``http://asyncapi.com/definitions/3.0.0/...``), each embedded under
    ``definitions``: the registry holds them all, crawled from the one file, so that nothing
    is fetched from the network and a reference that does not resolve is an error."""
    schema = official_schema()
    registry: Registry = (
        Registry().with_resource(schema["$id"], Resource.from_contents(schema)).crawl()
    )
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, registry=registry)
