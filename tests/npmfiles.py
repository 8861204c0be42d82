"""One file of an npm package, for the tests: fetched once with npm in the version pinned,
checked against the package's published SHA-512 (its ``dist.integrity``), and kept in
``.cache/`` (ignored by git), as ``homeward broker fetch`` keeps the broker's jars."""

import base64
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared.settings import REPO_ROOT

CACHE = REPO_ROOT / ".cache"


class PackageUnavailable(RuntimeError):
    """The package could not be fetched, or is not the one pinned; the message says why."""


@dataclass(frozen=True)
class NpmFile:
    package: str
    version: str
    sha512: str  # base64, as `npm view <package>@<version> dist.integrity` gives it
    path: str  # inside the tarball: package/...
    cache_folder: str  # under .cache/

    def fetched(self, cache: Path = CACHE) -> Path:
        """The file, fetched the first time and read from the cache after."""
        folder = cache / self.cache_folder / self.version
        cached = folder / Path(self.path).name
        if not cached.exists():
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=folder) as scratch:
                tarball = self._packed(Path(scratch))
                with tarfile.open(tarball) as archive:
                    member = archive.extractfile(self.path)
                    if member is None:
                        raise PackageUnavailable(f"{tarball.name} holds no {self.path}")
                    partial = Path(scratch) / cached.name
                    partial.write_bytes(member.read())
                partial.replace(cached)  # whole or not at all, even when two sessions fetch it
        return cached

    def _packed(self, folder: Path) -> Path:
        npm = shutil.which("npm")
        named = f"{self.package}@{self.version}"
        if npm is None:
            raise PackageUnavailable(f"install npm (Debian package `npm`) to fetch {named}")
        result = subprocess.run(
            [npm, "pack", "--silent", "--pack-destination", str(folder), named],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        tarballs = list(folder.glob("*.tgz"))
        if result.returncode != 0 or len(tarballs) != 1:
            raise PackageUnavailable(f"npm could not fetch {named}: {result.stderr[-2000:]}")
        digest = base64.b64encode(hashlib.sha512(tarballs[0].read_bytes()).digest()).decode()
        if digest != self.sha512:
            raise PackageUnavailable(f"{named} is not the package pinned: sha512-{digest}")
        return tarballs[0]
