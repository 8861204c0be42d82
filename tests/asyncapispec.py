"""The official JSON Schema of AsyncAPI 3.0.0, and a validator that resolves its references.

The schema is the AsyncAPI initiative's, shipped in the npm package ``@asyncapi/specs``; no
Python package ships it. It is fetched once with npm, in the version pinned here, checked
against the package's published SHA-512, and kept in ``.cache/`` (ignored by git), as
``homeward broker fetch`` keeps the broker's jars from Maven Central.
"""

import json
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource

from tests.npmfiles import NpmFile

# The package's `dist.integrity` in the npm registry (`npm view @asyncapi/specs@6.11.1`).
SPECS = NpmFile(
    package="@asyncapi/specs",
    version="6.11.1",
    sha512="A3WBLqAKGoJ2+6FWFtpjBlCQ1oFCcs4GxF7zsIGvNqp/klGUHjlA3aAcZ9XMMpLGE8zPeYDz2x9FmO6DSuKraQ==",
    path="package/schemas/3.0.0.json",
    cache_folder="asyncapi-specs",
)


def official_schema() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 JSON Schema, fetched the first time and read from the cache after."""
    return json.loads(SPECS.fetched().read_text())


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
